"""Part files of a run (bhbfinder.pipeline.parts) and the plain-tree ASDF reader (_tree)."""

import subprocess
import sys
import zipfile

import astropy.units as u
import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from astropy.table import Column, MaskedColumn, Table

from bhbfinder.pipeline.parts import PartFiles, read_part, write_part


def _chunk(first=0, n=5):
    t = Table()
    t["_input_index"] = np.arange(first, first + n, dtype=np.int64)
    t["file"] = Column([f"spec-{i}.fits.gz" for i in range(n)], description="input file")
    t["status"] = np.array(["ok", "truncated file", "ok", "ok", "ok"][:n])
    t["teff"] = MaskedColumn(np.linspace(7000, 9000, n), mask=[False, True, False, True, False][:n],
                             unit=u.K, description="effective temperature")
    prob = np.arange(n * 6, dtype=float).reshape(n, 6) / 10
    t["stage1_prob"] = MaskedColumn(prob, mask=np.repeat(t["teff"].mask[:, None], 6, axis=1))
    t["is_bhb_candidate"] = MaskedColumn(np.array([True, False, True, False, False][:n]),
                                         mask=t["teff"].mask)
    t["logg"] = MaskedColumn(np.full(n, 3.2), unit=u.dex)
    return t


def _assert_same(a, b):
    assert a.colnames == b.colnames
    for name in a.colnames:
        ca, cb = a[name], b[name]
        assert ca.dtype == cb.dtype, name
        assert ca.shape == cb.shape, name
        assert ca.unit == cb.unit, name
        assert ca.info.description == cb.info.description, name
        assert isinstance(cb, MaskedColumn) == isinstance(ca, MaskedColumn), name
        assert np.array_equal(np.ma.getmaskarray(ca), np.ma.getmaskarray(cb)), name
        assert np.array_equal(np.asarray(ca), np.asarray(cb)), name


def test_npz_part_round_trip_is_exact(tmp_path):
    table = _chunk()
    path = write_part(table, tmp_path / "part-000000000.npz")
    assert path.suffix == ".npz" and path.exists()
    assert not list(tmp_path.glob(".*tmp"))
    # no pickled objects inside: every member is a plain .npy array
    with zipfile.ZipFile(path) as zf:
        assert all(name.endswith(".npy") for name in zf.namelist())
    _assert_same(table, read_part(path))


def test_mixin_columns_fall_back_to_asdf(tmp_path):
    table = _chunk(n=3)
    table["coord"] = SkyCoord([10, 20, 30] * u.deg, [-5, 0, 5] * u.deg)
    path = write_part(table, tmp_path / "part-000000000.npz")
    assert path.suffix == ".asdf"
    back = read_part(path)
    assert np.allclose(back["coord"].ra.deg, [10, 20, 30])
    assert np.array_equal(back["teff"].mask, table["teff"].mask)


def test_part_files_collects_indices_and_clears(tmp_path):
    parts = PartFiles(tmp_path / "catalog.fits", "_input_index")
    assert parts.folder == tmp_path / "catalog.fits.parts"
    assert parts.read_all() == [] and parts.done_indices() == set()
    parts.write(_chunk(0))
    parts.write(_chunk(5))
    assert [p.name for p in parts.files()] == ["part-000000000.npz", "part-000000005.npz"]
    assert parts.done_indices() == set(range(10))
    parts.clear()
    assert not parts.folder.exists()


def test_read_part_rejects_foreign_npz(tmp_path):
    path = tmp_path / "part-000000000.npz"
    np.savez(path, header=np.array('{"format": "other"}'))
    with pytest.raises(ValueError, match="not a bhbfinder part file"):
        read_part(path)


def test_open_plain_asdf_reads_without_extension_packages(tmp_path):
    """The quick reader gives the same tree and never imports asdf-astropy (fresh process)."""
    import asdf

    path = tmp_path / "plain.asdf"
    tree = {"weights": {"w": np.arange(12.0).reshape(3, 4)}, "classes": ["BHB", "A"],
            "threshold": 0.85, "config": {"widths": [8, 16]}}
    asdf.AsdfFile({"model": tree}).write_to(path)
    code = (
        "import sys, numpy as np\n"
        "from bhbfinder._tree import open_plain_asdf\n"
        f"with open_plain_asdf({str(path)!r}) as af:\n"
        "    m = af.tree['model']\n"
        "    w = np.asarray(m['weights']['w'])\n"
        "    print(w.sum(), m['classes'], m['threshold'], m['config']['widths'])\n"
        "print('asdf_astropy' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split("\n")
    assert out[0] == "66.0 ['BHB', 'A'] 0.85 [8, 16]"
    assert out[1] == "False"


def test_part_keeps_the_stage_meta(tmp_path):
    table = _chunk()
    table.meta["classes"] = ["BHB", "A", "B", "HotSD", "WD", "other"]
    table.meta["bhb_threshold"] = 0.85
    table.meta["not_json"] = object()  # dropped, not an error
    back = read_part(write_part(table, tmp_path / "part-000000000.npz"))
    assert dict(back.meta) == {"classes": table.meta["classes"], "bhb_threshold": 0.85}
