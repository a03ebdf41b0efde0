"""Small, deterministic stand-in stages for pipeline tests (importable by worker processes).

They let the pipeline's machinery (chunking, resume, executors, failure rows) be tested
independently of the real models: the classifier calls a spectrum a BHB exactly when its
``subclass`` meta says so, so the right answer is known for every input.
"""

import numpy as np
from astropy.table import MaskedColumn, Table

from bhbfinder.batch import PreparedBatch

GRID = np.linspace(4000.0, 4800.0, 200)


class FakePrepare:
    """Interpolate onto a fixed grid and divide by the mean; no rest frame."""

    def __init__(self, config=None):
        self.config = config

    def run(self, raw):
        n = len(raw)
        flux = np.ones((n, GRID.size), np.float32)
        ivar = np.zeros((n, GRID.size), np.float32)
        mask = np.ones((n, GRID.size), bool)
        meta = raw.meta.copy()
        status = np.array(meta["status"], dtype=object)
        for i in np.flatnonzero(raw.ok):
            k = raw.npix[i]
            w = raw.wavelength[i, :k]
            f = np.interp(GRID, w, raw.flux[i, :k])
            if w[0] > GRID[0] or w[-1] < GRID[-1]:
                status[i] = "no coverage of the model grid"
                continue
            flux[i] = f / f.mean()
            ivar[i] = 1.0
            mask[i] = False
        meta["status"] = np.array([str(s) for s in status])
        meta["rv"] = np.zeros(n)
        return PreparedBatch(GRID, flux, ivar, mask, meta, config=self.config)


class FakeClassify:
    prepare_config = None

    def run(self, prepared):
        ok = prepared.ok
        sub = np.array([str(s) for s in prepared.meta["subclass"].filled("")])
        is_bhb = (sub == "BHB") & ok
        p = np.where(is_bhb, 0.99, 0.01)
        return Table({
            "stage1_class": MaskedColumn(np.where(is_bhb, "BHB", "A"), mask=~ok),
            "p_bhb_stage1": MaskedColumn(p, mask=~ok),
            "p_bhb_stage2": MaskedColumn(p, mask=~ok),
            "is_bhb_candidate": MaskedColumn(is_bhb, mask=~ok),
        })


class FakeBalmer:
    def run(self, prepared):
        ok = prepared.ok
        depth = 1 - prepared.flux.min(axis=1)
        return Table({"hgamma_a": MaskedColumn(depth, mask=~ok),
                      "balmer_confirmed": MaskedColumn(ok & (depth > 0.2), mask=~ok)})


class ExplodingBalmer:
    """Raises on any chunk that holds a spectrum named in ``poison``."""

    def __init__(self, poison=()):
        self.poison = set(poison)

    def run(self, prepared):
        if self.poison & {str(f) for f in prepared.meta["file"]}:
            raise RuntimeError("injected failure")
        return FakeBalmer().run(prepared)


class FakeDedup:
    def run(self, catalog):
        n = len(catalog)
        return Table({"group_id": np.arange(n), "group_size": np.ones(n, int),
                      "is_representative": np.ones(n, bool)})


#: Stand-ins for every chunk stage; the verdict is skipped, so ``is_new_bhb`` falls back to
#: Balmer-confirmed candidates.
STAGES = {"prepare": FakePrepare(), "classify": FakeClassify(), "balmer": FakeBalmer(),
          "params": None, "verdict": None, "dedup": FakeDedup()}


def spectrum_arrays(subclass="A", depth=0.5, seed=0, wave=None):
    """A LAMOST-like spectrum with one Balmer-ish line of the given depth."""
    from bhbfinder.io.base import SpectrumArrays

    rng = np.random.default_rng(seed)
    wave = 10 ** (3.5682 + 1e-4 * np.arange(3000)) if wave is None else wave
    flux = 1 - depth * np.exp(-0.5 * ((wave - 4341.7) / 8) ** 2) + rng.normal(0, 0.01, wave.size)
    ivar = np.full(wave.size, 1e4)
    meta = {"subclass": subclass, "ra": 10.0 + seed, "dec": 5.0, "snr_g": 50.0,
            "obsid": 1000 + seed, "class": "STAR"}
    return SpectrumArrays(wave, flux, ivar, np.zeros(wave.size, bool), meta)


class FakeParams:
    """Returns each spectrum's obsid as its 'teff', so row alignment can be checked."""

    def __init__(self):
        self.seen = []

    def run(self, prepared):
        self.seen.append(len(prepared))
        obsid = np.asarray(prepared.meta["obsid"], dtype=float)
        return Table({"teff": MaskedColumn(obsid, mask=~prepared.ok, unit="K",
                                           description="fake")})


class RunInterrupted(BaseException):
    """Escapes the pipeline's per-chunk guards, as a kill would stop the process."""


class InterruptingBalmer(FakeBalmer):
    """FakeBalmer that raises `RunInterrupted` after ``after`` chunks (None: never): one class
    for the interrupted run and its resumption, whose fingerprints must agree."""

    def __init__(self, after=None):
        self.after = after
        self.calls = 0

    def run(self, prepared):
        self.calls += 1
        if self.after is not None and self.calls > self.after:
            raise RunInterrupted("interrupted mid-run")
        return super().run(prepared)


class KillingBalmer(FakeBalmer):
    """FakeBalmer that kills its own worker process on chunks holding a file named in
    ``poison``, as the OOM killer or a segfault would.

    ``marker_dir`` decides how often: a chunk kills its process when ``marker_dir/always``
    exists, else only the first time (a ``killed-<name>`` file remembers it across
    processes). ``pid_dir``, when given, receives a file named after each worker's pid.
    """

    def __init__(self, poison=(), marker_dir=None, sleep=0.0, pid_dir=None):
        self.poison = set(poison)
        self.marker_dir = marker_dir
        self.sleep = sleep
        self.pid_dir = pid_dir

    def run(self, prepared):
        import os
        import time
        from pathlib import Path

        if self.pid_dir is not None:
            Path(self.pid_dir, str(os.getpid())).touch()
        if self.sleep:
            time.sleep(self.sleep)
        hit = sorted(self.poison & {Path(str(f)).name for f in prepared.meta["file"]})
        if hit and self.marker_dir is not None:
            marker = Path(self.marker_dir, f"killed-{hit[0]}")
            if Path(self.marker_dir, "always").exists() or not marker.exists():
                marker.touch()
                os.kill(os.getpid(), 9)
        return super().run(prepared)


class EchoParams:
    """Returns what the batch meta held when the stage ran: ``seen_<name>`` for each column in
    ``names`` (masked where the meta's value is masked or missing), so tests can tell that a
    value reached a stage before it ran."""

    def __init__(self, names=("ebv",)):
        self.names = tuple(names)

    def run(self, prepared):
        n = len(prepared)
        out = Table()
        for name in self.names:
            if name not in prepared.meta.colnames:
                out[f"seen_{name}"] = MaskedColumn(np.zeros(n), mask=np.ones(n, bool))
                continue
            col = prepared.meta[name]
            out[f"seen_{name}"] = MaskedColumn(np.asarray(col), mask=np.ma.getmaskarray(col))
        return out
