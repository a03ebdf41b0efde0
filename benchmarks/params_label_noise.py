"""How much of the params stage's held-out Teff scatter is the MILES labels' own error?

docs/params.rst, *What limits it*. The held-out Teff scatter of the params stage (field
renderings, S/N ≥ 30, 7000–10000 K) is measured against the published MILES temperatures,
which are literature compilations with their own errors (Cenarro et al. 2007). A third,
independent temperature separates the two: the synthetic SDSS g − r of each star's own MILES
spectrum (Sánchez-Blázquez et al. 2006; Falcón-Barroso et al. 2011; ``speclite`` filter curves,
as in ``colour_teff.py``), turned into Teff by a cubic in g − r fitted to the other stars
(leave one out; no log g or [Fe/H] terms, so that no other published label enters). The
spectrum's Teff is each held-out star's median over its field renderings at S/N ≥ 30 (the
emulator of its fold never saw it; `bhbfinder.training.params_recipe.heldout_validation`).
`bhbfinder.training.label_noise.three_cornered_hat` then gives each of the three its own
robust error scatter, with 68 % and 95 % intervals from resampling the stars.

The three errors must be independent for the split to hold. The colour reads the continuum
(and the star's reddening, which MILES does not remove), the emulator the continuum-normalised
lines, the literature whatever its authors used. A star whose spectrum misleads both (a
composite of an A star and a cool companion, say) would be charged to the labels: the labels'
figure is then an upper bound.

    OMP_NUM_THREADS=1 python benchmarks/params_label_noise.py [--data ../shared/data]
        [--rows params_heldout_after.ecsv]

``--rows`` reuses the held-out rows written by ``params_heldout.py --out DIR``; without it they
are computed (field renderings only, about 3 minutes on one core). Needs ``speclite``.
"""

import argparse
import time
from pathlib import Path

import numpy as np
from astropy.table import Table
from colour_teff import loo_predictions, synthetic_colours

from bhbfinder.params.training import DEFAULT_MODEL_HYPERPARAMS
from bhbfinder.training.heldout import FoldPlan, load_real_templates
from bhbfinder.training.label_noise import three_cornered_hat
from bhbfinder.training.params_recipe import (
    calibrate_errors,
    heldout_validation,
    params_training_material,
)

HERE = Path(__file__).resolve().parent
COLOUR_FIT_RANGE = (6800.0, 11500.0)
RANGES = ((7000.0, 10000.0), (7000.0, 8500.0), (8500.0, 10000.0))
SUSPECT_K = 500.0


def colour_teff(colours):
    """Leave-one-out Teff from g − r alone: ``{star_id: (published Teff, colour Teff)}``."""
    ids = [s for s, v in colours.items()
           if np.isfinite(v[0]) and np.isfinite(v[3])
           and COLOUR_FIT_RANGE[0] <= v[0] <= COLOUR_FIT_RANGE[1]]
    teff = np.array([colours[s][0] for s in ids])
    gr = np.array([colours[s][3] for s in ids])
    design = np.column_stack([np.ones_like(gr), gr, gr**2, gr**3])
    predicted = 10.0 ** loo_predictions(design, np.log10(teff))
    return {s: (t, p) for s, t, p in zip(ids, teff, predicted, strict=True)}


