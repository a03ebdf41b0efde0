"""Malformed files: each gives a SpectrumReadError naming the file and a stable reason."""

import gzip

import numpy as np
import pytest
from astropy.io import fits

from bhbfinder.errors import SpectrumReadError, UnknownFormatError
from bhbfinder.io import checks
from bhbfinder.io.lamost import read_lamost, write_lamost
from bhbfinder.io.read import read_batch, read_one

NPIX = 400
WAVE = 10 ** (3.5682 + 1e-4 * np.arange(NPIX))
FLUX = np.linspace(900, 1100, NPIX).astype(np.float32)
IVAR = np.ones(NPIX, np.float32)


def _good(path, **kwargs):
    return write_lamost(path, WAVE, FLUX, IVAR, meta={"obsid": 42}, **kwargs)


def _lamost_header():
    return fits.Header([("TELESCOP", "LAMOST"), ("AUTHOR", "LAMOST Pipeline")])


def _empty(tmp_path):
    path = tmp_path / "empty.fits"
    path.write_bytes(b"")
    return path


def _not_fits(tmp_path):
    path = tmp_path / "notes.fits"
    path.write_text("this is a text file, not a spectrum\n" * 100)
    return path


def _truncated_plain(tmp_path):
    good = _good(tmp_path / "good.fits")
    path = tmp_path / "truncated.fits"
    path.write_bytes(good.read_bytes()[:6000])
    return path


def _truncated_header(tmp_path):
    good = _good(tmp_path / "good.fits")
    path = tmp_path / "header_block.fits"
    path.write_bytes(good.read_bytes()[:2880])  # the header, none of the data
    return path


def _header_cut(tmp_path):
    good = _good(tmp_path / "good.fits")
    path = tmp_path / "header_cut.fits"
    path.write_bytes(good.read_bytes()[:1600])  # no END card, not a whole block
    return path


def _truncated_gzip(tmp_path):
    good = _good(tmp_path / "good.fits.gz", compress="gzip")
    path = tmp_path / "truncated.fits.gz"
    path.write_bytes(good.read_bytes()[:-400])
    return path


def _corrupt_gzip(tmp_path):
    good = _good(tmp_path / "good.fits", compress="gzip-as-fits")
    data = bytearray(good.read_bytes())
    middle = len(data) // 2
    data[middle:middle + 64] = bytes(64)
    path = tmp_path / "corrupt.fits"
    path.write_bytes(bytes(data))
    return path


def _garbage_gzip(tmp_path):
    path = tmp_path / "garbage.fits.gz"
    path.write_bytes(b"\x1f\x8b" + bytes(range(256)) * 4)
    return path


def _unknown_layout(tmp_path):
    path = tmp_path / "cube.fits"
    fits.PrimaryHDU(np.zeros((2, 3, 4), np.float32), header=_lamost_header()).writeto(path)
    return path


def _unknown_layout_image_hdu1(tmp_path):
    path = tmp_path / "image1.fits"
    fits.HDUList([fits.PrimaryHDU(header=_lamost_header()),
                  fits.ImageHDU(np.zeros(10, np.float32))]).writeto(path)
    return path


def _missing_flux_primary_only(tmp_path):
    path = tmp_path / "header_only.fits"
    fits.PrimaryHDU(header=_lamost_header()).writeto(path)
    return path


def _missing_flux_column(tmp_path):
    cols = [fits.Column(name=n, format=f"{NPIX}E", array=a[None, :])
            for n, a in (("IVAR", IVAR), ("WAVELENGTH", WAVE.astype(np.float32)))]
    path = tmp_path / "noflux.fits"
    fits.HDUList([fits.PrimaryHDU(header=_lamost_header()),
                  fits.BinTableHDU.from_columns(cols, name="COADD")]).writeto(path)
    return path


def _non_monotonic(tmp_path):
    wave = WAVE.copy()
    wave[100], wave[101] = wave[101], wave[100]
    return write_lamost(tmp_path / "swapped.fits", wave, FLUX, IVAR)


def _all_zero_ivar(tmp_path):
    return write_lamost(tmp_path / "zero.fits.gz", WAVE, FLUX, np.zeros(NPIX), compress="gzip",
                        layout="B")


