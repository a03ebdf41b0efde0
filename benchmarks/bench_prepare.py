"""Throughput of the ``prepare`` stage on one core.

Makes ``--n`` synthetic LAMOST-like spectra (3909 log-linear pixels, 3690–9100 Å, A-type Balmer
lines, radial velocities ±400 km/s, S/N 30, a few masked pixels and cosmic rays) and times
`bhbfinder.spectra.prepare.prepare` on them:

- with a trustworthy catalogue redshift (the usual LAMOST case),
- with every RV measured by cross-correlation (``rest_frame="xcorr"``).

Run::

    python benchmarks/bench_prepare.py            # 2000 spectra, default grid
    python benchmarks/bench_prepare.py --grid lamost-full

Threads are pinned to one before numpy is imported, so the figure is per core.
"""

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402


def make_batch(n, seed=0):
    from bhbfinder.batch import RawBatch
    from bhbfinder.spectra.lines import C_KMS
    from bhbfinder.spectra.rv_templates import template_flux

    rng = np.random.default_rng(seed)
    npix = 3909
    wave = 10 ** (3.5682 + 1e-4 * np.arange(npix))
    rv = rng.uniform(-400, 400, n)
    names = ("BHB", "A", "F", "G")
    base = {name: template_flux(name, wave / (1 + 0.0)) for name in names}
    flux = np.empty((n, npix))
    for i in range(n):
        # shift by interpolating a rest-frame template: cheap and good enough for timing
        tpl = base[names[i % len(names)]]
        flux[i] = np.interp(wave / (1 + rv[i] / C_KMS), wave, tpl)
    cont = 100 * (1 + 0.3 * (wave - 5000) / 4000)
    flux *= cont
    sigma = flux / 30.0
    flux += rng.normal(size=flux.shape) * sigma
    ivar = 1 / sigma**2
    mask = rng.random(flux.shape) < 0.002
    ivar[mask] = 0
    hits = rng.integers(0, npix, size=(n, 2))
    flux[np.arange(n)[:, None], hits] *= 4
    meta = [{"file": f"synthetic-{i}", "z": rv[i] / C_KMS, "z_err": 1e-5} for i in range(n)]
    from bhbfinder.batch import meta_table

    return RawBatch(np.broadcast_to(wave, (n, npix)).copy(), flux.astype(np.float32),
                    ivar.astype(np.float32), mask, np.full(n, npix), meta_table(meta)), rv


def bench(raw, config, repeat):
    from bhbfinder.spectra.prepare import prepare

    best_cpu = best_wall = np.inf
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        out = prepare(raw, config)
        best_wall = min(best_wall, time.perf_counter() - t0)
        best_cpu = min(best_cpu, time.process_time() - c0)
    return out, best_cpu, best_wall


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--grid", default="blue-3800-5000")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:  # pragma: no cover
        pass
    from bhbfinder.spectra.lines import C_KMS
    from bhbfinder.spectra.prepare import PrepareConfig

    raw, rv = make_batch(args.n)
    print(f"{args.n} synthetic LAMOST-like spectra x 3909 px, grid {args.grid!r}, 1 thread")
    for label, config in (("catalogue z", PrepareConfig(grid=args.grid)),
                          ("xcorr RV", PrepareConfig(grid=args.grid, rest_frame="xcorr"))):
        out, cpu, wall = bench(raw, config, args.repeat)
        line = (f"  {label:12s}: {args.n / cpu:7.0f} spectra/s of CPU time "
                f"({args.n / wall:7.0f} /s wall), best of {args.repeat}")
        if label == "xcorr RV":
            d = np.asarray(out.meta["rv"]) - rv
            line += f"; RV - truth: mean {np.nanmean(d):+.2f}, std {np.nanstd(d):.2f} km/s"
        print(line)
        assert (out.meta["status"] == "ok").all()
    del C_KMS


if __name__ == "__main__":
    main()
