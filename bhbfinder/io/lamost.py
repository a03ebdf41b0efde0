"""The LAMOST low-resolution spectrum reader (a built-in plugin) and a writer of the same files.

Layouts:

A (DR1–DR8)
    Primary HDU image of 5 rows × N pixels. DR2 and later store flux, ivar, wavelength, and-mask,
    or-mask (``EXTEN0 = 'Flux, Inverse, Wavelength, Andmask, Ormask'``). DR1 stores a
    sub-continuum in the third row instead (``EXTEN0 = 'Flux Inverse Subcontinuum Andmask
    Ormask'``); its wavelengths are the header's log-linear solution
    ``10**(COEFF0 + COEFF1 * i)``.
B (DR9 and later)
    An empty primary HDU (which still carries ``NAXIS1``/``NAXIS2`` cards next to ``NAXIS = 0``)
    and a one-row binary table ``COADD`` with array columns FLUX, IVAR, WAVELENGTH, ANDMASK,
    ORMASK, NORMALIZATION.

Header dialects: DR6+ (OBSID, SNRU…SNRZ, TSOURCE, DATA_V) and DR1 (no OBSID, SN_U…SN_Z,
OBJSOURC). Files are recognised by their header (``TELESCOP = 'LAMOST'``), not their name, and
gzip content is read whatever the suffix.

The reader is also a specutils loader, ``"LAMOST-LRS"``; it is registered when specutils is
imported after ``import bhbfinder`` (or right away if specutils already was), so
``Spectrum.read(path)`` and ``Spectrum.read(path, format="LAMOST-LRS")`` both work. See
`register_specutils_loader`.
"""

import gzip
import io
import os
import pathlib
import re
import zlib

import numpy as np
from astropy.io import fits

from ..errors import ConfigurationError, SpectrumReadError
from ..hookspecs import hookimpl
from . import _rawfits, checks
from .base import META_KEYS, META_SCHEMA, UNKNOWN_VALUE, Reader, SpectrumArrays
from .limits import current_limits
from .sniff import FITS_BLOCK, FITS_MAGIC, GZIP_MAGIC, iter_cards, read_head

__all__ = [
    "READER_NAME",
    "LAMOST_HEADER_KEYS",
    "UNKNOWN_VALUE",
    "LamostReader",
    "is_lamost_head",
    "header_magnitudes",
    "read_lamost",
    "arrays_from_hdulist",
    "arrays_from_bytes",
    "write_lamost",
    "register_specutils_loader",
    "bhbfinder_get_reader",
]

#: zlib window bits for a gzip wrapper.
GZIP_WBITS = 16 + zlib.MAX_WBITS

#: Name of the reader, and of the specutils format.
READER_NAME = "LAMOST-LRS"

#: Priority of the specutils loader: above specutils' generic FITS loaders (tabular-fits 6,
#: wcs1d-fits 5) and its survey loaders (10), which might otherwise claim a LAMOST file.
SPECUTILS_PRIORITY = 20


#: Header keys of each meta key, per dialect (first present wins).
LAMOST_HEADER_KEYS = {
    "dr6": {
        "obsid": "OBSID", "data_release": "DATA_V", "designation": "DESIG",
        "ra": "RA", "dec": "DEC", "z": "Z", "z_err": "Z_ERR",
        "class": "CLASS", "subclass": "SUBCLASS", "mjd": "MJD",
        "snr_u": "SNRU", "snr_g": "SNRG", "snr_r": "SNRR", "snr_i": "SNRI", "snr_z": "SNRZ",
        "target_source": "TSOURCE",
    },
    "dr1": {
        "designation": "DESIG",
        "ra": "RA", "dec": "DEC", "z": "Z", "z_err": "Z_ERR",
        "class": "CLASS", "subclass": "SUBCLASS", "mjd": "MJD",
        "snr_u": "SN_U", "snr_g": "SN_G", "snr_r": "SN_R", "snr_i": "SN_I", "snr_z": "SN_Z",
        "target_source": "OBJSOURC",
    },
}

