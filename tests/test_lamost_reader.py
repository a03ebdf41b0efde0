"""The LAMOST reader on files the tests write: both layouts, both header dialects, gzip variants."""

import gzip
import subprocess
import sys
import warnings

import astropy.units as u
import numpy as np
import pytest
from astropy.io import fits
from astropy.nddata import InverseVariance

from bhbfinder.errors import ConfigurationError
from bhbfinder.io.base import META_KEYS
from bhbfinder.io.lamost import (
    READER_NAME,
    LamostReader,
    is_lamost_head,
    read_lamost,
    register_specutils_loader,
    write_lamost,
)
from bhbfinder.io.sniff import is_gzip, read_head
from bhbfinder.plugins import get_reader

NPIX = 3850
WAVE = 10 ** (3.5682 + 1e-4 * np.arange(NPIX))

META_DR6 = {
    "obsid": 740103045, "data_release": "LAMOST DR9", "designation": "LAMOST J103046.53+360109.8",
    "ra": 157.693885, "dec": 36.019415, "z": 1.23e-4, "z_err": 2.5e-5, "class": "STAR",
    "subclass": "A2V", "mjd": 58574, "snr_u": 4.5, "snr_g": 30.25, "snr_r": 41.5,
    "snr_i": 50.75, "snr_z": 33.0, "target_source": "LEGUE_LCH",
}


def _spectrum(seed=0):
    rng = np.random.default_rng(seed)
    flux = (1000 + 50 * rng.standard_normal(NPIX)).astype(np.float32)
    ivar = rng.uniform(0.5, 2.0, NPIX).astype(np.float32)
    ivar[[3, 400, NPIX - 1]] = 0
    andmask = np.zeros(NPIX, np.float32)
    andmask[[10, 11, 2000]] = [1, 4, 16]
    ormask = np.zeros(NPIX, np.float32)
    ormask[[12, 13]] = 2
    return flux, ivar, andmask, ormask


VARIANTS = [(layout, dialect, compress)
            for layout in ("A", "B") for dialect in ("dr6", "dr1")
            for compress in (False, "gzip", "gzip-as-fits")]


@pytest.mark.parametrize("layout,dialect,compress", VARIANTS)
def test_every_field_round_trips(tmp_path, layout, dialect, compress):
    flux, ivar, andmask, ormask = _spectrum()
    path = write_lamost(tmp_path / "spec-58574-plan_sp03-045.fits", WAVE, flux, ivar,
                        andmask=andmask, ormask=ormask, meta=META_DR6, layout=layout,
                        dialect=dialect, compress=compress)
    assert is_gzip(path) == bool(compress)
    assert path.name.endswith(".fits.gz" if compress == "gzip" else ".fits")

    arrays = read_lamost(path)
    # float32 on disk in both real layouts (DR1 keeps only the log-linear coefficients)
    np.testing.assert_allclose(arrays.wavelength, WAVE, rtol=1e-7)
    assert arrays.wavelength.dtype == np.float64
    np.testing.assert_array_equal(arrays.flux, flux)
    np.testing.assert_array_equal(arrays.ivar, ivar)
    expected_mask = (ivar == 0) | (andmask != 0)
    np.testing.assert_array_equal(arrays.mask, expected_mask)
    assert not arrays.mask[12]  # or-mask bits alone do not mask a pixel

    meta = arrays.meta
    assert set(META_KEYS) <= set(meta)
    assert meta["file"] == str(path)
    assert meta["reader"] == READER_NAME and meta["survey"] == "LAMOST"
    assert meta["layout"] == layout and meta["dialect"] == dialect
    for key in ("designation", "class", "subclass", "mjd", "target_source"):
        assert meta[key] == META_DR6[key], key
    for key in ("ra", "dec", "z", "z_err", "snr_u", "snr_g", "snr_r", "snr_i", "snr_z"):
        assert meta[key] == pytest.approx(META_DR6[key], rel=1e-12), key
    if dialect == "dr6":
        assert meta["obsid"] == META_DR6["obsid"]
        assert meta["data_release"] == "LAMOST DR9"
    else:  # DR1 headers have neither OBSID nor DATA_V
        assert meta["obsid"] is None and meta["data_release"] is None


