"""Benchmark: batched Sérsic-profile fits against the per-spectrum scipy reference.

Fits Hδ in ``--n-batched`` synthetic spectra (S/N 50, parameters drawn around BHB and A-star
values) with `bhbfinder.balmer.fit_batched` in one call, and the first ``--n-scipy`` of the same
spectra one by one with `bhbfinder.balmer.fit_scipy`; prints spectra/s of each, the speed-up and
the largest parameter difference between the two on the common spectra. Also times the whole
``balmer`` stage (continuum, three lines, Ca II K, criteria) on full LAMOST-grid spectra.

Run::

    OMP_NUM_THREADS=1 python benchmarks/bench_balmer.py
"""

import argparse
import os
import platform
import time

import numpy as np

from bhbfinder.balmer import BalmerStage, fit_batched, fit_scipy
from bhbfinder.balmer.profile import sersic_profile
from bhbfinder.batch import PreparedBatch, meta_table
from bhbfinder.spectra.lines import LINES_VACUUM

GRID = 10 ** (3.5682 + 1e-4 * np.arange(3909))

#: Sérsic (a, b, c) of the BHB-like star the whole-stage timing runs on: every line the default
#: stage measures (a spectrum without a line makes its fit wander to the iteration limit).
STAGE_LINES = {"Hdelta": (0.75, 8.0, 1.0), "Hgamma": (0.75, 9.0, 1.0), "Hbeta": (0.7, 10.0, 1.0),
               "Hepsilon": (0.7, 6.0, 1.2), "H8": (0.65, 5.0, 1.3), "H9": (0.6, 4.5, 1.3),
               "CaII_K": (0.1, 1.5, 2.0)}


def synthetic(n, snr, seed, wave, center):
    rng = np.random.default_rng(seed)
    truth = np.column_stack([rng.uniform(0.55, 0.8, n), rng.uniform(6, 14, n),
                             rng.uniform(0.7, 1.3, n), center + rng.uniform(-1, 1, n)])
    y = sersic_profile(wave, *truth.T) + rng.normal(0, 1 / snr, (n, len(wave)))
    return y, np.full(y.shape, float(snr) ** 2)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n-batched", type=int, default=2000)
    ap.add_argument("--n-scipy", type=int, default=100)
    ap.add_argument("--snr", type=float, default=50.0)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--criteria", default="lamost", help="criteria set of the whole-stage run")
    ap.add_argument("--scipy-tol", type=float, default=1e-10,
                    help="ftol/xtol/gtol of least_squares (scipy's own default is 1e-8)")
    args = ap.parse_args(argv)

    center = LINES_VACUUM["Hdelta"]
    wave = GRID[np.abs(GRID - center) <= 30.0]
    y, iv = synthetic(args.n_batched, args.snr, 1, wave, center)

    t_batch = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        res = fit_batched(wave, y, iv, center)
        t_batch.append(time.perf_counter() - t0)
    t_b = min(t_batch)

    t0 = time.perf_counter()
    ref = np.array([fit_scipy(wave, y[i], iv[i], center, tol=args.scipy_tol).params[0]
                    for i in range(args.n_scipy)])
    t_s = time.perf_counter() - t0

    rate_b = args.n_batched / t_b
    rate_s = args.n_scipy / t_s
    ok = res.converged[:args.n_scipy]
    diff = np.abs(res.params[:args.n_scipy][ok] - ref[ok]) / np.abs(ref[ok])

    # the whole stage on full LAMOST-grid spectra (every default line, Ca II K, criteria)
    flux = np.ones((args.n_batched, len(GRID)))
    for name, (a, b, c) in STAGE_LINES.items():
        flux *= sersic_profile(GRID, a, b, c, LINES_VACUUM[name])
    flux += np.random.default_rng(2).normal(0, 1 / args.snr, flux.shape)
    batch = PreparedBatch(GRID, flux.astype(np.float32),
                          np.full(flux.shape, args.snr ** 2, np.float32),
                          np.zeros(flux.shape, bool), meta_table([{}] * args.n_batched))
    stage = BalmerStage(criteria=args.criteria)
    t_run = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        stage.run(batch)
        t_run.append(time.perf_counter() - t0)
    t_stage = min(t_run)

    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}")
    print(f"Hδ window: {len(wave)} pixels, S/N {args.snr:g}")
    print(f"batched LM  : {args.n_batched:5d} spectra in {t_b:7.3f} s  "
          f"-> {rate_b:9.0f} spectra/s (best of {args.repeat}; "
          f"{res.converged.mean():.1%} converged, median {np.median(res.niter):.0f} iterations)")
    print(f"scipy (trf) : {args.n_scipy:5d} spectra in {t_s:7.3f} s  -> {rate_s:9.0f} spectra/s "
          f"(tol {args.scipy_tol:g})")
    print(f"speed-up    : {rate_b / rate_s:.0f}x")
    worst = diff.max(axis=0)
    print(f"max |batched - scipy| / scipy on {ok.sum()} common spectra: "
          + ", ".join(f"{k} {v:.1e}" for k, v in zip(("a", "b", "c", "lam0"), worst, strict=True)))
    print(f"whole balmer stage ({', '.join(stage.lines)}, Ca II K, metal index, criteria "
          f"{stage.criteria.name!r}): {args.n_batched} spectra in {t_stage:.2f} s -> "
          f"{args.n_batched / t_stage:.0f} spectra/s (best of {args.repeat})")


if __name__ == "__main__":
    main()
