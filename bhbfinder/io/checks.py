"""Why a spectrum file could not be read: the stable reasons, the checks, the diagnosis.

The reason strings below become the ``status`` column of failed rows in batch reads, so they
are short and never change; details (the exception astropy raised, the offending value) go in
the error message and the hint, never in the reason.
"""

import os
import stat
import zlib

import numpy as np

from ..errors import SpectrumReadError
from .limits import current_limits
from .sniff import FITS_BLOCK, FITS_MAGIC, GZIP_MAGIC

__all__ = [
    "FILE_NOT_FOUND", "UNREADABLE_FILE", "EMPTY_FILE", "NOT_FITS", "CORRUPT_GZIP", "TRUNCATED",
    "CORRUPT_FITS", "UNKNOWN_LAYOUT", "MISSING_FLUX", "NON_MONOTONIC_WAVELENGTH",
    "ALL_ZERO_IVAR", "SHAPE_MISMATCH", "UNEXPECTED_ERROR", "NOT_REGULAR_FILE",
    "UNREADABLE_FOLDER", "TOO_LARGE", "REASONS",
    "check_arrays", "diagnose",
]

FILE_NOT_FOUND = "file not found"
UNREADABLE_FILE = "unreadable file"
EMPTY_FILE = "empty file"
NOT_FITS = "not a FITS file"
CORRUPT_GZIP = "corrupt gzip stream"
TRUNCATED = "truncated file"
CORRUPT_FITS = "corrupt FITS file"
UNKNOWN_LAYOUT = "unknown layout"
MISSING_FLUX = "missing flux"
NON_MONOTONIC_WAVELENGTH = "non-monotonic wavelength"
ALL_ZERO_IVAR = "all-zero ivar"
SHAPE_MISMATCH = "array length mismatch"
UNEXPECTED_ERROR = "unexpected error"
NOT_REGULAR_FILE = "not a regular file"
UNREADABLE_FOLDER = "unreadable folder"
TOO_LARGE = "file too large"

#: Every reason a built-in reader or the batch path reports, with what the user can do.
#: ``"no installed reader recognises this file"`` (`~bhbfinder.errors.UnknownFormatError`,
#: from the plugin manager) completes the list.
REASONS = {
    FILE_NOT_FOUND: "check the path",
    UNREADABLE_FILE: "check the file's permissions, or that it is a file and not a folder",
    EMPTY_FILE: "the file has no bytes; download it again",
    NOT_FITS: "the content is neither FITS nor gzip-compressed FITS",
    CORRUPT_GZIP: "the gzip stream does not inflate (bad data or CRC); download it again",
    TRUNCATED: "the file ends before its data does; download it again",
    CORRUPT_FITS: "astropy cannot parse the FITS structure; download it again",
    UNKNOWN_LAYOUT: "neither a 5-row image (DR1-DR8) nor a COADD table (DR9+)",
    MISSING_FLUX: "the file holds no flux array",
    NON_MONOTONIC_WAVELENGTH: "the wavelength array does not increase strictly",
    ALL_ZERO_IVAR: "every pixel has ivar = 0: the spectrum carries no information",
    SHAPE_MISMATCH: "flux, ivar and wavelength have different lengths",
    UNEXPECTED_ERROR: "a reader raised something other than SpectrumReadError; please report it",
    NOT_REGULAR_FILE: "a FIFO, device or socket: only regular files are read",
    UNREADABLE_FOLDER: "the folder cannot be listed (permissions); none of its files was read",
    TOO_LARGE: "bigger on disk or once inflated than the read limits (config['read'], "
               "--set read.max_file_size=... / read.max_inflated_size=...)",
}


def fail(path, reason, detail=None):
    """A `~bhbfinder.errors.SpectrumReadError` for ``path`` with the standard hint of ``reason``."""
    hint = REASONS.get(reason)
    if detail:
        hint = f"{detail}; {hint}" if hint else detail
    return SpectrumReadError(path, reason, hint)


def check_arrays(path, wavelength, flux, ivar):
    """Raise `~bhbfinder.errors.SpectrumReadError` if the arrays cannot be a usable spectrum.

    Checks equal lengths, a non-empty flux, a strictly increasing wavelength and at least one
    pixel with ``ivar > 0``.
    """
    if flux is None or np.size(flux) == 0:
        raise fail(path, MISSING_FLUX)
    if not (np.shape(wavelength) == np.shape(flux) == np.shape(ivar)):
        raise fail(path, SHAPE_MISMATCH, f"shapes {np.shape(wavelength)}, {np.shape(flux)}, "
                                         f"{np.shape(ivar)}")
    if wavelength.size > 1 and not np.all(np.diff(wavelength) > 0):
        raise fail(path, NON_MONOTONIC_WAVELENGTH)
    if not np.any(ivar > 0):
        raise fail(path, ALL_ZERO_IVAR)


def diagnose(path, exc=None):
    """The reason a file failed to open, from its bytes (used only after a failure).

    Parameters
    ----------
    path : str
    exc : Exception, optional
        What the reader raised; used to tell a truncated header from other damage.

    Returns
    -------
    reason : str
        One of the module's reason constants.
    """
    limits = current_limits()
    try:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode):
            return NOT_REGULAR_FILE
        if st.st_size == 0:
            return EMPTY_FILE
        if st.st_size > limits.max_file_size:
            return TOO_LARGE
        with open(path, "rb") as fh:
            raw = fh.read()
    except FileNotFoundError:
        return FILE_NOT_FOUND
    except OSError:
        return UNREADABLE_FILE
    if raw[:2] == GZIP_MAGIC:
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            raw = inflater.decompress(raw, limits.max_inflated_size + 1)
        except zlib.error:
            return CORRUPT_GZIP
        if len(raw) > limits.max_inflated_size:
            return TOO_LARGE
        if not inflater.eof:
            return TRUNCATED
        if not raw:
            return EMPTY_FILE
    if not raw.startswith(FITS_MAGIC):
        return NOT_FITS
    if len(raw) % FITS_BLOCK:
        return TRUNCATED
    text = f"{type(exc).__name__}: {exc}" if exc is not None else ""
    if any(s in text for s in ("END card", "truncated", "reshape", "too small", "EOFError")):
        return TRUNCATED
    return CORRUPT_FITS
