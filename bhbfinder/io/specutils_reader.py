"""The fallback reader (a built-in plugin): any FITS spectrum specutils itself can identify.

This is how SDSS ``spec-*.fits`` files go through the batch path until a dedicated SDSS reader
plugin is installed (which, as a plugin, is asked first). The reader asks specutils' registry
which loaders identify the file, uses the one of highest priority, and turns the `Spectrum` into
`~bhbfinder.io.base.SpectrumArrays` (wavelength in vacuum Å). For SDSS files it also fills ra,
dec, mjd (primary header), z, z_err, class, subclass and snr_u … snr_z (HDU 2, SPECOBJ or
SPALL).

Only FITS content is considered, and never a LAMOST file (the LAMOST reader owns those). Note
that specutils is imported on the first file this reader is asked about (seconds, once).
"""

import os
import warnings

import numpy as np
from astropy.io import fits, registry

from .._compat import loader_priority
from ..errors import SpectrumReadError
from ..hookspecs import hookimpl
from . import checks
from .base import Reader, SpectrumArrays
from .lamost import is_lamost_head
from .sniff import FITS_MAGIC

__all__ = ["SpecutilsReader", "identify_format", "sdss_meta", "bhbfinder_get_reader"]

#: Name prefix of this reader (the specutils format is appended).
READER_PREFIX = "specutils"

#: HDU-2 columns of SDSS spec files -> meta keys.
SDSS_TABLE_KEYS = {"Z": "z", "Z_ERR": "z_err", "CLASS": "class", "SUBCLASS": "subclass"}
SDSS_BANDS = "ugriz"


def identify_format(path):
    """The specutils format (loader label) of highest priority that identifies ``path``.

    Returns
    -------
    str or None
    """
    from specutils import Spectrum

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        formats = registry.identify_format("read", Spectrum, path, None, [], {})
    if not formats:
        return None

    return max(formats, key=lambda fmt: loader_priority(registry, fmt, Spectrum))


def _plain(value):
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    if isinstance(value, str):
        return value.strip() or None
    value = float(value)
    return value if np.isfinite(value) else None


def sdss_meta(path):
    """Meta of an SDSS ``spec-*.fits`` file: positions from HDU 0, redshift and S/N from HDU 2.

    Reads only the primary header and the one-row HDU 2 (SPECOBJ or SPALL).
    """
    meta = {"survey": "SDSS"}
    with fits.open(path, memmap=False, lazy_load_hdus=True) as hdul:
        header = hdul[0].header
        for key, card in (("ra", "PLUG_RA"), ("dec", "PLUG_DEC"), ("mjd", "MJD")):
            if header.get(card) is not None:
                meta[key] = _plain(header[card])
        if meta.get("mjd") is not None:
            meta["mjd"] = int(meta["mjd"])
        plate, fiber = header.get("PLATEID"), header.get("FIBERID")
        if plate is not None and fiber is not None and meta.get("mjd") is not None:
            meta["designation"] = f"SDSS {int(plate):04d}-{meta['mjd']:05d}-{int(fiber):04d}"
        if len(hdul) > 2 and hdul[2].header.get("EXTNAME", "").strip() in ("SPECOBJ", "SPALL"):
            row = hdul[2].data[0]
            names = set(row.array.dtype.names)
            for col, key in SDSS_TABLE_KEYS.items():
                if col in names:
                    meta[key] = _plain(row[col])
            if "SN_MEDIAN" in names and np.size(row["SN_MEDIAN"]) == len(SDSS_BANDS):
                for band, value in zip(SDSS_BANDS, row["SN_MEDIAN"], strict=True):
                    meta[f"snr_{band}"] = _plain(value)
            if meta.get("ra") is None and "PLUG_RA" in names:
                meta["ra"], meta["dec"] = _plain(row["PLUG_RA"]), _plain(row["PLUG_DEC"])
    return meta


class SpecutilsReader(Reader):
    """Reads a file with one specutils loader.

    Parameters
    ----------
    format : str
        The specutils format label (e.g. ``"SDSS-III/IV spec"``).
    """

    def __init__(self, format):
        self.format = format
        self.name = f"{READER_PREFIX}:{format}"

    def read_spectrum(self, path):
        from specutils import Spectrum

        path = os.fspath(path)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                spectrum = Spectrum.read(path, format=self.format)
        except SpectrumReadError:
            raise
        except Exception as exc:
            raise checks.fail(path, checks.diagnose(path, exc),
                              f"specutils {self.format!r}: {type(exc).__name__}: {exc}") from exc
        if spectrum.flux.ndim != 1:
            raise checks.fail(path, checks.UNKNOWN_LAYOUT,
                              f"specutils {self.format!r} gave a {spectrum.flux.ndim}-D flux")
        return spectrum

    def read_arrays(self, path):
        path = os.fspath(path)
        meta = {"file": path, "reader": self.name}
        if "SDSS" in self.format.upper():
            try:
                meta.update(sdss_meta(path))
            except Exception:  # meta is a bonus here; the spectrum itself decides success
                meta["survey"] = "SDSS"
        arrays = SpectrumArrays.from_spectrum(self.read_spectrum(path), meta=meta)
        arrays.wavelength = arrays.wavelength.astype(np.float64)
        arrays.flux = arrays.flux.astype(np.float32)
        arrays.ivar = arrays.ivar.astype(np.float32)
        checks.check_arrays(path, arrays.wavelength, arrays.flux, arrays.ivar)
        return arrays


@hookimpl(trylast=True)
def bhbfinder_get_reader(path, head):
    """A `SpecutilsReader` for FITS files (not LAMOST) that a specutils loader identifies."""
    if not head.startswith(FITS_MAGIC) or is_lamost_head(head) or not os.path.isfile(path):
        return None
    fmt = identify_format(path)
    return SpecutilsReader(fmt) if fmt else None