#: Header keys read for each meta key, whatever the dialect (first present wins).
_READ_KEYS = {
    key: tuple(dict.fromkeys(LAMOST_HEADER_KEYS[d][key] for d in ("dr6", "dr1")
                             if key in LAMOST_HEADER_KEYS[d]))
    for key in LAMOST_HEADER_KEYS["dr6"]
}


#: One band name of ``MAGTYPE`` (`header_magnitudes`).
_BAND = re.compile(r"[A-Z][a-z0-9]*|[a-z]")

#: Row names of the layout-A image, as ``EXTEN0`` spells them in each dialect.
EXTEN0 = {
    "dr6": "Flux, Inverse, Wavelength, Andmask, Ormask",
    "dr1": "Flux Inverse Subcontinuum Andmask Ormask",
}
_LAYOUT_A_ROWS = ("flux", "inverse", "wavelength", "andmask", "ormask")
COADD_EXTNAME = "COADD"

#: Header values by which a file is recognised as LAMOST (card key, value prefix): the
#: telescope, the pipeline's ORIGIN / AUTHOR, or the layout-A row list only LAMOST writes.
_SIGNATURES = (("TELESCOP", "LAMOST"), ("ORIGIN", "NAOC-LAMOST"), ("AUTHOR", "LAMOST"),
               ("EXTEN0", "Flux, Inverse, Wavelength"), ("EXTEN0", "Flux Inverse "))
_SIGNATURE_KEYS = {key for key, _ in _SIGNATURES}


# ---------------------------------------------------------------------------------------------
# recognising a LAMOST file from its first header block

def is_lamost_head(head):
    """True when the first header block ``head`` (bytes) is that of a LAMOST spectrum.

    Looks for ``TELESCOP = 'LAMOST'`` in the primary header, or the LAMOST pipeline's
    ``ORIGIN`` / ``AUTHOR``, or the layout-A row list ``EXTEN0``; the file name plays no part.
    """
    if not head.startswith(FITS_MAGIC):
        return False
    for key, value in iter_cards(head, keys=_SIGNATURE_KEYS):
        text = str(value).strip()
        if any(key == sig_key and text.startswith(sig) for sig_key, sig in _SIGNATURES):
            return True
    return False


# ---------------------------------------------------------------------------------------------
# reading

def _plain_value(key, value):
    if value is None:
        return None
    kind = META_SCHEMA.get(key, str)
    if kind is not str:
        try:
            number = float(value)
        except (TypeError, ValueError):
            return None
        if not np.isfinite(number) or number == UNKNOWN_VALUE:
            return None
        return int(number) if kind is int else number
    value = str(value).strip()
    return value or None


def header_magnitudes(header):
    """The input catalogue's magnitudes a LAMOST header carries, by band.

    LAMOST copies the magnitudes of each target's input catalogue into ``MAG1`` … ``MAG7``
    and names their bands, in order, in ``MAGTYPE``: ``ugriz`` (SDSS), ``MODugriz`` (SDSS
    model magnitudes), ``gri`` or ``grizyjh`` (e.g. Pan-STARRS, with 2MASS J, H),
    ``ugrizFuvUv``, ``BR1R2I`` (photographic), ``Kp`` (Kepler)... A band is one lower-case
    letter or a capital followed by lower-case letters or digits (``Fuv``, ``R1``, ``Kp``).
    Values of 90 or more (LAMOST writes 99 for "none") and of 0 or less are missing.
    ``fibermag...`` types (magnitudes in the fibre's aperture, not the star's) give none.

    Parameters
    ----------
    header : mapping
        The primary header (`astropy.io.fits.Header` or anything with ``get``).

    Returns
    -------
    dict
        ``{band: magnitude}`` of the bands with a value (the first where a band repeats).

    Examples
    --------
    >>> header_magnitudes({"MAGTYPE": "ugriz", "MAG1": 16.64, "MAG2": 15.38, "MAG3": 15.29,
    ...                    "MAG4": 99.0, "MAG5": 15.28})
    {'u': 16.64, 'g': 15.38, 'r': 15.29, 'z': 15.28}
    """
    kind = str(header.get("MAGTYPE") or "").strip()
    if kind.lower().startswith("fibermag"):
        return {}
    kind = re.sub(r"^MOD", "", kind)
    mags = {}
    for i, band in enumerate(_BAND.findall(kind)[:7]):
        value = header.get(f"MAG{i + 1}")
        try:
            value = float(value)
        except (TypeError, ValueError):
            continue
        if np.isfinite(value) and 0.0 < value < 90.0:
            mags.setdefault(band, value)
    return mags


