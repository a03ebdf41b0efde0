"""SDSSReader on SDSS-layout files written by the tests: every array and meta field checked."""

import gzip

import astropy.units as u
import numpy as np
import pytest
from astropy.io import fits
from bhbfinder_sdss import ALL_BITS, DEFAULT_BAD_BITS, SDSSReader, read_sdss
from bhbfinder_sdss import reader as reader_module
from bhbfinder_sdss.plugin import is_sdss_head
from bhbfinder_sdss.reader import bad_pixel_mask
from sdss_files import MASK_BITS, NAN_FLUX, NPIX, ZERO_IVAR, sdss_truth, write_sdss_spec

from bhbfinder.errors import SpectrumReadError
from bhbfinder.io import checks
from bhbfinder.io.base import META_KEYS, SpectrumArrays

BRIGHTSKY_PIXELS = (10, 11, 202)  # bit 23: bad by default
MANYBADCOLUMNS_ONLY = (200, 201)  # bit 4 alone: a fibre-level warning, kept by default


def expected_mask():
    mask = np.zeros(NPIX, bool)
    mask[list(ZERO_IVAR) + list(BRIGHTSKY_PIXELS) + [NAN_FLUX]] = True
    return mask


@pytest.mark.parametrize("layout", ["SDSS-I/II spec", "BOSS spec"])
def test_read_arrays_every_field(tmp_path, layout):
    truth = sdss_truth(plate=4455, mjd=55539, fiber=692, layout=layout)
    path = write_sdss_spec(tmp_path, truth)
    arrays = SDSSReader().read_arrays(path)

    assert isinstance(arrays, SpectrumArrays)
    np.testing.assert_allclose(arrays.wavelength, 10.0 ** truth["loglam"].astype(float),
                               rtol=1e-12)
    assert arrays.wavelength[0] == pytest.approx(10**3.58, rel=1e-6)
    finite = np.isfinite(truth["flux"])
    np.testing.assert_array_equal(arrays.flux[finite], truth["flux"][finite])
    assert arrays.flux[NAN_FLUX] == 0 and arrays.ivar[NAN_FLUX] == 0
    np.testing.assert_array_equal(arrays.ivar[finite], truth["ivar"][finite])
    np.testing.assert_array_equal(arrays.mask, expected_mask())

    meta = arrays.meta
    assert set(META_KEYS) <= set(meta)
    assert meta["file"] == str(path)
    assert meta["reader"] == "SDSS"
    assert meta["survey"] == "SDSS"
    assert meta["layout"] == layout
    assert meta["data_release"] == truth["run2d"]
    assert meta["obsid"] is None
    assert meta["designation"] == "4455-55539-0692"
    assert meta["mjd"] == 55539 and isinstance(meta["mjd"], int)
    # the fibre's position, not the plate centre in the primary header's RA/DEC
    assert meta["ra"] == pytest.approx(truth["plug_ra"], abs=1e-9)
    assert meta["dec"] == pytest.approx(truth["plug_dec"], abs=1e-9)
    assert meta["z"] == pytest.approx(truth["z"], rel=1e-6)
    assert meta["z_err"] == pytest.approx(truth["z_err"], rel=1e-6)
    assert meta["class"] == "STAR" and meta["subclass"] == "BHB"
    snr = [meta[k] for k in ("snr_u", "snr_g", "snr_r", "snr_i", "snr_z")]
    np.testing.assert_allclose(snr, truth["sn_median"])
    assert meta["snr_g"] == pytest.approx(30.5)
    assert u.Unit(meta["flux_unit"]) == 1e-17 * u.erg / u.s / u.cm**2 / u.AA


def test_read_spectrum_uses_specutils_loader_and_agrees(sdss_file):
    reader = SDSSReader()
    spectrum = reader.read_spectrum(sdss_file)
    assert type(spectrum).__name__ == "Spectrum"
    assert "header" in spectrum.meta  # put there by specutils' "SDSS-III/IV spec" loader
    assert spectrum.meta["designation"] == "0266-51602-0013"
    assert spectrum.flux.unit == 1e-17 * u.erg / u.s / u.cm**2 / u.AA
    assert spectrum.spectral_axis.unit == u.AA

    arrays = reader.read_arrays(sdss_file)
    back = SpectrumArrays.from_spectrum(spectrum)
    # specutils takes 10**loglam in float32 (0.0003 Å at 4000 Å); read_arrays in float64
    np.testing.assert_allclose(back.wavelength, arrays.wavelength, rtol=1e-7)
    np.testing.assert_array_equal(back.mask, arrays.mask)
    good = ~arrays.mask
    np.testing.assert_allclose(back.flux[good], arrays.flux[good])
    np.testing.assert_allclose(back.ivar[good], arrays.ivar[good])
    assert {k: back.meta[k] for k in META_KEYS if k != "flux_unit"} == {
        k: arrays.meta[k] for k in META_KEYS if k != "flux_unit"}


