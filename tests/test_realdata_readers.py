"""Every real LAMOST and SDSS file in the shared data folder, read through the batch path and
checked against an independent read with astropy.io.fits."""

import csv

import numpy as np
import pytest
from astropy.io import fits

from bhbfinder import plugins
from bhbfinder.io.lamost import READER_NAME, read_lamost
from bhbfinder.io.read import iter_batches, iter_paths, read_batch

pytestmark = pytest.mark.realdata

# release folder -> (files, layout, dialect, data release)
LAMOST_FOLDERS = {
    "dr1": (43, "A", "dr1", None),
    "dr6_dr7": (2, "A", "dr6", None),
    "dr7_edge_cases": (19, "A", "dr6", "LAMOST DR7"),
    "dr8": (160, "A", "dr6", "LAMOST DR8"),
    "dr10": (3, "B", "dr6", "LAMOST DR10"),
}


@pytest.fixture(scope="module")
def lamost_batch(shared_data):
    paths = list(iter_paths(shared_data / "lamost"))
    return paths, read_batch(paths)


@pytest.fixture(scope="module")
def builtin_manager():
    """A plugin manager with only the built-in plugins (the SDSS files must go to specutils)."""
    saved = plugins._manager
    manager = plugins.BHBPluginManager()
    manager.load_builtins()
    plugins._manager = manager
    yield manager
    plugins._manager = saved


def _independent(path):
    """flux, ivar, npix and the primary header, read plainly with astropy.io.fits."""
    with fits.open(path) as hdul:
        header = hdul[0].header
        if header["NAXIS"] == 0:
            row = hdul["COADD"].data[0]
            return np.array(row["FLUX"]), np.array(row["IVAR"]), np.array(row["WAVELENGTH"]), header
        image = hdul[0].data
        wave = (10 ** (header["COEFF0"] + header["COEFF1"] * np.arange(image.shape[1]))
                if "Subcontinuum" in header.get("EXTEN0", "") else image[2])
        return image[0], image[1], wave, header


def test_every_lamost_file_reads(shared_data, lamost_batch):
    paths, batch = lamost_batch
    assert len(paths) == sum(v[0] for v in LAMOST_FOLDERS.values())
    status = zip(batch.meta["file"], batch.meta["status"], strict=True)
    bad = [(f, s) for f, s in status if s != "ok"]
    assert not bad
    assert set(batch.meta["reader"]) == {READER_NAME}
    assert set(batch.meta["survey"]) == {"LAMOST"}
    assert {int(n) for n in batch.npix} >= {3751, 3904, 3909}


def test_lamost_against_independent_astropy_read(lamost_batch):
    paths, batch = lamost_batch
    for i, path in enumerate(paths):
        flux, ivar, wave, header = _independent(path)
        npix = int(batch.npix[i])
        assert npix == flux.size, path
        np.testing.assert_array_equal(batch.flux[i, :npix], flux.astype(np.float32))
        good = np.isfinite(ivar)
        np.testing.assert_array_equal(batch.ivar[i, :npix][good], ivar[good])
        np.testing.assert_allclose(batch.wavelength[i, :npix], wave, rtol=1e-9)
        slow = read_lamost(path, fast=False)  # the astropy.io.fits path gives the same
        np.testing.assert_array_equal(batch.flux[i, :npix], slow.flux)
        np.testing.assert_array_equal(batch.mask[i, :npix], slow.mask)
        assert np.all(np.diff(batch.wavelength[i, :npix]) > 0)
        assert 3650 < batch.wavelength[i, 0] < 3900 and 8800 < batch.wavelength[i, npix - 1] < 9200
        row = batch.meta[i]
        assert row["ra"] == pytest.approx(header["RA"])
        assert row["dec"] == pytest.approx(header["DEC"])
        assert row["class"] == header["CLASS"].strip()
        assert row["subclass"] == header["SUBCLASS"].strip()
        if header["Z"] == -9999:
            assert np.ma.is_masked(row["z"]), path
        else:
            assert row["z"] == pytest.approx(header["Z"])
        if "OBSID" in header:
            assert row["obsid"] == header["OBSID"]
            assert row["snr_g"] == pytest.approx(header["SNRG"])
        else:
            assert np.ma.is_masked(row["obsid"])
            assert row["snr_g"] == pytest.approx(header["SN_G"])


