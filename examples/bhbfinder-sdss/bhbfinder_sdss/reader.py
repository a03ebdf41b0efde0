"""Reading SDSS ``spec-PLATE-MJD-FIBER.fits`` files (SDSS-I/II and BOSS) for bhbfinder.

An SDSS spectrum file (data model: https://data.sdss.org/datamodel/files/BOSS_SPECTRO_REDUX/
RUN2D/spectra/PLATE4/spec.html) holds

- HDU 0: an empty primary image whose header describes the plate and the fibre,
- HDU 1 ``COADD``: the co-added spectrum as a table (``loglam``, ``flux``, ``ivar``,
  ``and_mask``, ...), vacuum wavelength, flux in 1e-17 erg/s/cm²/Å,
- HDU 2: one row of the redshift pipeline's answers, ``SPECOBJ`` for the SDSS-I/II
  spectra reprocessed with the BOSS pipeline (DR8 and later), ``SPALL`` for BOSS/eBOSS,
- further HDUs: emission lines and the single exposures (not used here).

specutils reads these files with its ``"SDSS-III/IV spec"`` loader (despite the label it
identifies both generations: it checks ``VERS2D`` = v5*). `SDSSReader.read_spectrum` delegates
to that loader; `read_sdss`, the batch path, reads the COADD table with `astropy.io.fits` and
HDU 2's row from its raw bytes (see `read_sdss` for why).
"""

import functools
import gzip
import os
import re
import warnings

import numpy as np

from bhbfinder.errors import SpectrumReadError
from bhbfinder.io import checks
from bhbfinder.io.base import META_KEYS, Reader, SpectrumArrays
from bhbfinder.io.sniff import FITS_BLOCK, header_cards, is_gzip

__all__ = [
    "READER_NAME", "SPECUTILS_FORMAT", "SPPIXMASK", "DEFAULT_BAD_BITS", "ALL_BITS",
    "SDSSReader", "read_sdss", "sdss_meta", "bad_pixel_mask", "bit_value", "header_cards",
]

#: The reader's name, shown by ``bhbfinder plugins`` and stored in each spectrum's meta.
READER_NAME = "SDSS"

#: The specutils loader `SDSSReader.read_spectrum` delegates to.
SPECUTILS_FORMAT = "SDSS-III/IV spec"

#: The flux unit of SDSS spectra when the header's ``BUNIT`` is missing.
DEFAULT_FLUX_UNIT = "1e-17 erg / (Angstrom cm2 s)"

#: The bits of the SDSS pixel mask ``SPPIXMASK`` (``and_mask``: set in every exposure).
SPPIXMASK = {
    "NOPLUG": 0, "BADTRACE": 1, "BADFLAT": 2, "BADARC": 3, "MANYBADCOLUMNS": 4,
    "MANYREJECTED": 5, "LARGESHIFT": 6, "BADSKYFIBER": 7, "NEARWHOPPER": 8, "WHOPPER": 9,
    "SMEARIMAGE": 10, "SMEARHIGHSN": 11, "SMEARMEDSN": 12, "NEARBADPIXEL": 16, "LOWFLAT": 17,
    "FULLREJECT": 18, "PARTIALREJECT": 19, "SCATTEREDLIGHT": 20, "CROSSTALK": 21, "NOSKY": 22,
    "BRIGHTSKY": 23, "NODATA": 24, "COMBINEREJ": 25, "BADFLUXFACTOR": 26, "BADSKYCHI": 27,
    "REDMONSTER": 28,
}

#: The ``and_mask`` bits that make a pixel bad by default: those saying the pixel's value is
#: wrong. Left out are the warnings about a whole fibre or a neighbourhood (MANYBADCOLUMNS,
#: NEARBADPIXEL, LOWFLAT, PARTIALREJECT, ...): MANYBADCOLUMNS alone covers the whole red camera
#: (6100-9200 Å) of two of our four test spectra, pixels with valid flux and ivar.
DEFAULT_BAD_BITS = (
    "NOPLUG", "BADTRACE", "BADFLAT", "BADARC", "WHOPPER", "FULLREJECT", "NOSKY", "BRIGHTSKY",
    "NODATA", "COMBINEREJ", "BADFLUXFACTOR", "BADSKYCHI", "REDMONSTER",
)