def _header_meta(header, path):
    dr1 = "OBSID" not in header and ("OBJSOURC" in header or "SN_G" in header)
    dialect = "dr1" if dr1 else "dr6"
    meta = dict.fromkeys(META_KEYS)
    for key, cards in _READ_KEYS.items():
        for card in cards:
            value = header.get(card)
            if value is not None:
                meta[key] = _plain_value(key, value)
                break
    mags = header_magnitudes(header)
    meta.update(file=str(path), reader=READER_NAME, survey="LAMOST", dialect=dialect,
                mag_g=mags.get("g"), mag_r=mags.get("r"))
    return meta


def _layout_a_rows(header):
    """Row index of each quantity in a layout-A image, from ``EXTEN0`` (DR2+ order if absent)."""
    names = str(header.get("EXTEN0", "")).replace(",", " ").lower().split()
    if not names:
        names = list(_LAYOUT_A_ROWS)
    return {name: i for i, name in enumerate(names)}


def _loglinear_wavelength(header, npix, path):
    try:
        coeff0, coeff1 = float(header["COEFF0"]), float(header["COEFF1"])
    except (KeyError, TypeError, ValueError):
        raise checks.fail(path, checks.UNKNOWN_LAYOUT,
                          "no wavelength row and no COEFF0/COEFF1 in the header") from None
    return 10.0 ** (coeff0 + coeff1 * np.arange(npix))


def _from_image(header, image, path):
    if image.ndim != 2 or image.shape[0] < 2:
        raise checks.fail(path, checks.UNKNOWN_LAYOUT, f"primary image of shape {image.shape}")
    rows = _layout_a_rows(header)
    flux = image[rows.get("flux", 0)]
    ivar = image[rows.get("inverse", 1)]
    npix = image.shape[1]
    if "wavelength" in rows and rows["wavelength"] < image.shape[0]:
        wave = image[rows["wavelength"]]
    else:
        wave = _loglinear_wavelength(header, npix, path)
    andmask = image[rows["andmask"]] if rows.get("andmask", 99) < image.shape[0] else None
    return wave, flux, ivar, andmask


def _from_columns(columns, path):
    """wave, flux, ivar, andmask from ``{COLUMN NAME (upper case): row value}`` of COADD."""
    if "FLUX" not in columns:
        raise checks.fail(path, checks.MISSING_FLUX, "the COADD table has no FLUX column")
    if "WAVELENGTH" not in columns or "IVAR" not in columns:
        raise checks.fail(path, checks.UNKNOWN_LAYOUT, "COADD table without WAVELENGTH or IVAR")
    return columns["WAVELENGTH"], columns["FLUX"], columns["IVAR"], columns.get("ANDMASK")


def _from_coadd(hdu, path):
    data = hdu.data
    if data is None or len(data) == 0:
        raise checks.fail(path, checks.MISSING_FLUX, "the COADD table has no row")
    row = data[0]
    return _from_columns({n.upper(): row[n] for n in data.dtype.names}, path)


def _coadd_hdu(hdul, path):
    if len(hdul) < 2:
        raise checks.fail(path, checks.MISSING_FLUX, "empty primary HDU and no extension")
    for hdu in hdul[1:]:
        if hdu.header.get("EXTNAME", "").strip().upper() == COADD_EXTNAME:
            return hdu
    hdu = hdul[1]
    if hdu.header.get("XTENSION", "").strip() != "BINTABLE":
        raise checks.fail(path, checks.UNKNOWN_LAYOUT, "HDU 1 is not a COADD binary table")
    return hdu


