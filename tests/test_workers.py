"""Local worker processes: a killed worker's chunk runs again once, else waits for resume;
workers die with their parent; a script without a ``__main__`` guard gets a clear error."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from bhbfinder import find_bhb
from bhbfinder.errors import IncompleteRunError
from bhbfinder.io.lamost import write_lamost

from .fakestages import STAGES, KillingBalmer, spectrum_arrays

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("workers")
    for i in range(8):
        a = spectrum_arrays("BHB" if i % 3 == 0 else "A", seed=i)
        write_lamost(folder / f"spec-{i}.fits", a.wavelength, a.flux, a.ivar, meta=a.meta)
    return folder


def _rows(cat):
    return [(str(f), str(s), str(c)) for f, s, c in
            zip(cat["file"], cat["status"], cat["is_bhb_candidate"])]


def test_killed_worker_chunk_is_retried_once(data, tmp_path):
    serial = find_bhb(str(data), stages=dict(STAGES, balmer=KillingBalmer()), batch_size=2)
    stage = KillingBalmer(poison={"spec-3.fits"}, marker_dir=str(tmp_path))
    with pytest.warns(UserWarning, match="worker process died"):
        cat = find_bhb(str(data), stages=dict(STAGES, balmer=stage), batch_size=2, executor=2,
                       output=tmp_path / "cat.ecsv")
    assert (tmp_path / "killed-spec-3.fits").exists(), "the worker was killed"
    assert _rows(cat) == _rows(serial)
    assert not any("worker failed" in str(s) for s in cat["status"])
    assert np.array_equal(cat["hgamma_a"], serial["hgamma_a"])


def test_chunk_killed_twice_is_left_for_resume(data, tmp_path):
    (tmp_path / "always").touch()
    stage = KillingBalmer(poison={"spec-5.fits"}, marker_dir=str(tmp_path))
    out = tmp_path / "cat.ecsv"
    with pytest.warns(UserWarning, match="worker process died"):
        with pytest.raises(IncompleteRunError, match=r"not processed.*died twice.*--resume"):
            find_bhb(str(data), stages=dict(STAGES, balmer=stage), batch_size=2, executor=2,
                     output=out)
    assert not out.exists()
    parts = sorted((tmp_path / "cat.ecsv.parts").glob("part-*"))
    assert parts, "the other chunks were kept"
    from bhbfinder.pipeline.parts import read_part

    saved = [str(f) for p in parts for f in read_part(p)["file"]]
    assert not any(f.endswith("spec-5.fits") for f in saved), "no final 'failed' rows"
    (tmp_path / "always").unlink()  # whatever killed it is gone: resume finishes the run
    cat = find_bhb(str(data), stages=dict(STAGES, balmer=stage), batch_size=2, executor=2,
                   output=out, resume=True)
    serial = find_bhb(str(data), stages=dict(STAGES, balmer=KillingBalmer()), batch_size=2)
    assert _rows(cat) == _rows(serial)


def _alive(pid):
    try:
        with open(f"/proc/{pid}/status") as fh:
            return "\nState:\tZ" not in fh.read()
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc")
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_workers_die_with_their_parent(data, tmp_path, sig):
    pids = tmp_path / "pids"
    pids.mkdir()
    script = tmp_path / "run.py"
    script.write_text(textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(ROOT)!r})
        from bhbfinder import find_bhb
        from tests.fakestages import STAGES, KillingBalmer

        if __name__ == "__main__":
            stage = KillingBalmer(sleep=600, pid_dir={str(pids)!r})
            find_bhb({str(data)!r}, stages=dict(STAGES, balmer=stage), batch_size=2,
                     executor=2)
    """))
    parent = subprocess.Popen([sys.executable, str(script)], cwd=tmp_path,
                              stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 240
        while len(list(pids.iterdir())) < 2 and time.monotonic() < deadline:
            assert parent.poll() is None, "the run ended early"
            time.sleep(0.2)
        workers = [int(p.name) for p in pids.iterdir()]
        assert len(workers) == 2 and all(_alive(w) for w in workers)
    finally:
        parent.send_signal(sig)
        parent.wait()
    deadline = time.monotonic() + 120  # they would sleep for 10 minutes
    while any(_alive(w) for w in workers) and time.monotonic() < deadline:
        time.sleep(0.2)
    alive = [w for w in workers if _alive(w)]
    for w in alive:  # do not leave them behind if the test fails
        os.kill(w, signal.SIGKILL)
    assert alive == []


def test_script_without_main_guard_gets_a_clear_error(data, tmp_path):
    script = tmp_path / "unguarded.py"
    script.write_text(textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(ROOT)!r})
        from bhbfinder import find_bhb
        from tests.fakestages import STAGES

        cat = find_bhb({str(data)!r}, stages=STAGES, batch_size=2, executor=2)
        print("rows", len(cat))
    """))
    run = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True,
                         text=True, timeout=600)
    assert run.returncode != 0
    assert "rows" not in run.stdout
    assert "ConfigurationError" in run.stderr
    assert 'if __name__ == "__main__":' in run.stderr
