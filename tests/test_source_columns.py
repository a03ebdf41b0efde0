"""A source table's other columns travel with its files: into the meta the batch stages see,
into the catalogue, into failure rows and into the run's fingerprint."""

import numpy as np
import pytest
from astropy.table import MaskedColumn, Table

from bhbfinder import Pipeline, find_bhb
from bhbfinder.balmer import BalmerStage
from bhbfinder.batch import RawBatch
from bhbfinder.catalog import read_catalog
from bhbfinder.errors import ConfigurationError, ResumeMismatchError
from bhbfinder.io.lamost import write_lamost
from bhbfinder.pipeline.sources import RESERVED_COLUMNS, expand_source
from bhbfinder.stages import DEFAULT_STAGES, get_stage

from .fakestages import (
    STAGES,
    EchoParams,
    InterruptingBalmer,
    RunInterrupted,
    spectrum_arrays,
)

N_GOOD = 4
#: The table's rows, as indices of `files`: neither file order nor its reverse.
ORDER = [3, 0, 4, 2, 1]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Four LAMOST-layout files (obsid 1000 + i, ra 10 + i in their headers) and a broken one."""
    root = tmp_path_factory.mktemp("srccols")
    paths = []
    for i in range(N_GOOD):
        a = spectrum_arrays("BHB" if i % 2 == 0 else "A", seed=i)
        paths.append(str(write_lamost(root / f"spec-{i:03d}.fits", a.wavelength, a.flux,
                                      a.ivar, meta=a.meta)))
    broken = root / "broken.fits"
    broken.write_text("this is not a FITS file")
    paths.append(str(broken))
    return paths


def _expected(i):
    """The table's values for file ``i`` (None: masked)."""
    return {"ebv": None if i == 2 else 0.01 * (i + 1), "bp_rp": -0.1 + 0.05 * i,
            "star": None if i == 1 else f"star-{i}", "src_obsid": 1000 + i,
            "ra": 100.0 + i, "flagged": i % 2 == 1}


def _table(files, order=ORDER):
    rows = [_expected(i) for i in order]
    table = Table({"path": [files[i] for i in order]})
    for name in ("ebv", "star"):
        values = [r[name] for r in rows]
        fill = "" if name == "star" else 0.0
        table[name] = MaskedColumn([fill if v is None else v for v in values],
                                   mask=[v is None for v in values])
    for name in ("bp_rp", "src_obsid", "ra", "flagged"):
        table[name] = [r[name] for r in rows]
    return table


def _index(files, cat):
    return [files.index(str(f)) for f in cat["file"]]


def _check_values(files, cat):
    index = _index(files, cat)
    assert index == ORDER                        # one row per table row, in table order
    for row, i in enumerate(index):
        expected = _expected(i)
        for name, value in expected.items():
            got = cat[name][row]
            got = getattr(got, "value", got)     # ra: deg in the catalogue (a QTable)
            if value is None:
                assert np.ma.is_masked(got), (name, i, got)
            elif isinstance(value, float):
                assert not np.ma.is_masked(got) and float(got) == pytest.approx(value), (name, i)
            else:
                assert not np.ma.is_masked(got) and got == value, (name, i, got)
        if i < N_GOOD:
            assert cat["status"][row] == "ok"
            # the reader's obsid (from the file itself) and the table's value for that file
            # agree on every row: the values are matched by file, not by position
            assert int(cat["obsid"][row]) == int(cat["src_obsid"][row])
        else:
            assert cat["status"][row] != "ok"    # the failure row keeps the file's values
            assert np.ma.is_masked(cat["obsid"][row])


@pytest.mark.parametrize("ext", [".ecsv", ".fits"])
def test_table_columns_reach_the_stages_and_the_catalogue(files, tmp_path, ext):
    out = tmp_path / f"cat{ext}"
    cat = find_bhb(_table(files), stages=dict(STAGES, params=EchoParams(("ebv", "bp_rp"))),
                   params_classes=None, batch_size=2, output=out)
    _check_values(files, cat)
    # the params stage saw the table's values in its meta, masked where the table's was
    ok = np.asarray(cat["status"]) == "ok"
    for name in ("ebv", "bp_rp"):
        seen, given = cat[f"seen_{name}"], cat[name]
        assert np.array_equal(np.ma.getmaskarray(seen)[ok], np.ma.getmaskarray(given)[ok])
        assert np.allclose(np.ma.filled(seen, -1.0)[ok], np.ma.filled(given, -1.0)[ok])
    assert np.ma.getmaskarray(cat["seen_ebv"]).sum() == 1        # file 2's masked E(B-V)
    assert "source table" in cat["ebv"].info.description
    _check_values(files, read_catalog(out))