def _finish(header, wave, flux, ivar, andmask, layout, path):
    wave = np.asarray(wave, dtype=np.float64)
    flux = np.asarray(flux, dtype=np.float32)
    ivar = np.asarray(ivar, dtype=np.float32)
    bad = ~(np.isfinite(flux) & np.isfinite(ivar) & (ivar > 0))
    if bad.any():
        ivar = np.where(bad, np.float32(0), ivar)
    checks.check_arrays(path, wave, flux, ivar)
    if andmask is not None:
        bad |= np.asarray(andmask) != 0
    meta = _header_meta(header, path)
    meta["layout"] = layout
    return SpectrumArrays(wave, flux, ivar, bad, meta)


def arrays_from_hdulist(hdul, path):
    """`~bhbfinder.io.base.SpectrumArrays` from an open LAMOST `~astropy.io.fits.HDUList`.

    Raises
    ------
    SpectrumReadError
        ``unknown layout``, ``missing flux``, ``non-monotonic wavelength``, ``all-zero ivar``.
    """
    primary = hdul[0]
    header = primary.header
    naxis = header.get("NAXIS", 0)
    if naxis == 2:
        wave, flux, ivar, andmask = _from_image(header, primary.data, path)
        layout = "A"
    elif naxis == 0:
        wave, flux, ivar, andmask = _from_coadd(_coadd_hdu(hdul, path), path)
        layout = "B"
    else:
        raise checks.fail(path, checks.UNKNOWN_LAYOUT, f"primary HDU with NAXIS = {naxis}")
    return _finish(header, wave, flux, ivar, andmask, layout, path)


def arrays_from_bytes(raw, path):
    """`~bhbfinder.io.base.SpectrumArrays` straight from the bytes of a LAMOST file.

    The hot path (see `bhbfinder.io._rawfits`): header cards and the float arrays are read
    with `numpy.frombuffer`. Raises ``bhbfinder.io._rawfits.Unsupported`` for anything beyond
    the two plain layouts; `read_lamost` then reads the file with astropy.io.fits.
    """
    try:
        cards, start = _rawfits.parse_header(raw)
        naxis = cards.get("NAXIS", 0)
        if naxis == 2:
            wave, flux, ivar, andmask = _from_image(cards, _rawfits.read_image(raw, cards, start),
                                                    path)
            layout = "A"
        elif naxis == 0:
            ext, ext_start = _rawfits.next_header(raw, cards, start)
            if str(ext.get("EXTNAME", "")).strip().upper() != COADD_EXTNAME:
                raise _rawfits.Unsupported("HDU 1 is not COADD")
            row = _rawfits.read_table_row(raw, ext, ext_start)
            wave, flux, ivar, andmask = _from_columns({k.upper(): v for k, v in row.items()},
                                                      path)
            layout = "B"
        else:
            raise _rawfits.Unsupported(f"NAXIS = {naxis}")
    except _rawfits.Truncated as exc:
        raise checks.fail(path, checks.TRUNCATED, str(exc)) from None
    except (KeyError, TypeError, ValueError) as exc:
        raise _rawfits.Unsupported(f"{type(exc).__name__}: {exc}") from None
    return _finish(cards, wave, flux, ivar, andmask, layout, path)