def test_dialect_header_keys_on_disk(tmp_path):
    flux, ivar, _, _ = _spectrum()
    dr1 = write_lamost(tmp_path / "dr1.fits", WAVE, flux, ivar, meta=META_DR6, dialect="dr1")
    dr6 = write_lamost(tmp_path / "dr6.fits", WAVE, flux, ivar, meta=META_DR6, dialect="dr6")
    h1, h6 = fits.getheader(dr1), fits.getheader(dr6)
    assert {"SN_U", "SN_G", "OBJSOURC"} <= set(h1) and not {"OBSID", "SNRG", "DATA_V"} & set(h1)
    assert {"OBSID", "SNRU", "SNRG", "TSOURCE", "DATA_V"} <= set(h6) and "SN_G" not in h6
    assert h1["EXTEN0"].startswith("Flux Inverse Subcontinuum")
    # DR1 image: row 3 is not a wavelength
    assert np.all(fits.getdata(dr1)[2] == 1)


def test_layout_b_structure_matches_dr10(tmp_path):
    flux, ivar, _, _ = _spectrum()
    path = write_lamost(tmp_path / "b.fits", WAVE, flux, ivar, meta=META_DR6, layout="B")
    with fits.open(path) as hdul:
        assert len(hdul) == 2 and hdul[0].header["NAXIS"] == 0
        # the DR10 quirk: image-size cards in an empty primary header
        assert hdul[0].header["NAXIS1"] == NPIX and hdul[0].header["NAXIS2"] == 5
        assert hdul[1].name == "COADD"
        assert hdul[1].columns.names == ["FLUX", "IVAR", "WAVELENGTH", "ANDMASK", "ORMASK",
                                         "NORMALIZATION"]
    assert read_lamost(path).meta["layout"] == "B"


def test_unknown_redshift_becomes_none(tmp_path):
    flux, ivar, _, _ = _spectrum()
    meta = {**META_DR6, "z": None, "z_err": None, "class": "Unknown"}
    path = write_lamost(tmp_path / "u.fits", WAVE, flux, ivar, meta=meta)
    assert fits.getheader(path)["Z"] == -9999
    arrays = read_lamost(path)
    assert arrays.meta["z"] is None and arrays.meta["z_err"] is None
    assert arrays.meta["class"] == "Unknown"


def test_nonfinite_pixels_are_masked_with_zero_ivar(tmp_path):
    flux, ivar, _, _ = _spectrum()
    flux[100] = np.nan
    ivar[200] = np.inf
    arrays = read_lamost(write_lamost(tmp_path / "n.fits", WAVE, flux, ivar))
    assert arrays.ivar[100] == 0 and arrays.ivar[200] == 0
    assert arrays.mask[100] and arrays.mask[200]


def test_recognised_by_header_not_name(tmp_path):
    flux, ivar, _, _ = _spectrum()
    path = write_lamost(tmp_path / "12345.dat", WAVE, flux, ivar, compress="gzip-as-fits")
    assert is_lamost_head(read_head(path))
    assert isinstance(get_reader(path), LamostReader)
    assert read_lamost(path).meta["obsid"] is None  # no obsid given: none written
    other = tmp_path / "spec-other.fits"
    fits.PrimaryHDU(np.zeros((5, 10), np.float32)).writeto(other)
    assert not is_lamost_head(read_head(other))
    assert not is_lamost_head(b"hello world")
    # no telescope or pipeline cards: the layout-A row list still identifies it
    bare = tmp_path / "bare.fits"
    fits.PrimaryHDU(np.zeros((5, 10), np.float32),
                    header=fits.Header([("EXTEN0", "Flux, Inverse, Wavelength, Andmask, "
                                                   "Ormask")])).writeto(bare)
    assert is_lamost_head(read_head(bare))


