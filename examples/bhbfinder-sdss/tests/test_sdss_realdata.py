"""The four real SDSS files of the shared data folder (3 SDSS-I/II, 1 BOSS), read and searched.

The expected values come from an independent read of HDU 2 with astropy, not from the reader.
"""

import re
import warnings

import numpy as np
import pytest
from astropy.io import fits
from bhbfinder_sdss import SDSSReader
from bhbfinder_sdss.reader import _raw_first_row

from bhbfinder import plugins
from bhbfinder.io.base import SpectrumArrays
from bhbfinder.io.read import read_batch

pytestmark = pytest.mark.realdata

NAME = re.compile(r"spec-(\d{4})-(\d{5})-(\d{4})")


def hdu2(path):
    """HDU 2's row (SPECOBJ or SPALL) and its name, read here with astropy alone."""
    with fits.open(path) as hdul:
        return hdul[2].data[0], hdul[2].name


def test_every_file_is_read_with_the_right_values(pm, sdss_paths):
    assert len(sdss_paths) == 4
    layouts = []
    for path in sdss_paths:
        reader = plugins.get_reader(path)
        assert isinstance(reader, SDSSReader)
        arrays = reader.read_arrays(path)
        row, extname = hdu2(path)
        meta = arrays.meta
        assert meta["z"] == pytest.approx(float(row["Z"]), rel=1e-6)
        assert meta["z_err"] == pytest.approx(float(row["Z_ERR"]), rel=1e-6)
        assert meta["class"] == row["CLASS"].strip()
        assert meta["ra"] == pytest.approx(float(row["PLUG_RA"]), abs=1e-9)
        assert meta["dec"] == pytest.approx(float(row["PLUG_DEC"]), abs=1e-9)
        assert meta["snr_g"] == pytest.approx(float(row["SN_MEDIAN"][1]), rel=1e-6)
        plate, mjd, fiber = NAME.match(path.name).groups()
        assert meta["designation"] == f"{plate}-{mjd}-{fiber}"
        assert meta["mjd"] == int(mjd)
        assert meta["reader"] == "SDSS" and meta["survey"] == "SDSS" and meta["obsid"] is None
        # a log-λ grid of 1e-4 dex from the blue to the near-IR, mostly good pixels
        dloglam = np.diff(np.log10(arrays.wavelength))
        np.testing.assert_allclose(dloglam, 1e-4, atol=1e-6)  # loglam is stored as float32
        assert 3550 < arrays.wavelength[0] < 3850 and 9000 < arrays.wavelength[-1] < 10500
        assert np.count_nonzero(~arrays.mask) > 0.9 * arrays.mask.size
        layouts.append((meta["layout"], extname))
    assert sorted(layouts) == [("BOSS spec", "SPALL")] + [("SDSS-I/II spec", "SPECOBJ")] * 3


def _plain(value):
    if isinstance(value, (bytes, np.bytes_)):
        value = value.decode()
    return value.strip() if isinstance(value, str) else np.asarray(value)


def test_raw_hdu2_read_matches_astropy_on_every_column(sdss_paths):
    for path in sdss_paths:
        extname, row = _raw_first_row(str(path))
        record, name = hdu2(path)
        assert extname == name
        assert list(row) == [n.upper() for n in record.array.names]
        for column in record.array.names:
            np.testing.assert_array_equal(_plain(row[column.upper()]), _plain(record[column]),
                                          err_msg=f"{path.name} {column}")


def test_white_dwarf_meta(sdss_paths):
    (path,) = [p for p in sdss_paths if "4455" in p.name]
    meta = SDSSReader().read_arrays(path).meta
    assert meta["class"] == "STAR" and meta["subclass"] == "WDhotter"
    assert meta["data_release"] == "v5_7_0"
    assert meta["snr_g"] == pytest.approx(48.62, abs=0.01)


def test_read_spectrum_agrees_with_read_arrays(sdss_paths):
    reader = SDSSReader()
    for path in sdss_paths:
        arrays = reader.read_arrays(path)
        back = SpectrumArrays.from_spectrum(reader.read_spectrum(path))
        # loglam is float32 in the files: the two routes to wavelengths may differ by a few
        # float32 ulps (1e-7 relative, 0.0005 Å at 5000 Å)
        np.testing.assert_allclose(back.wavelength, arrays.wavelength,
                                   rtol=4 * np.finfo(np.float32).eps)
        np.testing.assert_array_equal(back.mask, arrays.mask)
        np.testing.assert_allclose(back.flux[~arrays.mask], arrays.flux[~arrays.mask])


def test_read_batch(pm, sdss_paths):
    batch = read_batch([str(p) for p in sdss_paths])
    assert len(batch) == 4
    assert list(batch.meta["status"]) == ["ok"] * 4
    assert set(batch.meta["reader"]) == {"SDSS"}
    assert batch.npix.tolist() == [3838, 3849, 3810, 4619]


def test_find_bhb_reads_and_prepares_every_file(pm, sdss_paths):
    import bhbfinder

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        catalog = bhbfinder.find_bhb(
            [str(p) for p in sdss_paths], stages={"classify": None, "balmer": None,
                                                  "params": None}, progress=False)
    assert len(catalog) == 4
    assert list(catalog["status"]) == ["ok"] * 4
    assert list(catalog["reader"]) == ["SDSS"] * 4
    assert [str(d) for d in catalog["designation"]] == [
        NAME.match(p.name).group(0)[5:] for p in sdss_paths]


def test_find_bhb_default_stages(pm, sdss_paths):
    import bhbfinder

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        catalog = bhbfinder.find_bhb([str(p) for p in sdss_paths], progress=False)
    assert len(catalog) == 4
    assert list(catalog["status"]) == ["ok"] * 4
    assert list(catalog["reader"]) == ["SDSS"] * 4
    assert not np.ma.getmaskarray(catalog["stage1_class"]).any()
    # two galaxies, a QSO and a hot DA white dwarf (a hard negative): no BHB among them
    assert sorted(catalog["class"]) == ["GALAXY", "GALAXY", "QSO", "STAR"]
    assert not np.asarray(catalog["is_bhb_candidate"]).any()
    assert not np.asarray(catalog["is_new_bhb"]).any()