def _file_bytes(path):
    """The file's content, inflated if it is gzip (whatever its name), CRC checked; never
    inflated beyond the read limits (`bhbfinder.io.limits`)."""
    limit = current_limits().max_inflated_size
    with open(path, "rb") as fh:
        raw = fh.read()
    if raw[:2] == GZIP_MAGIC:
        try:
            # one C call; unlike astropy's streaming gzip reads it verifies the CRC and length
            inflater = zlib.decompressobj(GZIP_WBITS)
            data = inflater.decompress(raw, limit + 1)
        except zlib.error as exc:
            reason = checks.TRUNCATED if "incomplete" in str(exc) else checks.CORRUPT_GZIP
            raise checks.fail(path, reason, str(exc)) from None
        if len(data) > limit:
            raise checks.fail(path, checks.TOO_LARGE, f"inflates to more than {limit} bytes")
        if not inflater.eof:
            raise checks.fail(path, checks.TRUNCATED, "the gzip stream ends early")
        raw = data
    if not raw:
        raise checks.fail(path, checks.EMPTY_FILE)
    if not raw.startswith(FITS_MAGIC):
        raise checks.fail(path, checks.NOT_FITS)
    return raw


def read_lamost(path, fast=True):
    """Read a LAMOST low-resolution spectrum file into `~bhbfinder.io.base.SpectrumArrays`.

    The fast path of the batch reader: the file is read in one go (gzip content inflated and
    CRC-checked whatever the suffix) and parsed from memory, touching only the HDUs the layout
    needs; no Table and no Spectrum is built.

    Parameters
    ----------
    path : str or path-like
        A LAMOST spectrum in layout A or B; plain or gzip content, whatever the suffix.
    fast : bool
        Parse the two plain layouts straight from the bytes (`arrays_from_bytes`, several
        times faster than astropy), falling back to astropy.io.fits for anything else;
        ``False`` always uses astropy.io.fits. Both give identical results.

    Returns
    -------
    `~bhbfinder.io.base.SpectrumArrays`
        Vacuum wavelength in Å (the stored array; the header's log-linear solution for DR1),
        flux and ivar as float32 (``ivar = 0`` where flux or ivar is not finite), mask = ivar
        = 0 or and-mask set, and meta with the keys of `~bhbfinder.io.base.META_KEYS` (plus
        ``layout``, ``dialect`` and ``target_source``).

    Raises
    ------
    SpectrumReadError
        With one of the reasons of `bhbfinder.io.checks` naming what is wrong.
    """
    path = os.fspath(path)
    try:
        raw = _file_bytes(path)
        if len(raw) % FITS_BLOCK:
            raise checks.fail(path, checks.TRUNCATED,
                              f"{len(raw)} bytes is not a whole number of FITS blocks")
        if fast:
            try:
                return arrays_from_bytes(raw, path)
            except _rawfits.Unsupported:
                pass  # something unusual: let astropy.io.fits read it
        with fits.open(io.BytesIO(raw), memmap=False, lazy_load_hdus=True) as hdul:
            return arrays_from_hdulist(hdul, path)
    except SpectrumReadError:
        raise
    except FileNotFoundError:
        raise checks.fail(path, checks.FILE_NOT_FOUND) from None
    except Exception as exc:  # astropy's and numpy's errors, translated
        reason = checks.diagnose(path, exc)
        raise checks.fail(path, reason, f"{type(exc).__name__}: {exc}") from exc


class LamostReader(Reader):
    """Reader of LAMOST low-resolution spectra (layouts A and B, DR1 and DR6+ dialects).

    ``read_arrays`` is `read_lamost`; ``read_spectrum`` returns a `specutils.Spectrum` with the
    wavelength in Å, dimensionless relative flux, `~astropy.nddata.InverseVariance`
    uncertainty, the mask and the meta.
    """

    name = READER_NAME
    #: `read_lamost` caps inflation itself (the batch path need not check gzip sizes first).
    checks_inflated_size = True

    def read_arrays(self, path):
        return read_lamost(path)


_READER = LamostReader()


@hookimpl(trylast=True)
def bhbfinder_get_reader(path, head):
    """The LAMOST reader for files whose primary header says LAMOST (see `is_lamost_head`)."""
    if is_lamost_head(head):
        return _READER
    return None


# ---------------------------------------------------------------------------------------------
# specutils loader

_specutils_registered = False