@pytest.mark.parametrize("folder", list(LAMOST_FOLDERS))
def test_lamost_release_layouts_and_dialects(shared_data, folder):
    count, layout, dialect, release = LAMOST_FOLDERS[folder]
    from bhbfinder.io.read import read_one

    paths = list(iter_paths(shared_data / "lamost" / folder))
    assert len(paths) == count
    for path in paths:
        meta = read_one(path).meta
        assert meta["layout"] == layout and meta["dialect"] == dialect
        if release:
            assert meta["data_release"] == release
        if dialect == "dr1":
            assert meta["obsid"] is None and meta["data_release"] is None
            assert meta["target_source"] is not None  # OBJSOURC


def test_header_summaries_agree(shared_data, lamost_batch):
    paths, batch = lamost_batch
    by_name = {p.rsplit("/", 1)[-1]: i for i, p in enumerate(paths)}
    checked = unknown = 0
    for summary in sorted((shared_data / "lamost").rglob("_header_summary.tsv")):
        with open(summary) as fh:
            for cols in csv.reader(fh, delimiter="\t"):
                row = batch.meta[by_name[cols[0]]]
                assert row["class"] == cols[3]
                assert row["ra"] == pytest.approx(float(cols[7]))
                assert row["dec"] == pytest.approx(float(cols[8]))
                if cols[6] == "-9999":
                    unknown += 1
                    assert np.ma.is_masked(row["z"])
                else:
                    assert row["z"] == pytest.approx(float(cols[6]))
                checked += 1
    assert checked == 43 + 17 and unknown == 4


def test_gzip_content_under_fits_name(shared_data):
    folder = shared_data / "lamost" / "dr7_edge_cases" / "gzip_content_named_dot_fits"
    batch = read_batch(sorted(folder.glob("*.fits")))
    assert list(batch.meta["status"]) == ["ok", "ok"]
    assert sorted(batch.meta["obsid"]) == [101008, 27904160]


def test_sdss_files_through_batch_path(shared_data, builtin_manager):
    paths = list(iter_paths(shared_data / "sdss"))
    assert len(paths) == 4
    batches = list(iter_batches(paths, batch_size=3))
    assert [len(b) for b in batches] == [3, 1]
    for batch in batches:
        assert all(batch.ok), list(batch.meta["status"])
        for i, path in enumerate(batch.meta["file"]):
            npix = int(batch.npix[i])
            with fits.open(path) as hdul:
                coadd = hdul[1].data
                z = hdul[2].data["Z"][0]
                plug_ra = hdul[0].header["PLUG_RA"]
            assert npix == len(coadd)
            wave = batch.wavelength[i, :npix]
            np.testing.assert_allclose(wave, 10 ** coadd["loglam"], rtol=1e-6)
            assert 3500 < wave[0] < 4000 and 9000 < wave[-1] < 10500  # Å, not log or nm
            np.testing.assert_allclose(batch.flux[i, :npix], coadd["flux"], rtol=1e-6)
            flux = batch.flux[i, :npix][~batch.mask[i, :npix]]
            assert np.isfinite(flux).all() and 0 < np.median(flux) < 1e4  # 1e-17 erg/s/cm2/Å
            row = batch.meta[i]
            assert row["survey"] == "SDSS" and row["reader"].startswith("specutils:SDSS")
            assert row["z"] == pytest.approx(z) and row["ra"] == pytest.approx(plug_ra)
            assert row["flux_unit"] == "1e-17 erg / (Angstrom s cm2)"
