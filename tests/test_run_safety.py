"""Runs that cannot be mixed up: fingerprint and resume, overwrite, lock, output checked first."""

import shutil

import numpy as np
import pytest

from bhbfinder import find_bhb
from bhbfinder.catalog import read_catalog
from bhbfinder.errors import ConfigurationError, ResumeMismatchError, RunLockedError
from bhbfinder.io.lamost import write_lamost
from bhbfinder.pipeline.checkpoint import FINGERPRINT_FILE, RunLock

from .fakestages import STAGES, FakeBalmer, spectrum_arrays


class _Stop(BaseException):
    """Escapes the pipeline's guards, as a kill would."""


class StoppingBalmer(FakeBalmer):
    """FakeBalmer that stops the run after ``after`` chunks (None: never)."""

    calls = 0

    def __init__(self, after=None, threshold=0.2):
        self.after = after
        self.threshold = threshold
        self.calls = 0

    def run(self, prepared):
        self.calls += 1
        StoppingBalmer.calls += 1
        if self.after is not None and self.calls > self.after:
            raise _Stop("stopped")
        return super().run(prepared)


def _write(folder, n, start=0):
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(start, start + n):
        a = spectrum_arrays("BHB" if i % 3 == 0 else "A", seed=i)
        write_lamost(folder / f"spec-{i:03d}.fits", a.wavelength, a.flux, a.ivar, meta=a.meta)
    return folder


@pytest.fixture
def data(tmp_path):
    return _write(tmp_path / "data", 7)


def _interrupt(source, out, **kwargs):
    with pytest.raises(_Stop):
        find_bhb(source, stages=dict(STAGES, balmer=StoppingBalmer(after=1)), batch_size=3,
                 output=out, **kwargs)
    assert (out.parent / (out.name + ".parts")).is_dir() and not out.exists()


def _resume(source, out, **kwargs):
    return find_bhb(source, stages=dict(STAGES, balmer=StoppingBalmer()), batch_size=3,
                    output=out, resume=True, **kwargs)


def test_resume_refuses_an_added_file_naming_it(data, tmp_path):
    out = tmp_path / "cat.ecsv"
    _interrupt(str(data), out)
    _write(data, 1, start=7)
    with pytest.raises(ResumeMismatchError, match=r"1 input\(s\) added.*spec-007\.fits"):
        _resume(str(data), out)
    assert not out.exists()


def test_resume_refuses_other_inputs(data, tmp_path):
    other = _write(tmp_path / "other", 7, start=20)
    out = tmp_path / "cat.ecsv"
    _interrupt(str(data), out)
    with pytest.raises(ResumeMismatchError, match=r"7 input\(s\) added.*7 input\(s\) no longer"):
        _resume(str(other), out)


def test_resume_refuses_another_model_file(data, tmp_path):
    from bhbfinder.classify.modelfile import default_model_path

    model = tmp_path / "model.asdf"
    shutil.copy(default_model_path(), model)
    out = tmp_path / "cat.ecsv"
    # the real prepare and classify stages, with the model given as a file
    stages = {"balmer": StoppingBalmer(after=1), "params": None, "dedup": STAGES["dedup"]}
    with pytest.raises(_Stop):
        find_bhb(str(data), stages=stages, batch_size=3, output=out, model=model,
                 balmer_classes=None)
    with model.open("ab") as fh:  # same path, other content
        fh.write(b"\n")
    stages["balmer"] = StoppingBalmer()
    with pytest.raises(ResumeMismatchError, match="content of the model file"):
        find_bhb(str(data), stages=stages, batch_size=3, output=out, model=model,
                 balmer_classes=None, resume=True)
    with pytest.raises(ResumeMismatchError, match="the model file: .*model.asdf' then, "
                                                  "'.*msfanet_default.asdf' now"):
        find_bhb(str(data), stages=stages, batch_size=3, output=out, balmer_classes=None,
                 resume=True)


def test_resume_refuses_other_stage_options_and_classes(data, tmp_path):
    out = tmp_path / "cat.ecsv"
    _interrupt(str(data), out)
    with pytest.raises(ResumeMismatchError, match="balmer_classes"):
        _resume(str(data), out, balmer_classes=None)
    with pytest.raises(ResumeMismatchError, match="the balmer stage: 'StoppingBalmer' then, "
                                                  "'FakeBalmer' now"):
        find_bhb(str(data), stages=STAGES, batch_size=3, output=out, resume=True)


