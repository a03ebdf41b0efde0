"""The catalogue on disk: every format gives back what was written (masks, units, meta, text)."""

import os

import astropy.units as u
import numpy as np
import pytest
from astropy.table import Column, MaskedColumn, Table

from bhbfinder import find_bhb
from bhbfinder._text import escape_text
from bhbfinder.catalog import (
    CATALOG_COLUMNS,
    FORMATS,
    catalog_format,
    check_output,
    read_catalog,
    write_catalog,
)
from bhbfinder.errors import ConfigurationError
from bhbfinder.io.lamost import write_lamost

from .fakestages import STAGES, spectrum_arrays

#: One file per format write_catalog supports (parquet needs pandas to be read back).
EXTENSIONS = [".fits", ".ecsv", ".asdf", ".vot", ".parquet"]
NOT_UTF8 = b"/data/spec-\xff\xfe.fits".decode("utf-8", "surrogateescape")


def _catalog():
    """A catalogue with every kind of column a run produces, masked where a run masks."""
    t = Table()
    t["file"] = Column([NOT_UTF8, "/data/b.fits", "/data/c.fits", "/data/d.fits"],
                       description="input file")
    t["designation"] = MaskedColumn(["J0012é+01", "J0013+02", "", "x"],
                                    mask=[False, False, False, True], description="designation")
    t["status"] = ["ok", "ok", "ok", "truncated file"]
    t["obsid"] = MaskedColumn(np.array([5, 999999, -1, 0], np.int64),
                              mask=[False, False, False, True], description="obsid")
    # data True under the mask: what a failed row holds in memory
    t["is_bhb_candidate"] = MaskedColumn([True, False, True, True],
                                         mask=[False, False, False, True], description="cand")
    t["in_bhb_cmd_region"] = MaskedColumn(np.ones(4, bool), mask=np.ones(4, bool),
                                          description="cmd")
    t["known_catalog"] = MaskedColumn(["", "xue2011", "", ""], mask=[False, False, True, True],
                                      description="known")
    t["teff"] = MaskedColumn([8000.0, np.nan, 9000.0, 0.0], mask=[False, False, True, True],
                             unit=u.K, description="effective temperature")
    t["logg"] = MaskedColumn([3.1, 3.2, 0.0, 0.0], mask=[False, False, True, True], unit=u.dex,
                             description="surface gravity")
    t["stage1_prob"] = MaskedColumn(np.arange(24.0).reshape(4, 6) / 24,
                                    mask=np.repeat([[False], [False], [False], [True]], 6, 1),
                                    description="stage-1 probabilities")
    t["plain_float"] = Column([1.0, np.nan, 3.0, 4.0], description="not masked, one NaN")
    t.meta["summary"] = {"n_spectra": 4, "status": {"ok": 3, "truncated file": 1}}
    t.meta["stages"] = {"classify": "msfanet", "known": "not run"}
    t.meta["class_order"] = ["BHB", "A", "B", "HotSD", "WD", "other"]
    t.meta["note"] = "Sérsic fits"
    return t


def _same_values(a, b, name):
    mask = np.ma.getmaskarray(a)
    assert np.array_equal(mask, np.ma.getmaskarray(b)), f"{name}: mask"
    da, db = np.asarray(a), np.asarray(b)
    if da.dtype.kind == "f":
        assert np.array_equal(da[~mask], db[~mask], equal_nan=True), name
    else:
        assert da[~mask].tolist() == db[~mask].tolist(), name


@pytest.mark.parametrize("ext", EXTENSIONS)
def test_round_trip_keeps_masks_units_descriptions_meta(tmp_path, ext):
    if ext == ".parquet":
        pytest.importorskip("pyarrow")
        pytest.importorskip("pandas")
    table = _catalog()
    path = write_catalog(table, tmp_path / f"cat{ext}")
    back = read_catalog(path)
    assert back.colnames == table.colnames
    ascii_only = catalog_format(path) == "fits"
    for name in table.colnames:
        a = table[name]
        if a.dtype.kind == "U":  # text the format cannot encode comes back escaped
            a = MaskedColumn([escape_text(str(v), ascii_only) for v in np.asarray(a)],
                             mask=np.ma.getmaskarray(a))
        _same_values(a, back[name], name)
        assert back[name].info.description == table[name].info.description, name
        assert getattr(back[name], "unit", None) == table[name].unit, name
    for key in ("summary", "stages", "class_order"):
        assert back.meta[key] == table.meta[key], key
    assert back["file"][0] == "/data/spec-\\xff\\xfe.fits"