#: Every bit: ``and_mask != 0`` is bad, the rule of specutils' own loader.
ALL_BITS = tuple(SPPIXMASK)

#: HDU 2 names and the layout each one means.
_OBJECT_HDUS = {"SPECOBJ": "SDSS-I/II spec", "SPALL": "BOSS spec"}

_BAND_KEYS = ("snr_u", "snr_g", "snr_r", "snr_i", "snr_z")


def bit_value(bits):
    """The integer with the ``SPPIXMASK`` bits named in ``bits`` set."""
    unknown = sorted(set(bits) - set(SPPIXMASK))
    if unknown:
        raise ValueError(f"unknown SDSS mask bits {unknown}; known: {sorted(SPPIXMASK)}")
    return sum(1 << SPPIXMASK[name] for name in set(bits))


def bad_pixel_mask(ivar, and_mask, bits=DEFAULT_BAD_BITS):
    """True where a pixel is bad: no information (``ivar == 0``) or a bad bit in ``and_mask``."""
    return ~(np.asarray(ivar) > 0) | ((np.asarray(and_mask, np.int64) & bit_value(bits)) != 0)


def _flux_unit(header):
    """The header's BUNIT as an astropy unit string (SDSS writes ``Ang`` for Angstrom)."""
    return _parse_unit(header.get("BUNIT") or DEFAULT_FLUX_UNIT)


@functools.lru_cache(maxsize=16)  # every file of a survey has the same BUNIT
def _parse_unit(bunit):
    import astropy.units as u

    if "Ang" in bunit and "strom" not in bunit:
        bunit = bunit.replace("Ang", "Angstrom")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", u.UnitsWarning)  # "erg/cm^2/s/Angstrom": many slashes
        try:
            return u.Unit(bunit).to_string()
        except ValueError:
            return DEFAULT_FLUX_UNIT


def _text(value):
    value = value.decode() if isinstance(value, bytes) else str(value)
    return value.strip() or None


def _row_value(row, key):
    """``row[key]`` as a plain Python value (an array for vector columns), None if missing."""
    if row is None or key not in row:
        return None
    value = row[key]
    if isinstance(value, (str, bytes, np.str_, np.bytes_)):
        return _text(value)
    value = np.asarray(value)
    return value.item() if value.ndim == 0 else value


# ---------------------------------------------------------------------------------------------
# HDU 2 holds one row of 126 (SPECOBJ) to 232 (SPALL) columns. astropy builds a Column object
# per column before giving any value, which takes 5-8 times as long as reading the spectrum
# itself; the few values needed are read here from the raw header and row instead, falling back
# to astropy whenever the table is anything but plain.

_TFORM = re.compile(r"^\s*(\d*)\s*([LXBIJKAEDCMPQ])")
_TFORM_DTYPES = {"L": "i1", "B": "u1", "I": ">i2", "J": ">i4", "K": ">i8", "E": ">f4",
                 "D": ">f8", "C": ">c8", "M": ">c16", "P": ">i4", "Q": ">i8"}
_MAX_HEADER_BLOCKS = 64


