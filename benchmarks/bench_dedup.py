"""Benchmark: de-duplicate 1,000,000 random sky positions (10 % of them with a repeat visit).

Run with ``python benchmarks/bench_dedup.py [N]``; prints the wall-clock time of the ``sky-fof``
stage and the number of groups found.
"""

import sys
import time

import numpy as np
from astropy.table import Table

from bhbfinder.crossmatch.dedup import SkyFoFDedup


def make_catalog(n, repeat_fraction=0.1, seed=0):
    rng = np.random.default_rng(seed)
    n_unique = int(n / (1 + repeat_fraction))
    # uniform on the sphere
    ra = rng.uniform(0, 360, n_unique)
    dec = np.degrees(np.arcsin(rng.uniform(-1, 1, n_unique)))
    n_rep = n - n_unique
    pick = rng.integers(0, n_unique, n_rep)
    # repeat visits scattered by ~0.5" (well inside the 3" radius)
    jitter = rng.normal(0, 0.5 / 3600, (2, n_rep))
    ra = np.concatenate([ra, (ra[pick] + jitter[0] / np.cos(np.radians(dec[pick]))) % 360])
    dec = np.concatenate([dec, np.clip(dec[pick] + jitter[1], -90, 90)])
    return Table({"ra": ra, "dec": dec, "snr_g": rng.uniform(1, 100, n),
                  "status": np.full(n, "ok")})


def main(n=1_000_000):
    cat = make_catalog(n)
    stage = SkyFoFDedup()
    t0 = time.perf_counter()
    out = stage.run(cat)
    dt = time.perf_counter() - t0
    n_groups = int(out["group_id"].max()) + 1
    print(f"sky-fof dedup of {n:,} positions: {dt:.2f} s, {n_groups:,} groups, "
          f"{int(out['is_representative'].sum()):,} representatives")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