def _identify_lamost(origin, *args, **kwargs):
    path = args[0] if args else None
    fileobj = args[1] if len(args) > 1 else None
    if isinstance(path, (str, os.PathLike)) and os.path.isfile(path):
        return is_lamost_head(read_head(path))
    if fileobj is not None and hasattr(fileobj, "read"):
        pos = fileobj.tell()
        try:
            head = fileobj.read(FITS_BLOCK)
        finally:
            fileobj.seek(pos)
        return isinstance(head, bytes) and is_lamost_head(head)
    return False


def _lamost_loader(file_obj, **kwargs):
    """Load a LAMOST low-resolution spectrum (layouts A and B, any release) as a Spectrum."""
    if isinstance(file_obj, fits.HDUList):
        name = getattr(file_obj, "filename", lambda: None)() or "<HDUList>"
        return arrays_from_hdulist(file_obj, name).to_spectrum()
    if isinstance(file_obj, (str, os.PathLike)):
        return read_lamost(file_obj).to_spectrum()
    name = getattr(file_obj, "name", "<file object>")
    with fits.open(file_obj, memmap=False) as hdul:
        return arrays_from_hdulist(hdul, name).to_spectrum()


def register_specutils_loader():
    """Register the ``"LAMOST-LRS"`` loader with specutils (idempotent).

    Called automatically: ``import bhbfinder`` arranges for it to run as soon as specutils is
    imported (right away if it already is), so importing bhbfinder stays cheap. Call it
    yourself only if that hook was bypassed.
    """
    global _specutils_registered
    if _specutils_registered:
        return
    from specutils import Spectrum
    from specutils.io.registers import data_loader

    data_loader(READER_NAME, identifier=_identify_lamost, extensions=["fits", "fits.gz"],
                priority=SPECUTILS_PRIORITY, force=True)(_lamost_loader)
    try:  # the deprecated alias is a subclass; astropy ranks loaders per class
        from specutils import Spectrum1D
    except ImportError:
        Spectrum1D = None
    if Spectrum1D is not None and Spectrum1D is not Spectrum:
        data_loader(READER_NAME, identifier=_identify_lamost, dtype=Spectrum1D,
                    extensions=["fits", "fits.gz"], priority=SPECUTILS_PRIORITY, force=True,
                    autogenerate_spectrumlist=False)(_lamost_loader)
    _specutils_registered = True


# ---------------------------------------------------------------------------------------------
# writing (fixtures, simulations)

_DEFAULT_WRITE_META = {
    "ra": 180.0, "dec": 30.0, "z": 0.0, "z_err": 1e-5, "class": "STAR", "subclass": "A0",
    "mjd": 58000, "designation": "LAMOST J120000.00+300000.0", "target_source": "SIMULATED",
}


def _written_value(value):
    """``None`` for missing values (None, masked, NaN); plain Python scalars otherwise."""
    if value is None or np.ma.is_masked(value):
        return None
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if isinstance(value, str) and not value.strip():
        return None
    return value


def _loglinear_coefficients(wave):
    loglam = np.log10(wave)
    coeff1 = (loglam[-1] - loglam[0]) / (len(wave) - 1)
    if not np.allclose(np.diff(loglam), coeff1, rtol=1e-4, atol=0):
        raise ConfigurationError(
            "the DR1 dialect of layout A stores no wavelength row, only COEFF0/COEFF1: "
            "give a log-linear wavelength grid, or use dialect='dr6' or layout='B'"
        )
    return float(loglam[0]), float(coeff1)