def _tform_dtype(tform):
    match = _TFORM.match(tform)
    if match is None:
        raise ValueError(f"TFORM {tform!r}")
    repeat, code = int(match.group(1) or 1), match.group(2)
    if code == "A":
        return f"S{repeat}"
    if code == "X":
        return ("u1", ((repeat + 7) // 8,))
    if code in "PQ":  # variable-length array descriptor: two integers
        return (_TFORM_DTYPES[code], (2,))
    return _TFORM_DTYPES[code] if repeat == 1 else (_TFORM_DTYPES[code], (repeat,))


def _read_header(fh):
    """The header cards at the file position, or None at the end of the file or on damage."""
    raw = b""
    for _ in range(_MAX_HEADER_BLOCKS):
        block = fh.read(FITS_BLOCK)
        if len(block) < FITS_BLOCK:
            return None
        raw += block
        if any(block[i:i + 8] == b"END     " for i in range(0, FITS_BLOCK, 80)):
            return header_cards(raw)
    return None


def _data_size(cards):
    """Bytes of the HDU's data, padded to whole FITS blocks (FITS standard 4.0, eq. 1-2)."""
    naxis = int(cards.get("NAXIS", 0))
    if naxis == 0:
        return 0
    size = 1
    for i in range(1, naxis + 1):
        size *= int(cards[f"NAXIS{i}"])
    size = abs(int(cards["BITPIX"])) // 8 * int(cards.get("GCOUNT", 1)) * (
        int(cards.get("PCOUNT", 0)) + size)
    return -(-size // FITS_BLOCK) * FITS_BLOCK


def _raw_first_row(path, index=2):
    """``(extname, {COLUMN: value})``: the first row of binary table HDU ``index``, or None."""
    opener = gzip.open if is_gzip(path) else open
    with opener(path, "rb") as fh:
        for _ in range(index):  # skip the HDUs before it
            cards = _read_header(fh)
            if cards is None:
                return None
            fh.seek(_data_size(cards), os.SEEK_CUR)
        cards = _read_header(fh)
        if cards is None or cards.get("XTENSION") != "BINTABLE":
            return None
        if int(cards.get("NAXIS2", 0)) < 1 or cards.get("THEAP") is not None:
            return None
        width, nfields = int(cards["NAXIS1"]), int(cards["TFIELDS"])
        names = [str(cards[f"TTYPE{i}"]).strip() for i in range(1, nfields + 1)]
        dtype = np.dtype([(f"f{i}", _tform_dtype(str(cards[f"TFORM{i + 1}"])))
                          for i in range(nfields)])
        raw = fh.read(width)
        if dtype.itemsize != width or len(raw) != width:
            return None
        record = np.frombuffer(raw, dtype=dtype)[0]
    row = {}
    for i, name in enumerate(names):
        value = record[f"f{i}"]
        scale, zero = cards.get(f"TSCAL{i + 1}"), cards.get(f"TZERO{i + 1}")
        if scale is not None or zero is not None:
            value = value * float(scale or 1) + float(zero or 0)
        row.setdefault(name.upper(), value)
    return str(cards.get("EXTNAME", "")).strip(), row


def _object_row(hdul, path):
    """HDU 2's single row as ``{COLUMN: value}`` and its layout (None, None if absent)."""
    try:
        found = _raw_first_row(path)
    except (KeyError, ValueError, TypeError, OSError, IndexError):
        found = None
    if found is None:  # anything unusual: let astropy parse HDU 2
        try:
            hdu = hdul[2]
        except IndexError:
            return None, None
        if hdu.name not in _OBJECT_HDUS or hdu.data is None or len(hdu.data) == 0:
            return None, None
        record = hdu.data[0]
        found = hdu.name, {name.upper(): record[name] for name in hdu.columns.names}
    extname, row = found
    layout = _OBJECT_HDUS.get(extname)
    return (row, layout) if layout else (None, None)


def sdss_meta(header, row, layout, path):
    """The bhbfinder meta of an SDSS spectrum from its primary header and HDU-2 row.

    Parameters
    ----------
    header : `astropy.io.fits.Header`
        The primary header.
    row : dict or None
        The ``SPECOBJ`` / ``SPALL`` row, ``{COLUMN: value}``.
    layout : str or None
        ``"SDSS-I/II spec"`` or ``"BOSS spec"``.
    path : str

    Returns
    -------
    dict
        Every key of `~bhbfinder.io.base.META_KEYS`, plus ``layout``.
    """
    meta = dict.fromkeys(META_KEYS)

    def pick(key, header_key=None):
        value = _row_value(row, key)
        if value is None and header_key is not None:
            value = header.get(header_key)
        return value

    plate, mjd, fiber = pick("PLATE", "PLATEID"), pick("MJD", "MJD"), pick("FIBERID", "FIBERID")
    # The primary header's RA/DEC are the plate centre, not the object: use the fibre's
    # position (PLUG_RA/PLUG_DEC), in HDU 2 and, for older files, in the primary header.
    ra, dec = pick("PLUG_RA", "PLUG_RA"), pick("PLUG_DEC", "PLUG_DEC")
    run2d = pick("RUN2D", "RUN2D") or header.get("VERS2D")
    meta.update(
        file=path,
        reader=READER_NAME,
        survey="SDSS",
        data_release=None if run2d is None else str(run2d).strip(),
        obsid=None,
        designation=(f"{int(plate):04d}-{int(mjd):05d}-{int(fiber):04d}"
                     if None not in (plate, mjd, fiber) else None),
        ra=None if ra is None else float(ra),
        dec=None if dec is None else float(dec),
        z=_float_or_none(pick("Z")),
        z_err=_float_or_none(pick("Z_ERR")),
        mjd=None if mjd is None else int(mjd),
        flux_unit=_flux_unit(header),
        layout=layout,
    )
    meta["class"] = pick("CLASS")
    meta["subclass"] = pick("SUBCLASS")
    sn = _row_value(row, "SN_MEDIAN")
    if sn is not None and np.size(sn) == len(_BAND_KEYS):  # median S/N per pixel in u, g, r, i, z
        meta.update({key: float(v) for key, v in zip(_BAND_KEYS, np.ravel(sn), strict=True)})
    return meta


def _float_or_none(value):
    return None if value is None else float(value)


def _coadd(hdul, path):
    """The ``COADD`` table's loglam, flux, ivar and and_mask columns."""
    hdu = hdul["COADD"] if "COADD" in hdul else (hdul[1] if len(hdul) > 1 else None)
    columns = {} if hdu is None or not hasattr(hdu, "columns") else {
        name.lower(): name for name in hdu.columns.names}
    if "flux" not in columns:
        # astropy drops an HDU cut short without raising: tell that apart from a missing table
        if checks.diagnose(path) == checks.TRUNCATED:
            raise checks.fail(path, checks.TRUNCATED, "the COADD table is cut short")
        raise checks.fail(path, checks.MISSING_FLUX, "no COADD table with a flux column: is "
                          "this an SDSS spec-PLATE-MJD-FIBER file?")
    if "loglam" not in columns or "ivar" not in columns:
        raise checks.fail(path, checks.UNKNOWN_LAYOUT, "the COADD table lacks loglam or ivar")
    data = hdu.data
    loglam = np.asarray(data[columns["loglam"]], dtype=np.float64)
    flux = np.asarray(data[columns["flux"]], dtype=np.float32)
    ivar = np.asarray(data[columns["ivar"]], dtype=np.float32)
    and_mask = (np.asarray(data[columns["and_mask"]], dtype=np.int64)
                if "and_mask" in columns else np.zeros(flux.shape, np.int64))
    return loglam, flux, ivar, and_mask


def arrays_from_hdulist(hdul, path, bad_bits=DEFAULT_BAD_BITS):
    """`~bhbfinder.io.base.SpectrumArrays` from an open SDSS spec file (see `read_sdss`)."""
    loglam, flux, ivar, and_mask = _coadd(hdul, path)
    wavelength = 10.0**loglam  # SDSS wavelengths are vacuum, log10(λ/Å) on a 1e-4 dex grid
    ivar = np.where(np.isfinite(flux) & np.isfinite(ivar) & (ivar > 0), ivar, 0).astype(
        np.float32)
    flux = np.where(np.isfinite(flux), flux, 0).astype(np.float32)
    checks.check_arrays(path, wavelength, flux, ivar)
    row, layout = _object_row(hdul, path)
    meta = sdss_meta(hdul[0].header, row, layout, path)
    return SpectrumArrays(wavelength, flux, ivar, bad_pixel_mask(ivar, and_mask, bad_bits), meta)


def read_sdss(path, bad_bits=DEFAULT_BAD_BITS):
    """Read an SDSS spec file (SDSS-I/II or BOSS) into `~bhbfinder.io.base.SpectrumArrays`.

    This is the fast path of batch reads. It reads the COADD table with `astropy.io.fits` (no
    memory map, so gzip and plain files behave alike) and the values it needs from HDU 2's one
    row from the raw bytes: astropy would first build a Column object for each of its 126-232
    columns, which takes longer than everything else. Going through specutils would build a
    `~specutils.Spectrum` with units and a copy of the primary header that the batch path
    throws away, and would still leave HDU 2 to read. (``benchmarks/bench_read.py``: about
    27 ms per file, against 60 ms for `SDSSReader.read_spectrum` and 300 ms for bhbfinder's
    generic specutils reader.)

    Parameters
    ----------
    path : str or path-like
        A ``spec-PLATE-MJD-FIBER.fits`` file (plain or gzip content).
    bad_bits : sequence of str
        The ``and_mask`` bits (names of `SPPIXMASK`) that mark a pixel bad, in addition to
        ``ivar = 0``; `ALL_BITS` masks every flagged pixel, as specutils' loader does.

    Returns
    -------
    `~bhbfinder.io.base.SpectrumArrays`
        Vacuum wavelength in Å, flux in 1e-17 erg/s/cm²/Å and ivar (float32, ``ivar = 0``
        where either is not finite), mask, and meta: ``survey`` "SDSS", ``designation``
        "PLATE-MJD-FIBER", ``ra``/``dec`` (the fibre's), ``z``/``z_err``, ``class``,
        ``subclass``, ``snr_u`` ... ``snr_z`` (``SN_MEDIAN``), ``mjd``, ``data_release`` (the
        reduction, RUN2D), ``obsid`` None, ``layout`` ("SDSS-I/II spec" or "BOSS spec").

    Raises
    ------
    `~bhbfinder.errors.SpectrumReadError`
        Naming the file and what is wrong with it.
    """
    from astropy.io import fits

    path = os.fspath(path)
    try:
        with fits.open(path, memmap=False, lazy_load_hdus=True) as hdul:
            return arrays_from_hdulist(hdul, path, bad_bits)
    except SpectrumReadError:
        raise
    except Exception as exc:  # astropy's and numpy's errors, translated into the standard reasons
        raise checks.fail(path, checks.diagnose(path, exc), f"{type(exc).__name__}: {exc}") from exc


class SDSSReader(Reader):
    """bhbfinder reader of SDSS spec files: SDSS-I/II (``SPECOBJ``) and BOSS (``SPALL``).

    Parameters
    ----------
    bad_bits : sequence of str
        The ``and_mask`` bits that mark a pixel bad (see `read_sdss`).
    """

    name = READER_NAME

    def __init__(self, bad_bits=DEFAULT_BAD_BITS):
        bit_value(bad_bits)  # fail early on a misspelt bit name
        self.bad_bits = tuple(bad_bits)

    def read_arrays(self, path):
        """Read ``path`` into `~bhbfinder.io.base.SpectrumArrays` (`read_sdss`)."""
        return read_sdss(path, self.bad_bits)

    def read_spectrum(self, path):
        """Read ``path`` with specutils' own SDSS loader and add bhbfinder's meta.

        Returns
        -------
        `specutils.Spectrum`
            specutils' spectrum (its ``meta["header"]`` kept), with the mask of this reader
            (``ivar = 0`` or a bad bit) and the keys of `read_sdss`'s meta added to ``meta``.
        """
        import astropy.units as u
        from astropy.io import fits
        from specutils import Spectrum

        path = os.fspath(path)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", u.UnitsWarning)  # SDSS's BUNIT has many slashes
                spectrum = Spectrum.read(path, format=SPECUTILS_FORMAT)
            with fits.open(path, memmap=False, lazy_load_hdus=True) as hdul:
                arrays = arrays_from_hdulist(hdul, path, self.bad_bits)
        except SpectrumReadError:
            raise
        except Exception as exc:
            raise checks.fail(path, checks.diagnose(path, exc),
                              f"{type(exc).__name__}: {exc}") from exc
        spectrum.mask = arrays.mask
        spectrum.meta.update(arrays.meta)
        return spectrum

    def __repr__(self):
        return f"<SDSSReader {self.name!r} bad_bits={len(self.bad_bits)} bits>"
