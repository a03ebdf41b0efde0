"""Throughput of the simulator and the library builder (prints figures; no assertions).

Run: ``OMP_NUM_THREADS=1 python benchmarks/bench_simulate.py [--data ../shared/data]``
"""

import argparse
import time

import numpy as np


def _rate(label, n, seconds):
    print(f"{label:48s} {n:6d} spectra  {seconds:7.2f} s  {n / seconds:8.1f} spectra/s")


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", help="folder with miles/ and templates/ (optional)")
    parser.add_argument("-n", type=int, default=600)
    args = parser.parse_args()

    from bhbfinder.simulate import (
        analytic_templates,
        build_library,
        load_eigenstars,
        load_miles,
        simulate,
    )

    n = args.n
    t = time.perf_counter()
    stars = analytic_templates(n // 6, seed=0)
    simulate(stars, 1, seed=0)                     # imports, caches
    t = time.perf_counter()
    sim = simulate(stars, n, seed=1)
    _rate("analytic stars (new star each spectrum)", n, time.perf_counter() - t)
    few = analytic_templates(5, seed=0)
    t = time.perf_counter()
    simulate(few, n, seed=1)
    _rate("analytic stars (30 stars, reused)", n, time.perf_counter() - t)
    t = time.perf_counter()
    simulate([], n, seed=1, junk_fraction=1.0)
    _rate("junk (galaxy / QSO / noise)", n, time.perf_counter() - t)
    if args.data:
        miles = load_miles(f"{args.data}/miles")
        eigen = load_eigenstars(f"{args.data}/templates/spEigenStar-55734.fits")
        for name, lib in (("MILES", miles), ("SDSS eigen-templates", eigen)):
            simulate(lib, 1, seed=0)               # degrade once (cached)
            t = time.perf_counter()
            simulate(lib, n, seed=1)
            _rate(f"{name} (degraded templates cached)", n, time.perf_counter() - t)
    t = time.perf_counter()
    lib = build_library(n_per_class=n // 6, seed=2, augment="heavy")
    _rate("build_library(augment='heavy'), analytic", len(lib), time.perf_counter() - t)
    mb = (lib.flux.nbytes + lib.ivar.nbytes + lib.andmask.nbytes + lib.ormask.nbytes) / 2**20
    print(f"library arrays: {mb:.1f} MiB for {len(lib)} spectra "
          f"({mb / len(lib) * 1024:.1f} KiB each)")
    print(f"median snr_g / target: {np.median(sim.meta['snr_g'] / sim.meta['snr_target']):.4f}")


if __name__ == "__main__":
    main()