def test_process_pool_gives_the_same_values(files):
    cat = find_bhb(_table(files), stages=dict(STAGES, params=EchoParams(("ebv",))),
                   params_classes=None, batch_size=2, executor=2)
    _check_values(files, cat)
    ok = np.asarray(cat["status"]) == "ok"
    assert np.array_equal(np.ma.getmaskarray(cat["seen_ebv"])[ok],
                          np.ma.getmaskarray(cat["ebv"])[ok])


def test_resolution_column_reaches_the_balmer_stage(files):
    balmer = BalmerStage(criteria="xue2008-hgamma", lines=("Hgamma",))
    good = files[:3]
    table = Table({"path": good,
                   "resolution_fwhm": MaskedColumn([3.5, 0.0, 2.0], mask=[False, True, False])})
    cat = find_bhb(table, stages=dict(STAGES, balmer=balmer), balmer_classes=None,
                   batch_size=2)
    assert [str(f) for f in cat["file"]] == good
    np.testing.assert_allclose(cat["balmer_fwhm"].value, [3.5, 2.5, 2.0])
    assert list(cat["balmer_fwhm_source"]) == ["meta", "assumed", "meta"]
    # the correction to the reference FWHM follows: none where it is assumed
    b, b_corr = cat["hgamma_b"].value, cat["hgamma_b_corr"].value
    assert b_corr[0] < b[0] - 0.1
    assert b_corr[1] == pytest.approx(b[1])
    assert np.ma.is_masked(cat["resolution_fwhm"][1])
    table = Table({"path": good, "resolving_power": [1500.0, 1800.0, 1500.0]})
    cat = find_bhb(table, stages=dict(STAGES, balmer=balmer), balmer_classes=None)
    np.testing.assert_allclose(cat["balmer_fwhm"].value, [3.0, 2.5, 3.0])
    assert set(cat["balmer_fwhm_source"]) == {"meta"}


def test_photometric_temperature_column_reaches_the_balmer_criteria(files):
    """``teff_phot`` in the table of files is what ``lamost-phot`` cuts by; a row without it
    (masked) is not confirmed and says so."""
    balmer = BalmerStage(criteria="lamost-phot")
    good = files[:3]
    table = Table({"path": good,
                   "teff_phot": MaskedColumn([8000.0, 0.0, 9000.0], mask=[False, True, False])})
    cat = find_bhb(table, stages=dict(STAGES, balmer=balmer), balmer_classes=None,
                   batch_size=2)
    reasons = [str(r) for r in cat["balmer_reason"]]
    assert reasons[1].startswith("teff_phot not given")
    assert not reasons[0].startswith("teff_phot") and not reasons[2].startswith("teff_phot")
    assert "teff_phot undefined" not in reasons[0] + reasons[2]
    np.testing.assert_allclose(np.ma.filled(cat["teff_phot"], np.nan)[[0, 2]], [8000, 9000])


@pytest.mark.parametrize("name", ["file", "status", "teff", "stage1_class", "rv",
                                  "snr_prepared", "_input_index", "ebv.mask"])
def test_reserved_column_is_refused_naming_it(files, name):
    table = _table(files)
    table[name] = np.arange(len(table)).astype(float)
    with pytest.raises(ConfigurationError, match=rf"column '{name}' clashes.*rename it"):
        find_bhb(table, stages=STAGES)


def test_path_column_itself_and_filename_beside_path(files):
    table = Table({"file": files[:2], "ebv": [0.1, 0.2]})
    cat = find_bhb(table, stages=STAGES)
    assert list(cat["ebv"]) == [0.1, 0.2] and "path" not in cat.colnames
    table = Table({"path": files[:2], "filename": ["a.fits", "b.fits"]})
    cat = find_bhb(table, stages=STAGES)
    assert list(cat["filename"]) == ["a.fits", "b.fits"]
    assert [str(f) for f in cat["file"]] == files[:2]


def test_prepare_measures_only_reserved_columns():
    # what the default prepare stage adds to the meta is refused in a source table (else the
    # stages would see the measured value and the catalogue keep the table's)
    raw = RawBatch.from_records([spectrum_arrays("A", seed=1)])
    prepared = get_stage("prepare", DEFAULT_STAGES["prepare"]).run(raw)
    added = set(prepared.meta.colnames) - set(raw.meta.colnames)
    assert added and added <= set(RESERVED_COLUMNS)


def test_columns_a_catalogue_cannot_hold_are_refused(files):
    table = Table({"path": files[:2], "spectrum": np.zeros((2, 3))})
    with pytest.raises(ConfigurationError, match=r"'spectrum' .*shape \(2, 3\).*one number"):
        find_bhb(table, stages=STAGES)
    table = Table({"path": files[:2], "stuff": np.array([{"a": 1}, None], dtype=object)})
    with pytest.raises(ConfigurationError, match=r"'stuff' .*dtype object"):
        find_bhb(table, stages=STAGES)