def _lamost_header(meta, dialect, layout, npix, wave):
    given = {k: _written_value(v) for k, v in dict(meta or {}).items()}
    meta = {**_DEFAULT_WRITE_META, **given}
    keys = LAMOST_HEADER_KEYS[dialect]
    header = fits.Header()
    header["FILENAME"] = (str(meta.get("filename") or "spec-simulated.fits"), "")
    if dialect == "dr6" and meta.get("obsid") is not None:
        header["OBSID"] = (int(meta["obsid"]), "Unique number ID of this spectrum")
    header["AUTHOR"] = ("LAMOST Pipeline", "Who compiled the information")
    if dialect == "dr6" and meta.get("data_release") is not None:
        header["DATA_V"] = (str(meta["data_release"]), "Data release version")
    if layout == "A":
        header["EXTEN0"] = EXTEN0[dialect]
    header["ORIGIN"] = ("NAOC-LAMOST", "Organization responsible for creating this file")
    header["TELESCOP"] = ("LAMOST", "GuoShouJing Telescope")
    for key in ("mjd", "ra", "dec", "designation", "target_source"):
        if meta.get(key) is not None:
            header[keys[key]] = meta[key]
    header["VACUUM"] = (True, "Wavelengths are in vacuum")
    if dialect == "dr1" and layout == "A":
        coeff0, coeff1 = _loglinear_coefficients(wave)
    else:
        coeff0 = float(np.log10(wave[0]))
        coeff1 = float((np.log10(wave[-1]) - coeff0) / max(npix - 1, 1))
    header["COEFF0"] = (coeff0, "Central wavelength (log10) of first pixel")
    header["COEFF1"] = (coeff1, "Log10 dispersion per pixel")
    for key in ("class", "subclass"):
        if meta.get(key) is not None:
            header[keys[key]] = str(meta[key])
    header["Z"] = UNKNOWN_VALUE if meta.get("z") is None else float(meta["z"])
    header["Z_ERR"] = UNKNOWN_VALUE if meta.get("z_err") is None else float(meta["z_err"])
    for band in "ugriz":
        value = meta.get(f"snr_{band}")
        if value is not None:
            header[keys[f"snr_{band}"]] = float(value)
    if any(meta.get(f"mag_{band}") is not None for band in "ugriz"):
        header["MAGTYPE"] = ("ugriz", "Magnitude type of the target")
        for i, band in enumerate("ugriz"):
            value = meta.get(f"mag_{band}")
            header[f"MAG{i + 1}"] = (99.0 if value is None else float(value),
                                     f"{band} magnitude (99: none)")
        for i in (6, 7):
            header[f"MAG{i}"] = 99.0
    return header