def test_reader_spectrum(tmp_path):
    flux, ivar, andmask, _ = _spectrum()
    path = write_lamost(tmp_path / "s.fits.gz", WAVE, flux, ivar, andmask=andmask,
                        meta=META_DR6, layout="B", compress="gzip")
    spec = LamostReader().read_spectrum(path)
    assert spec.spectral_axis.unit == u.AA
    np.testing.assert_allclose(spec.spectral_axis.value, WAVE, rtol=1e-7)
    assert isinstance(spec.uncertainty, InverseVariance)
    np.testing.assert_array_equal(spec.uncertainty.array, ivar)
    np.testing.assert_array_equal(spec.mask, (ivar == 0) | (andmask != 0))
    assert spec.meta["obsid"] == META_DR6["obsid"]


@pytest.mark.parametrize("layout,dialect,compress", [("A", "dr1", False), ("A", "dr6", "gzip"),
                                                     ("B", "dr6", "gzip-as-fits")])
def test_specutils_read_with_and_without_format(tmp_path, layout, dialect, compress):
    from specutils import Spectrum

    register_specutils_loader()
    flux, ivar, andmask, _ = _spectrum()
    path = write_lamost(tmp_path / "spec.fits", WAVE, flux, ivar, andmask=andmask,
                        meta=META_DR6, layout=layout, dialect=dialect, compress=compress)
    for kwargs in ({}, {"format": READER_NAME}):
        spec = Spectrum.read(path, **kwargs)
        np.testing.assert_allclose(spec.spectral_axis.to_value(u.AA), WAVE, rtol=1e-7)
        np.testing.assert_array_equal(spec.flux.value, flux)
        np.testing.assert_array_equal(spec.mask, (ivar == 0) | (andmask != 0))
        assert spec.meta["designation"] == META_DR6["designation"]
    with fits.open(path) as hdul:  # an open HDUList works too
        assert Spectrum.read(hdul, format=READER_NAME).meta["class"] == "STAR"
    try:  # the deprecated alias, where specutils still has it
        from specutils import Spectrum1D
    except ImportError:
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for kwargs in ({}, {"format": READER_NAME}):
            np.testing.assert_array_equal(Spectrum1D.read(path, **kwargs).flux.value, flux)