def test_bytes_and_units_survive(files):
    import astropy.units as u

    table = Table({"path": files[:2], "label": np.array([b"x", b"yy"]),
                   "resolution_fwhm": [3.0, 3.2] * u.AA})
    cat = find_bhb(table, stages=STAGES)
    assert list(cat["label"]) == ["x", "yy"] and cat["label"].dtype.kind == "U"
    assert cat["resolution_fwhm"].unit == u.AA
    np.testing.assert_allclose(cat["resolution_fwhm"].to_value(u.AA), [3.0, 3.2])


# -- resume ---------------------------------------------------------------------------------
def _run(source, out, after=None, **kwargs):
    return find_bhb(source, stages=dict(STAGES, balmer=InterruptingBalmer(after)), batch_size=2,
                    output=out, **kwargs)


def test_resume_refuses_other_column_values_and_resumes_the_same_table(files, tmp_path):
    out = tmp_path / "run.ecsv"
    table = _table(files)
    with pytest.raises(RunInterrupted):
        _run(table, out, after=1)
    assert (tmp_path / "run.ecsv.parts").is_dir()
    changed = table.copy()
    changed["ebv"][0] = 0.5
    with pytest.raises(ResumeMismatchError, match=r"values \(or types\) in the source table's "
                                                  r"columns ebv, star"):
        _run(changed, out, resume=True)
    renamed = table.copy()
    renamed.rename_column("ebv", "sfd_ebv")
    with pytest.raises(ResumeMismatchError, match=r"source table's columns: \['ebv'"):
        _run(renamed, out, resume=True)
    with pytest.raises(ResumeMismatchError, match="columns besides the paths"):
        _run(Table({"path": table["path"]}), out, resume=True)
    resumed = _run(table, out, resume=True)
    _check_values(files, resumed)
    _check_values(files, read_catalog(out))


def test_fingerprint_without_other_columns_is_unchanged(files):
    pipe = Pipeline(stages=STAGES)
    plain = pipe.fingerprint(expand_source(files))
    assert pipe.fingerprint(expand_source(Table({"path": files}))) == plain
    assert set(plain) == {"format", "bhbfinder", "inputs", "model", "stages", "selections"}
    with_columns = pipe.fingerprint(expand_source(_table(files, order=range(len(files)))))
    assert with_columns["inputs"] == plain["inputs"]
    assert with_columns["source_columns"]["names"] == ["ebv", "star", "bp_rp", "src_obsid",
                                                       "ra", "flagged"]


def test_a_chunk_that_fails_outright_keeps_the_values(files, monkeypatch):
    def explode(self, raw):
        raise RuntimeError("injected")

    monkeypatch.setattr(Pipeline, "process", explode)
    cat = find_bhb(_table(files), stages=STAGES, batch_size=2)
    assert all(str(s).startswith("chunk failed: RuntimeError: injected") for s in cat["status"])
    for row, i in enumerate(_index(files, cat)):
        assert np.ma.is_masked(cat["star"][row]) == (i == 1)
        if i != 1:
            assert cat["star"][row] == f"star-{i}"
        assert cat["src_obsid"][row] == 1000 + i


# -- the command line -----------------------------------------------------------------------
def test_cli_files_table_carries_its_columns(files, tmp_path, capsys):
    import os

    from bhbfinder import cli

    folder = os.path.dirname(files[0])
    table = Table({"path": [os.path.relpath(files[i], folder) for i in ORDER],
                   "ebv": [0.01 * (i + 1) for i in ORDER]})
    path = os.path.join(folder, "mine.ecsv")
    table.write(path, overwrite=True)
    out = tmp_path / "cat.ecsv"
    assert cli.main(["find", "--files-table", path, "-o", str(out), "--quiet"]) == 0
    cat = read_catalog(out)
    index = _index(files, cat)            # relative paths resolved from the table's folder
    assert sorted(index) == sorted(ORDER)
    np.testing.assert_allclose(cat["ebv"], [0.01 * (i + 1) for i in index])
    assert dict(zip(index, cat["status"], strict=True))[N_GOOD] != "ok"   # the broken file
    # INPUT and a table together, a table without a path column, a missing table, nothing
    Table({"name": ["x"]}).write(tmp_path / "nopath.ecsv")
    x = str(tmp_path / "x.ecsv")
    for argv, message in (
            ([files[0], "--files-table", path], "not both"),
            (["--files-table", str(tmp_path / "nopath.ecsv")], "no path column"),
            (["--files-table", str(tmp_path / "missing.ecsv")], "no such file"),
            ([], "nothing to read")):
        capsys.readouterr()
        assert cli.main(["find", *argv, "-o", x]) == 1
        assert message in capsys.readouterr().err