def test_fits_masks_survive_a_plain_astropy_read(tmp_path):
    """Other tools see masked booleans as masked (or False), never as True."""
    path = write_catalog(_catalog(), tmp_path / "cat.fits")
    plain = Table.read(path)
    assert np.ma.getmaskarray(plain["is_bhb_candidate"]).tolist() == [False, False, False, True]
    assert np.ma.getmaskarray(plain["in_bhb_cmd_region"]).all()
    from astropy.io import fits

    with fits.open(path) as hdul:
        raw = hdul[1].data
        assert not raw["in_bhb_cmd_region"].any()
        assert raw["is_bhb_candidate"].tolist() == [True, False, True, False]


def test_write_refuses_existing_file_without_overwrite(tmp_path):
    path = write_catalog(_catalog(), tmp_path / "cat.ecsv")
    with pytest.raises(ConfigurationError, match="exists.*overwrite"):
        write_catalog(_catalog(), path)
    write_catalog(_catalog()[:2], path, overwrite=True)
    assert len(read_catalog(path)) == 2


@pytest.mark.parametrize("name, match", [("cat.csv", "ecsv"), ("cat.txt", "unknown catalogue"),
                                         ("adir", "directory")])
def test_check_output_refuses_bad_targets(tmp_path, name, match):
    (tmp_path / "adir").mkdir()
    with pytest.raises(ConfigurationError, match=match):
        check_output(tmp_path / name)


def test_every_format_extension_is_known():
    for ext, fmt in FORMATS.items():
        assert catalog_format(f"x{ext}") == fmt


@pytest.fixture(scope="module")
def awkward_archive(tmp_path_factory):
    """Good files, one named with bytes that are not UTF-8, one with a non-ASCII header card,
    and a file that is not FITS."""
    root = tmp_path_factory.mktemp("awkward")
    for i in range(4):
        arrays = spectrum_arrays("BHB" if i % 2 == 0 else "A", seed=i)
        meta = dict(arrays.meta, designation=f"J00112{i}.33+445566.7")
        write_lamost(root / f"spec-{i}.fits", arrays.wavelength, arrays.flux, arrays.ivar,
                     meta=meta)
    raw = (root / "spec-1.fits").read_bytes()
    (root / "spec-1.fits").write_bytes(raw.replace(b"J001121.33+445566.7",
                                                   b"J001121.33+44556\xe9.7"))
    os.rename(os.fsencode(root / "spec-2.fits"), os.fsencode(root) + b"/spec-\xff.fits")
    (root / "notes.fits").write_text("not a FITS file")
    return root


@pytest.mark.parametrize("ext", [".fits", ".ecsv", ".vot"])
def test_run_writes_awkward_text_and_failed_rows_faithfully(awkward_archive, tmp_path, ext):
    out = tmp_path / f"cat{ext}"
    cat = find_bhb(str(awkward_archive), stages=STAGES, progress=False, output=out)
    back = read_catalog(out)
    assert len(back) == len(cat) == 5
    failed = np.asarray(back["status"]) != "ok"
    assert failed.sum() == 1
    assert np.ma.getmaskarray(back["is_bhb_candidate"])[failed].all()
    assert np.ma.getmaskarray(back["balmer_confirmed"])[failed].all()
    # nothing checked the Gaia CMD offline: masked everywhere, not True
    assert np.ma.getmaskarray(back["in_bhb_cmd_region"]).all()
    assert np.asarray(back["is_bhb_candidate"].filled(False)).sum() == \
        np.asarray(cat["is_bhb_candidate"].filled(False)).sum()
    assert sorted(back.meta) == sorted(cat.meta)
    assert back.meta["summary"] == cat.meta["summary"]
    files = [str(f) for f in back["file"]]
    assert any(f.endswith("spec-\\xff.fits") for f in files)
    if ext == ".fits":
        assert "J001121.33+44556\\ufffd.7" in [str(d) for d in back["designation"]]


def test_every_column_of_a_real_run_is_described(shared_data, tmp_path):
    files = sorted((shared_data / "lamost" / "dr1").glob("*.fits"))[:2]
    files.append(tmp_path / "missing.fits")
    cat = find_bhb([str(f) for f in files], progress=False, batch_size=2,
                   output=tmp_path / "cat.fits")
    undescribed = [n for n in cat.colnames if not cat[n].info.description]
    assert undescribed == []
    assert set(CATALOG_COLUMNS) <= set(cat.colnames)
    # stage1_prob's description points to meta["classes"]: it is there, in memory and in FITS
    assert "meta['classes']" in cat["stage1_prob"].info.description
    back = read_catalog(tmp_path / "cat.fits")
    assert back.meta["classes"] == cat.meta["classes"] == ["BHB", "A", "B", "HotSD", "WD",
                                                           "other"]
    assert back.meta["stage_status"] == cat.meta["stage_status"]