def spectrum_teff(rows, min_snr=30.0):
    """Each held-out star's median field Teff at S/N ≥ ``min_snr``: ``{star_id: Teff}``."""
    keep = ((np.asarray(rows["variant"]).astype(str) == "field")
            & (np.asarray(rows["snr"], float) >= min_snr)
            & ~np.asarray(rows["doubtful"], bool)
            & np.isfinite(np.asarray(rows["teff"], float)))
    t = rows[keep]
    ids = np.asarray(t["star_id"]).astype(str)
    teff = np.asarray(t["teff"], float)
    return {s: float(np.median(teff[ids == s])) for s in np.unique(ids)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=str(HERE.parent.parent / "shared" / "data"))
    ap.add_argument("--rows", default=None,
                    help="held-out rows written by params_heldout.py --out (ECSV)")
    ap.add_argument("--per-star", type=int, default=8)
    ap.add_argument("--n-boot", type=int, default=2000)
    args = ap.parse_args(argv)
    data = Path(args.data)
    t0 = time.perf_counter()
    if args.rows:
        rows = Table.read(args.rows)
    else:
        libs = load_real_templates(data)
        plan = FoldPlan.build(libs, n_folds=5, seed=0)
        library, _, _ = params_training_material(data)
        rows = heldout_validation(plan, libs, library, dict(DEFAULT_MODEL_HYPERPARAMS),
                                  variants=("field",), per_star=args.per_star, seed=0)
        _, rows, _ = calibrate_errors(rows)
    spectrum = spectrum_teff(rows)
    names = dict(zip(np.asarray(rows["star_id"]).astype(str), np.asarray(rows["name"]).astype(str),
                     strict=True))
    colour = colour_teff(synthetic_colours(data))
    common = sorted(set(spectrum) & set(colour))
    published = np.array([colour[s][0] for s in common])
    from_colour = np.array([colour[s][1] for s in common])
    from_spectrum = np.array([spectrum[s] for s in common])
    print(f"{len(spectrum)} held-out stars with field renderings at S/N >= 30, {len(colour)} "
          f"with a synthetic g-r in {COLOUR_FIT_RANGE[0]:.0f}-{COLOUR_FIT_RANGE[1]:.0f} K, "
          f"{len(common)} with both ({time.perf_counter() - t0:.0f} s)")
    print("\nrobust sigma of each Teff estimate's own error (K), three-cornered hat; "
          "[68 %] [95 %] intervals over resampled stars")
    print(f"| {'published Teff':<15} | stars | {'published (MILES)':^27} | "
          f"{'spectrum (params stage)':^27} | {'g-r colour':^27} | spectrum - published |")
    for lo, hi in RANGES:
        m = (published >= lo) & (published <= hi)
        est = {"published": published[m], "spectrum": from_spectrum[m],
               "colour": from_colour[m]}
        hat = three_cornered_hat(est, n_boot=args.n_boot, seed=0, levels=(0.68, 0.95))
        cells = []
        for name in est:
            h = hat[name]
            cells.append(f"{h['sigma']:4.0f} [{h[0.68][0]:3.0f}-{h[0.68][1]:3.0f}] "
                         f"[{h[0.95][0]:3.0f}-{h[0.95][1]:3.0f}]")
        d = from_spectrum[m] - published[m]
        direct = 1.4826 * np.median(np.abs(d - np.median(d)))
        print(f"| {lo:5.0f}-{hi:<9.0f} | {hat['n']:5d} | " + " | ".join(cells)
              + f" | {direct:4.0f} |")
    m = (published >= RANGES[0][0]) & (published <= RANGES[0][1])
    plain = three_cornered_hat({"published": published[m], "spectrum": from_spectrum[m],
                                "colour": from_colour[m]}, robust=False)
    print(f"sample variances instead of robust ones, {RANGES[0][0]:.0f}-{RANGES[0][1]:.0f} K: "
          + ", ".join(f"{k} {plain[k]['sigma']:.0f} K" for k in ("published", "spectrum",
                                                                  "colour")))
    off = m & (np.abs(from_spectrum - published) > SUSPECT_K) \
        & (np.abs(from_colour - published) > SUSPECT_K) \
        & (np.sign(from_spectrum - published) == np.sign(from_colour - published))
    print(f"\nstars whose spectrum and colour both put them more than {SUSPECT_K:.0f} K to the "
          "same side of the published Teff (candidates for a label audit):")
    for i in np.flatnonzero(off):
        print(f"  {names[common[i]]:<14s} ({common[i]})  published {published[i]:6.0f}  "
              f"spectrum {from_spectrum[i]:6.0f}  colour {from_colour[i]:6.0f}")
    print(f"\n(robust = 1.4826 MAD of the pairwise differences; {time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