def write_lamost(path, wavelength, flux, ivar, andmask=None, ormask=None, meta=None,
                 layout="A", dialect="dr6", compress=False, overwrite=True):
    """Write a spectrum as a LAMOST low-resolution file that `read_lamost` reads back.

    Used for test fixtures and by the simulator; the files follow the real layouts and header
    dialects (see the module docstring), including the DR10 quirk of ``NAXIS1``/``NAXIS2``
    cards in the empty primary header of layout B.

    Parameters
    ----------
    path : str or path-like
        Where to write.
    wavelength, flux, ivar : array-like, shape (npix,)
        Vacuum wavelength in Å (strictly increasing; log-linear for ``dialect="dr1"`` with
        ``layout="A"``, whose files store only COEFF0/COEFF1), flux, inverse variance.
    andmask, ormask : array-like, optional
        Pixel masks (default zeros).
    meta : dict, optional
        Values for the header: obsid, data_release, designation, ra, dec, z, z_err, class,
        subclass, mjd, snr_u … snr_z, target_source, filename, and input-catalogue
        magnitudes mag_u … mag_z (``MAGTYPE = 'ugriz'``, 99 for a band without one, as
        LAMOST writes; `header_magnitudes` reads them back). ``z=None`` is written as
        −9999 (LAMOST's unknown); other ``None`` values, and keys the dialect lacks (obsid
        and data_release in DR1), are left out. Unset keys get placeholder values.
    layout : {"A", "B"}
        5-row primary image (DR1–DR8) or empty primary + COADD table (DR9+).
    dialect : {"dr6", "dr1"}
        Header keys of DR6+ (OBSID, SNRG, TSOURCE, DATA_V) or of DR1 (SN_G, OBJSOURC).
    compress : {False, "gzip", "gzip-as-fits"}
        Plain FITS; gzip content with a ``.gz`` suffix (appended if ``path`` lacks it); or
        gzip content under exactly ``path`` (e.g. a ``.fits`` name, as some archives do).
    overwrite : bool
        Replace an existing file.

    Returns
    -------
    pathlib.Path
        The file written.
    """
    if layout not in ("A", "B"):
        raise ConfigurationError(f"layout must be 'A' or 'B', not {layout!r}")
    if dialect not in LAMOST_HEADER_KEYS:
        raise ConfigurationError(f"dialect must be one of {sorted(LAMOST_HEADER_KEYS)}, "
                                 f"not {dialect!r}")
    if compress not in (False, None, "gzip", "gzip-as-fits"):
        raise ConfigurationError(f"compress must be False, 'gzip' or 'gzip-as-fits', "
                                 f"not {compress!r}")
    wave = np.asarray(wavelength, dtype=np.float64)
    flux = np.asarray(flux, dtype=np.float32)
    ivar = np.asarray(ivar, dtype=np.float32)
    npix = wave.size
    if not (wave.ndim == 1 and flux.shape == ivar.shape == wave.shape):
        raise ConfigurationError("wavelength, flux and ivar must be 1-D arrays of one length")
    andmask = np.zeros(npix, np.float32) if andmask is None else np.asarray(andmask, np.float32)
    ormask = np.zeros(npix, np.float32) if ormask is None else np.asarray(ormask, np.float32)
    header = _lamost_header(meta, dialect, layout, npix, wave)

    if layout == "A":
        third = wave.astype(np.float32) if dialect == "dr6" else np.ones(npix, np.float32)
        image = np.vstack([flux, ivar, third, andmask, ormask])
        hdul = fits.HDUList([fits.PrimaryHDU(image, header=header)])
    else:
        primary = fits.PrimaryHDU(header=header)
        cols = [fits.Column(name=name, format=f"{npix}E", array=arr[None, :])
                for name, arr in (("FLUX", flux), ("IVAR", ivar),
                                  ("WAVELENGTH", wave.astype(np.float32)),
                                  ("ANDMASK", andmask), ("ORMASK", ormask),
                                  ("NORMALIZATION", np.ones(npix, np.float32)))]
        table = fits.BinTableHDU.from_columns(cols, name=COADD_EXTNAME)
        hdul = fits.HDUList([primary, table])

    path = pathlib.Path(path)
    if compress == "gzip" and path.suffix != ".gz":
        path = path.with_name(path.name + ".gz")
    if path.exists() and not overwrite:
        raise ConfigurationError(f"{path} exists; pass overwrite=True to replace it")
    buffer = io.BytesIO()
    hdul.writeto(buffer)
    data = buffer.getvalue()
    if layout == "B":
        data = _add_naxis_quirk(data, npix)
    if compress in ("gzip", "gzip-as-fits"):
        data = gzip.compress(data, mtime=0)
    path.write_bytes(data)
    return path


def _add_naxis_quirk(data, npix):
    """Put ``NAXIS1 = npix`` / ``NAXIS2 = 5`` cards after ``NAXIS = 0``, as real DR9+ files have.

    astropy will not write them itself (they contradict ``NAXIS = 0``), so they replace two
    blank cards of the primary header's padding.
    """
    end = data.find(b"END" + b" " * 77)
    header_len = (end // FITS_BLOCK + 1) * FITS_BLOCK
    cards = [data[i:i + 80] for i in range(0, end, 80)]
    index = next(i for i, c in enumerate(cards) if c.startswith(b"NAXIS   ="))
    extra = [f"{'NAXIS1':8s}= {npix:20d} /".ljust(80).encode("ascii"),
             f"{'NAXIS2':8s}= {5:20d} /".ljust(80).encode("ascii")]
    cards[index + 1:index + 1] = extra
    body = b"".join(cards) + b"END".ljust(80)
    if len(body) > header_len:
        body_len = (len(body) // FITS_BLOCK + 1) * FITS_BLOCK
    else:
        body_len = header_len
    return body.ljust(body_len, b" ") + data[header_len:]