def test_import_is_light_and_registers_when_specutils_arrives(tmp_path):
    flux, ivar, _, _ = _spectrum()
    path = write_lamost(tmp_path / "spec.fits", WAVE, flux, ivar, meta=META_DR6)
    code = (
        "import sys, bhbfinder\n"
        "assert 'specutils' not in sys.modules and 'astropy.io.fits' not in sys.modules\n"
        "from specutils import Spectrum\n"
        f"s = Spectrum.read({str(path)!r})\n"
        "print(s.meta['obsid'])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == str(META_DR6["obsid"])


def test_install_registers_at_once_when_specutils_is_imported(tmp_path):
    from astropy.io import registry
    from specutils import Spectrum

    from bhbfinder import _compat
    from bhbfinder.io import lamost

    register_specutils_loader()
    registry.unregister_reader(READER_NAME, Spectrum)
    registry.unregister_identifier(READER_NAME, Spectrum)
    lamost._specutils_registered = False
    assert READER_NAME not in registry.get_formats(Spectrum)["Format"]
    _compat.install_specutils_hook()  # what `import bhbfinder` does when specutils came first
    assert READER_NAME in registry.get_formats(Spectrum)["Format"]
    flux, ivar, _, _ = _spectrum()
    path = write_lamost(tmp_path / "spec.fits", WAVE, flux, ivar, meta=META_DR6)
    assert Spectrum.read(path).meta["obsid"] == META_DR6["obsid"]


def test_writer_rejects_bad_arguments(tmp_path):
    flux, ivar, _, _ = _spectrum()
    with pytest.raises(ConfigurationError, match="layout"):
        write_lamost(tmp_path / "x.fits", WAVE, flux, ivar, layout="C")
    with pytest.raises(ConfigurationError, match="dialect"):
        write_lamost(tmp_path / "x.fits", WAVE, flux, ivar, dialect="dr3")
    with pytest.raises(ConfigurationError, match="log-linear"):
        write_lamost(tmp_path / "x.fits", np.linspace(3700, 9000, NPIX), flux, ivar,
                     dialect="dr1")
    with pytest.raises(ConfigurationError, match="one length"):
        write_lamost(tmp_path / "x.fits", WAVE[:-1], flux, ivar)
    # a gzip file written by hand still reads
    path = write_lamost(tmp_path / "plain.fits", WAVE, flux, ivar)
    packed = tmp_path / "packed.fits"
    packed.write_bytes(gzip.compress(path.read_bytes()))
    np.testing.assert_array_equal(read_lamost(packed).flux, flux)


def _same(a, b):
    for key in ("wavelength", "flux", "ivar", "mask"):
        x, y = getattr(a, key), getattr(b, key)
        assert x.dtype == y.dtype and np.array_equal(x, y), key
    assert a.meta == b.meta


@pytest.mark.parametrize("layout,dialect,compress", VARIANTS)
def test_byte_parser_equals_astropy(tmp_path, layout, dialect, compress):
    flux, ivar, andmask, ormask = _spectrum(seed=3)
    meta = {**META_DR6, "designation": "it''s / quoted", "subclass": "O'Brien"}
    path = write_lamost(tmp_path / "s.fits", WAVE, flux, ivar, andmask=andmask, ormask=ormask,
                        meta=meta, layout=layout, dialect=dialect, compress=compress)
    fast, slow = read_lamost(path), read_lamost(path, fast=False)
    _same(fast, slow)
    assert fast.meta["subclass"] == "O'Brien"


def test_unusual_files_fall_back_to_astropy(tmp_path, monkeypatch):
    from bhbfinder.io import _rawfits, lamost

    flux, ivar, andmask, _ = _spectrum()
    fallbacks = []
    original = lamost.arrays_from_bytes

    def spy(raw, path):
        try:
            return original(raw, path)
        except _rawfits.Unsupported:
            fallbacks.append(path)
            raise

    monkeypatch.setattr(lamost, "arrays_from_bytes", spy)
    # a scaled (BSCALE/BZERO) 16-bit image and a COADD table behind another extension
    scaled = tmp_path / "scaled.fits"
    image = np.vstack([flux, ivar, WAVE, andmask, andmask]).astype(np.float64)
    hdu = fits.PrimaryHDU(image, header=fits.Header([("TELESCOP", "LAMOST"), ("OBSID", 5)]))
    hdu.scale("int32", bzero=0, bscale=0.5)
    hdu.writeto(scaled)
    moved = tmp_path / "moved.fits"
    write_lamost(moved, WAVE, flux, ivar, layout="B", meta={"obsid": 6})
    with fits.open(moved) as hdul:
        fits.HDUList([hdul[0].copy(), fits.ImageHDU(np.zeros(3), name="EXTRA"),
                      hdul[1].copy()]).writeto(tmp_path / "moved2.fits",
                                               output_verify="silentfix")
    a = read_lamost(scaled)
    b = read_lamost(tmp_path / "moved2.fits")
    assert fallbacks == [str(scaled), str(tmp_path / "moved2.fits")]
    assert a.meta["obsid"] == 5 and b.meta["obsid"] == 6 and b.meta["layout"] == "B"
    np.testing.assert_allclose(a.flux, np.round(flux * 2) / 2)
    np.testing.assert_array_equal(b.flux, flux)