CASES = {
    "empty": (_empty, checks.EMPTY_FILE),
    "not fits": (_not_fits, checks.NOT_FITS),
    "truncated": (_truncated_plain, checks.TRUNCATED),
    "header block only": (_truncated_header, checks.TRUNCATED),
    "header cut": (_header_cut, checks.TRUNCATED),
    "truncated gzip": (_truncated_gzip, checks.TRUNCATED),
    "corrupt gzip": (_corrupt_gzip, checks.CORRUPT_GZIP),
    "garbage gzip": (_garbage_gzip, checks.CORRUPT_GZIP),
    "unknown layout": (_unknown_layout, checks.UNKNOWN_LAYOUT),
    "unknown layout hdu1": (_unknown_layout_image_hdu1, checks.UNKNOWN_LAYOUT),
    "missing flux": (_missing_flux_primary_only, checks.MISSING_FLUX),
    "missing flux column": (_missing_flux_column, checks.MISSING_FLUX),
    "non-monotonic": (_non_monotonic, checks.NON_MONOTONIC_WAVELENGTH),
    "all-zero ivar": (_all_zero_ivar, checks.ALL_ZERO_IVAR),
}


@pytest.mark.parametrize("case", list(CASES))
def test_each_malformed_file_names_file_and_reason(tmp_path, case):
    make, reason = CASES[case]
    path = make(tmp_path)
    with pytest.raises(SpectrumReadError) as info:
        read_one(path)
    assert info.value.reason == reason
    assert info.value.path == str(path)
    assert path.name in str(info.value) and reason in str(info.value)
    assert isinstance(info.value, OSError)  # SpectrumReadError is an OSError too


@pytest.mark.parametrize("case", ["truncated", "truncated gzip", "corrupt gzip",
                                  "unknown layout", "missing flux", "all-zero ivar"])
def test_lamost_reader_reports_the_same_reasons(tmp_path, case):
    make, reason = CASES[case]
    with pytest.raises(SpectrumReadError, match=reason):
        read_lamost(make(tmp_path))


def test_missing_file(tmp_path):
    path = tmp_path / "nowhere" / "spec.fits"
    with pytest.raises(SpectrumReadError, match="file not found") as info:
        read_one(path)
    assert info.value.reason == checks.FILE_NOT_FOUND


def test_foreign_fits_is_unknown_format(tmp_path):
    path = tmp_path / "foreign.fits"
    fits.PrimaryHDU(np.zeros((3, 3), np.int16)).writeto(path)
    with pytest.raises(UnknownFormatError, match="foreign.fits"):
        read_one(path)


def test_reasons_are_documented():
    for name in checks.__all__:
        value = getattr(checks, name)
        if isinstance(value, str):
            assert value in checks.REASONS


def test_read_batch_keeps_going(tmp_path):
    good = [_good(tmp_path / "a.fits"), _good(tmp_path / "b.fits.gz", compress="gzip")]
    bad = {name: make(tmp_path) for name, (make, _) in CASES.items()}
    missing = tmp_path / "missing.fits"
    paths = [good[0], *bad.values(), missing, good[1]]
    batch = read_batch(paths)
    assert len(batch) == len(paths)
    assert list(batch.meta["file"]) == [str(p) for p in paths]
    status = list(batch.meta["status"])
    assert status[0] == status[-1] == "ok"
    assert status[1:-2] == [CASES[name][1] for name in bad]
    assert status[-2] == checks.FILE_NOT_FOUND
    assert list(batch.ok) == [True] + [False] * (len(paths) - 2) + [True]
    assert list(batch.npix) == [NPIX] + [0] * (len(paths) - 2) + [NPIX]
    np.testing.assert_array_equal(batch.flux[-1, :NPIX], FLUX)
    assert batch.meta["obsid"][0] == 42 and batch.meta["obsid"].mask[1]


def test_unexpected_reader_exception_is_a_row(tmp_path, monkeypatch):
    from bhbfinder.io import read as batch_module

    path = _good(tmp_path / "a.fits")

    def boom(p):
        raise ZeroDivisionError("bug")

    monkeypatch.setattr(batch_module, "read_one", boom)
    result = batch_module.read_batch([path])
    assert list(result.meta["status"]) == [checks.UNEXPECTED_ERROR]


def test_gzip_with_fits_inside_but_bad_crc(tmp_path):
    raw = bytearray(gzip.compress(_good(tmp_path / "x.fits").read_bytes()))
    raw[-8] ^= 0xFF  # CRC32 of the trailer
    path = tmp_path / "crc.fits.gz"
    path.write_bytes(bytes(raw))
    with pytest.raises(SpectrumReadError) as info:
        read_one(path)
    assert info.value.reason == checks.CORRUPT_GZIP