def test_resume_with_the_same_arguments_completes(data, tmp_path):
    full = find_bhb(str(data), stages=dict(STAGES, balmer=StoppingBalmer()), batch_size=3)
    out = tmp_path / "cat.ecsv"
    _interrupt(str(data), out)
    resumed = _resume(str(data), out)
    assert [str(f) for f in resumed["file"]] == [str(f) for f in full["file"]]
    assert np.array_equal(resumed["hgamma_a"], full["hgamma_a"])
    assert not (tmp_path / "cat.ecsv.parts").exists()
    assert not (tmp_path / "cat.ecsv.lock").exists()


def test_resume_refuses_chunks_without_fingerprint(data, tmp_path):
    out = tmp_path / "cat.ecsv"
    _interrupt(str(data), out)
    (tmp_path / "cat.ecsv.parts" / FINGERPRINT_FILE).unlink()
    with pytest.raises(ResumeMismatchError, match="without a readable run.json"):
        _resume(str(data), out)


def test_rerun_without_resume_keeps_interrupted_chunks(data, tmp_path):
    out = tmp_path / "cat.ecsv"
    _interrupt(str(data), out)
    parts = sorted((tmp_path / "cat.ecsv.parts").glob("part-*"))
    with pytest.raises(ConfigurationError, match=r"1 finished chunk.*--resume.*--overwrite"):
        find_bhb(str(data), stages=STAGES, output=out)
    assert sorted((tmp_path / "cat.ecsv.parts").glob("part-*")) == parts
    cat = find_bhb(str(data), stages=STAGES, output=out, overwrite=True)
    assert len(cat) == 7 and out.exists()


def test_existing_output_is_not_overwritten(data, tmp_path):
    out = tmp_path / "cat.fits"
    out.write_bytes(b"precious")
    calls = StoppingBalmer.calls
    with pytest.raises(ConfigurationError, match="exists.*--overwrite"):
        find_bhb(str(data), stages=dict(STAGES, balmer=StoppingBalmer()), output=out)
    assert out.read_bytes() == b"precious"
    assert StoppingBalmer.calls == calls, "refused before any work"
    find_bhb(str(data), stages=STAGES, output=out, overwrite=True)
    assert len(read_catalog(out)) == 7


def test_output_that_is_an_input_is_refused_even_with_overwrite(data, tmp_path):
    victim = sorted(data.glob("*.fits"))[0]
    before = victim.read_bytes()
    with pytest.raises(ConfigurationError, match="also one of the inputs"):
        find_bhb(sorted(str(p) for p in data.glob("*.fits")), stages=STAGES, output=victim,
                 overwrite=True)
    assert victim.read_bytes() == before


def test_output_inside_the_input_folder_is_not_read_back(data):
    out = data / "cat.fits"
    first = find_bhb(str(data), stages=STAGES, output=out)
    again = find_bhb(str(data), stages=STAGES, output=out, overwrite=True)
    assert len(first) == len(again) == 7
    assert str(out) not in [str(f) for f in again["file"]]


@pytest.mark.parametrize("name, match", [("cat.csv", "ecsv"), ("cat.dat", "unknown catalogue"),
                                         ("adir", "is a directory")])
def test_bad_output_is_refused_before_the_run(data, tmp_path, name, match):
    (tmp_path / "adir").mkdir()
    calls = StoppingBalmer.calls
    with pytest.raises(ConfigurationError, match=match):
        find_bhb(str(data), stages=dict(STAGES, balmer=StoppingBalmer()),
                 output=tmp_path / name)
    assert StoppingBalmer.calls == calls
    assert not (tmp_path / (name + ".parts")).exists()


def test_lock_stops_a_second_run_on_the_same_output(data, tmp_path):
    out = tmp_path / "cat.ecsv"
    with RunLock(out):  # a run in progress (this process holds the lock)
        with pytest.raises(RunLockedError, match=r"being written by another bhbfinder run.*pid"):
            find_bhb(str(data), stages=STAGES, output=out)
    assert not out.exists()
    find_bhb(str(data), stages=STAGES, output=out)  # released: runs
    assert out.exists() and not (tmp_path / "cat.ecsv.lock").exists()


def test_lock_held_by_another_process(data, tmp_path):
    import subprocess
    import sys

    out = tmp_path / "cat.ecsv"
    code = ("import sys, time\nfrom bhbfinder.pipeline.checkpoint import RunLock\n"
            f"lock = RunLock({str(out)!r}).acquire()\nprint('locked', flush=True)\n"
            "sys.stdin.read()\n")
    holder = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(RunLockedError, match=f"pid {holder.pid}"):
            find_bhb(str(data), stages=STAGES, output=out)
    finally:
        holder.kill()
        holder.wait()
    find_bhb(str(data), stages=STAGES, output=out)  # the dead holder's lock is gone
    assert out.exists()
