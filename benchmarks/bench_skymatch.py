"""Benchmark: sky matching by hand (unit vectors in a `scipy.spatial.cKDTree`) against astropy's
`~astropy.coordinates.SkyCoord` matching, for the three jobs of ``bhbfinder.crossmatch``.

``pairs`` (de-duplication)
    every pair of rows within 3″ of each other in one catalogue:
    ``cKDTree.query_pairs`` vs ``search_around_sky(c, c, 3″)``;
``nearest`` (known-BHB flags)
    the nearest star of a 50,000-star catalogue within 3″ of each row:
    ``cKDTree.query(distance_upper_bound=...)`` vs ``match_to_catalog_sky``;
``within`` (local Gaia table)
    every (row, source) pair within 5″ between the rows and a table of as many sources:
    ``cKDTree.sparse_distance_matrix`` vs ``search_around_sky``.

Run ``python benchmarks/bench_skymatch.py [N ...]`` (default 100000 1000000); prints the time of
each way, the ratio and whether both found the same matches. The crossmatch modules keep the
hand-written path only where it is at least twice as fast at survey scale (N = 1,000,000).
"""

import sys
import time

import astropy.units as u
import numpy as np
from astropy.coordinates import SkyCoord, search_around_sky
from scipy.spatial import cKDTree

from bhbfinder.crossmatch._sky import arcsec_from_chord, chord_from_arcsec, radec_to_unit


def positions(n, repeat_fraction=0.1, seed=0):
    rng = np.random.default_rng(seed)
    n_unique = int(n / (1 + repeat_fraction))
    ra = rng.uniform(0, 360, n_unique)
    dec = np.degrees(np.arcsin(rng.uniform(-1, 1, n_unique)))
    pick = rng.integers(0, n_unique, n - n_unique)
    jitter = rng.normal(0, 0.5 / 3600, (2, n - n_unique))
    ra = np.concatenate([ra, (ra[pick] + jitter[0] / np.cos(np.radians(dec[pick]))) % 360])
    dec = np.concatenate([dec, np.clip(dec[pick] + jitter[1], -90, 90)])
    return ra, dec


def clock(func, *args):
    t0 = time.perf_counter()
    out = func(*args)
    return time.perf_counter() - t0, out


def report(job, n, t_hand, t_astropy, same):
    print(f"{job:7s} N={n:>9,}: by hand {t_hand:6.2f} s, SkyCoord {t_astropy:6.2f} s, "
          f"ratio {t_astropy / t_hand:4.1f}, same result: {same}")


def pairs_by_hand(ra, dec, radius):
    tree = cKDTree(radec_to_unit(ra, dec))
    return tree.query_pairs(float(chord_from_arcsec(radius)), output_type="ndarray")


def pairs_astropy(ra, dec, radius):
    c = SkyCoord(ra * u.deg, dec * u.deg)
    i, j, _, _ = search_around_sky(c, c, radius * u.arcsec)
    keep = i < j
    return np.stack([i[keep], j[keep]], axis=1)


def nearest_by_hand(ra, dec, cra, cdec, radius):
    dist, idx = cKDTree(radec_to_unit(cra, cdec)).query(
        radec_to_unit(ra, dec), k=1, distance_upper_bound=float(chord_from_arcsec(radius)))
    hit = np.isfinite(dist)
    return np.where(hit, idx, -1), np.where(hit, arcsec_from_chord(np.where(hit, dist, 0)), np.nan)


def nearest_astropy(ra, dec, cra, cdec, radius):
    c = SkyCoord(ra * u.deg, dec * u.deg)
    idx, sep, _ = c.match_to_catalog_sky(SkyCoord(cra * u.deg, cdec * u.deg))
    hit = sep.arcsec <= radius
    return np.where(hit, idx, -1), np.where(hit, sep.arcsec, np.nan)


def within_by_hand(ra, dec, gra, gdec, radius):
    tree = cKDTree(radec_to_unit(gra, gdec))
    pairs = cKDTree(radec_to_unit(ra, dec)).sparse_distance_matrix(
        tree, float(chord_from_arcsec(radius)), output_type="ndarray")
    return pairs["i"], pairs["j"]


def within_astropy(ra, dec, gra, gdec, radius):
    i, j, _, _ = search_around_sky(SkyCoord(ra * u.deg, dec * u.deg),
                                   SkyCoord(gra * u.deg, gdec * u.deg), radius * u.arcsec)
    return i, j


def _same_pairs(a, b):
    key = lambda p: set(map(tuple, np.asarray(p).reshape(-1, 2).tolist()))  # noqa: E731
    return key(a) == key(b)


def main(sizes):
    for n in sizes:
        ra, dec = positions(n)
        t1, p1 = clock(pairs_by_hand, ra, dec, 3.0)
        t2, p2 = clock(pairs_astropy, ra, dec, 3.0)
        report("pairs", n, t1, t2, _same_pairs(p1, p2))
        cra, cdec = positions(50_000, seed=1)
        t1, (i1, _) = clock(nearest_by_hand, ra, dec, cra, cdec, 3.0)
        t2, (i2, _) = clock(nearest_astropy, ra, dec, cra, cdec, 3.0)
        report("nearest", n, t1, t2, bool(np.array_equal(i1, i2)))
        gra, gdec = positions(n, seed=2)
        t1, (a1, b1) = clock(within_by_hand, ra, dec, gra, gdec, 5.0)
        t2, (a2, b2) = clock(within_astropy, ra, dec, gra, gdec, 5.0)
        report("within", n, t1, t2, _same_pairs(np.stack([a1, b1], 1), np.stack([a2, b2], 1)))


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [100_000, 1_000_000])