def test_bad_bits_choose_what_is_masked(sdss_file):
    default = read_sdss(sdss_file)
    everything = read_sdss(sdss_file, bad_bits=ALL_BITS)
    assert not default.mask[list(MANYBADCOLUMNS_ONLY)].any()
    assert everything.mask[list(MANYBADCOLUMNS_ONLY)].all()
    flagged = np.zeros(NPIX, bool)
    flagged[list(MASK_BITS)] = True
    # ALL_BITS is specutils' rule (and_mask != 0) plus ivar = 0
    np.testing.assert_array_equal(everything.mask, flagged | expected_mask())
    assert "BRIGHTSKY" in DEFAULT_BAD_BITS and "MANYBADCOLUMNS" not in DEFAULT_BAD_BITS
    with pytest.raises(ValueError, match="BRIGTSKY"):
        SDSSReader(bad_bits=["BRIGTSKY"])
    assert bad_pixel_mask([1.0, 0.0, 1.0], [0, 0, 1 << 24]).tolist() == [False, True, True]


def test_missing_object_hdu_falls_back_to_the_header(tmp_path):
    truth = sdss_truth(fiber=7)
    arrays = read_sdss(write_sdss_spec(tmp_path, truth, with_object_hdu=False))
    meta = arrays.meta
    assert meta["designation"] == "0266-51602-0007"
    assert meta["ra"] == pytest.approx(truth["plug_ra"])
    assert meta["dec"] == pytest.approx(truth["plug_dec"])
    assert meta["data_release"] == truth["run2d"]
    assert meta["z"] is None and meta["class"] is None and meta["snr_g"] is None
    assert meta["layout"] is None


def test_gzip_content_is_read(tmp_path):
    plain = write_sdss_spec(tmp_path)
    packed = tmp_path / "packed" / "spec-0266-51602-0013.fits.gz"
    packed.parent.mkdir()
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    np.testing.assert_array_equal(read_sdss(packed).flux, read_sdss(plain).flux)


@pytest.mark.filterwarnings("ignore:Error validating header")  # astropy on the truncated file
def test_errors_name_the_file_and_reason(tmp_path):
    path = write_sdss_spec(tmp_path)
    truncated = tmp_path / "spec-0266-51602-0099.fits"
    truncated.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(SpectrumReadError, match="spec-0266-51602-0099") as info:
        read_sdss(truncated)
    assert info.value.reason == checks.TRUNCATED

    header = fits.Header({"TELESCOP": "SDSS 2.5-M"})
    no_coadd = tmp_path / "spec-0266-51602-0098.fits"
    fits.PrimaryHDU(header=header).writeto(no_coadd)
    with pytest.raises(SpectrumReadError) as info:
        SDSSReader().read_arrays(no_coadd)
    assert info.value.reason == checks.MISSING_FLUX
    with pytest.raises(SpectrumReadError):
        SDSSReader().read_spectrum(no_coadd)

    dead = sdss_truth()
    dead["ivar"][:] = 0
    (tmp_path / "dead").mkdir()
    with pytest.raises(SpectrumReadError) as info:
        read_sdss(write_sdss_spec(tmp_path / "dead", dead))
    assert info.value.reason == checks.ALL_ZERO_IVAR


def _head(path):
    return path.read_bytes()[:2880]


def test_sniffing(tmp_path, sdss_file):
    assert is_sdss_head(_head(sdss_file), str(sdss_file))
    # LAMOST, and an SDSS image in the primary HDU (old spSpec), are not ours
    fits.PrimaryHDU(header=fits.Header({"TELESCOP": "LAMOST"})).writeto(tmp_path / "l.fits")
    assert not is_sdss_head(_head(tmp_path / "l.fits"))
    image = fits.PrimaryHDU(np.zeros((5, 10), np.float32), fits.Header({"TELESCOP": "SDSS 2.5-M"}))
    image.writeto(tmp_path / "spSpec-51602-0266-013.fit")
    assert not is_sdss_head(_head(tmp_path / "spSpec-51602-0266-013.fit"))
    assert not is_sdss_head(b"hello world", "spec-0266-51602-0013.fits")
    # no TELESCOP in the first block: the file name decides
    bare = tmp_path / "bare.fits"
    fits.PrimaryHDU().writeto(bare)
    assert not is_sdss_head(_head(bare), str(bare))
    assert is_sdss_head(_head(bare), "/data/spec-0266-51602-0013.fits")


def _plain(value):
    if isinstance(value, (bytes, np.bytes_)):
        value = value.decode()
    return value.strip() if isinstance(value, str) else np.asarray(value)


@pytest.mark.parametrize("layout", ["SDSS-I/II spec", "BOSS spec"])
def test_object_row_raw_read_matches_astropy(tmp_path, layout, monkeypatch):
    path = write_sdss_spec(tmp_path, sdss_truth(layout=layout))
    extname, row = reader_module._raw_first_row(str(path))
    with fits.open(path) as hdul:
        assert extname == hdul[2].name
        record = hdul[2].data[0]
        assert set(row) == set(hdul[2].columns.names)
        for name in hdul[2].columns.names:
            np.testing.assert_array_equal(_plain(row[name]), _plain(record[name]))
    fast = read_sdss(path).meta
    # the same meta when astropy has to parse HDU 2 (what happens for unusual tables)
    monkeypatch.setattr(reader_module, "_raw_first_row", lambda path: None)
    assert read_sdss(path).meta == fast
