"""The pipeline over LAMOST-layout files: failure rows, resume after a kill, executors agree.

Stand-in stages (tests/fakestages.py) make the right answer known for every file, so these
tests check the machinery: each input exactly once, the right status, no lost work.
"""

import numpy as np
import pytest

from bhbfinder import find_bhb
from bhbfinder.catalog import read_catalog
from bhbfinder.io.lamost import write_lamost

from .fakestages import STAGES, InterruptingBalmer, RunInterrupted, spectrum_arrays

N_GOOD = 14


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    """A nested LAMOST-like archive: good files of both layouts, gzip variants, broken files."""
    root = tmp_path_factory.mktemp("archive")
    expected = {}
    for i in range(N_GOOD):
        sub = root / f"2026010{i % 3}" / f"plan{i % 2}"
        sub.mkdir(parents=True, exist_ok=True)
        arrays = spectrum_arrays("BHB" if i % 4 == 0 else "A", seed=i)
        compress = [False, "gzip", "gzip-as-fits"][i % 3]
        path = write_lamost(sub / f"spec-{i:03d}.fits", arrays.wavelength, arrays.flux,
                            arrays.ivar, meta=arrays.meta, layout="AB"[i % 2],
                            compress=compress)
        expected[str(path)] = "ok"
    (root / "notes.fits").write_text("this is not a FITS file")
    expected[str(root / "notes.fits")] = "bad"
    good = next(iter(expected))
    truncated = root / "20260100" / "truncated.fits"
    truncated.write_bytes(open(good, "rb").read()[:4000])
    expected[str(truncated)] = "bad"
    return root, expected


def _check_rows(cat, expected):
    files = [str(f) for f in cat["file"]]
    assert sorted(files) == sorted(expected), "every input exactly once"
    for f, status in zip(files, cat["status"]):
        if expected[f] == "ok":
            assert status == "ok", (f, status)
        else:
            assert status != "ok" and len(status) > 3, (f, status)


def test_directory_walk_statuses_and_verdicts(archive):
    root, expected = archive
    cat = find_bhb(str(root), stages=STAGES, batch_size=4, progress=False)
    _check_rows(cat, expected)
    ok = np.asarray(cat["status"]) == "ok"
    cand = np.asarray(cat["is_bhb_candidate"].filled(False))
    assert cand[ok].sum() == len([i for i in range(N_GOOD) if i % 4 == 0])
    assert all(np.ma.is_masked(v) for v in cat["is_bhb_candidate"][~ok])


def _frozen(cat):
    cols = ["file", "status", "stage1_class", "p_bhb_stage1", "is_bhb_candidate",
            "balmer_confirmed", "hgamma_a", "group_id", "is_new_bhb"]
    return [tuple(str(row[c]) for c in cols) for row in cat]


@pytest.mark.parametrize("ext", [".ecsv", ".fits"])
def test_resume_after_kill_equals_uninterrupted(archive, tmp_path, ext):
    root, expected = archive
    full = find_bhb(str(root), stages=STAGES, batch_size=3, progress=False,
                    output=tmp_path / f"full{ext}")
    out = tmp_path / f"resumed{ext}"
    with pytest.raises(RunInterrupted):
        find_bhb(str(root), stages=dict(STAGES, balmer=InterruptingBalmer(after=2)), batch_size=3,
                 progress=False, output=out)
    parts = sorted((tmp_path / f"resumed{ext}.parts").glob("part-*"))
    assert len(parts) == 2 and not out.exists()
    resumed = find_bhb(str(root), stages=dict(STAGES, balmer=InterruptingBalmer()), batch_size=3,
                       progress=False, output=out, resume=True)
    _check_rows(resumed, expected)
    assert _frozen(resumed) == _frozen(full)
    assert _frozen(read_catalog(out)) == _frozen(read_catalog(tmp_path / f"full{ext}"))
    assert not (tmp_path / f"resumed{ext}.parts").exists()


def test_processes_and_dask_match_serial(archive, tmp_path):
    distributed = pytest.importorskip("distributed")
    root, expected = archive
    serial = find_bhb(str(root), stages=STAGES, batch_size=4, progress=False,
                      output=tmp_path / "serial.ecsv")
    procs = find_bhb(str(root), stages=STAGES, batch_size=4, progress=False, executor=2,
                     output=tmp_path / "procs.ecsv")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        dask = find_bhb(str(root), stages=STAGES, batch_size=4, progress=False,
                        executor=client, output=tmp_path / "dask.ecsv")
    _check_rows(dask, expected)
    assert _frozen(serial) == _frozen(procs) == _frozen(dask)


def test_cli_find_writes_catalogue(archive, tmp_path, monkeypatch):
    from bhbfinder import cli, pipeline

    root, expected = archive
    real = pipeline.find_bhb

    def with_fakes(*args, **kwargs):
        kwargs["stages"] = dict(STAGES)
        return real(*args, **kwargs)

    monkeypatch.setattr(pipeline, "find_bhb", with_fakes)
    out = tmp_path / "cat.fits"
    assert cli.main(["find", str(root), "-o", str(out), "--quiet", "--batch-size", "5"]) == 0
    cat = read_catalog(out)
    _check_rows(cat, expected)
