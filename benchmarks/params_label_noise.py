"""How much of the params stage's held-out scatter is the MILES labels' own error?

docs/params.rst, *Where the error comes from*. The held-out scatter of the params stage (field
renderings, S/N ≥ 30, 7000–10000 K) is measured against the published MILES labels, which are
literature compilations with their own errors (Cenarro et al. 2007). A third estimate whose
errors are independent of both separates the two
(`bhbfinder.training.label_noise.three_cornered_hat`, Gray & Allan 1974). The third estimates
come from the continuum of each star's own flux-calibrated MILES spectrum (Sánchez-Blázquez et
al. 2006; Falcón-Barroso et al. 2011), which the params stage never sees (it fits
continuum-normalised 3800–5000 Å):

* **g − r**: the synthetic SDSS g − r (``speclite`` filter curves, as in ``colour_teff.py``),
  Teff from a cubic in g − r;
* **g − r and Balmer jump**: the same colour and a Balmer-jump colour,
  ``2.5 log10(F(4015–4060 Å) / F(3560–3640 Å))`` (air wavelengths: the Balmer continuum below
  3646 Å against the stretch between the wings of Hε and Hδ; the quantity Strömgren's c1 index
  measures), Teff (log10) and log g from a quadratic (or, as a check, cubic) surface in the two.

Each relation is fitted to the other stars of 6800–11500 K (leave one out; no published label of
the star itself enters its estimate). The stage's value is each held-out star's median over its
field renderings at S/N ≥ 30 (the emulator of its fold never saw it;
`bhbfinder.training.params_recipe.heldout_validation`). Printed per Teff range: each estimate's
own robust error scatter, with 68 % intervals from resampling the stars, and the direct robust
scatter of stage − published per star.

The split needs independent errors. The continuum carries the star's reddening (MILES does not
remove it) and MILES's flux calibration; the stage reads the normalised lines; the literature
whatever its authors used. A star that misleads both the continuum and the lines (a composite
of an A star and a cool companion, say) is charged to the labels, whose figure is then an upper
bound. With ~75 stars and robust scatters the split is uncertain: read the intervals.

    OMP_NUM_THREADS=1 python benchmarks/params_label_noise.py [--data ../shared/data]
        [--rows params_heldout_after.ecsv]

``--rows`` reuses the held-out rows written by ``params_heldout.py --out DIR``; without them they
are computed (field renderings only, about a minute or two on one core). Needs ``speclite``.
"""

import argparse
import time
from pathlib import Path

import numpy as np
from astropy.table import Table
from colour_teff import loo_predictions, miles_spectra, synthetic_colours

from bhbfinder.params.training import DEFAULT_MODEL_HYPERPARAMS
from bhbfinder.training.heldout import FoldPlan, load_real_templates
from bhbfinder.training.label_noise import three_cornered_hat
from bhbfinder.training.params_recipe import (
    calibrate_errors,
    heldout_validation,
    params_training_material,
)

HERE = Path(__file__).resolve().parent
FIT_RANGE = (6800.0, 11500.0)
RANGES = ((7000.0, 10000.0), (7000.0, 8500.0), (8500.0, 10000.0))
BALMER_JUMP_BANDS = ((3560.0, 3640.0), (4015.0, 4060.0))  # air Å: below the jump, above it
SUSPECT_K = 500.0


def balmer_jump(data):
    """``{star_id: 2.5 log10(F_above / F_below)}`` of every MILES spectrum that covers both
    `BALMER_JUMP_BANDS`."""
    (b0, b1), (a0, a1) = BALMER_JUMP_BANDS
    out = {}
    for star_id, _, wave, flux in miles_spectra(data):
        below = flux[(wave >= b0) & (wave <= b1)]
        above = flux[(wave >= a0) & (wave <= a1)]
        if below.size and above.size and below.mean() > 0 and above.mean() > 0:
            out[star_id] = 2.5 * np.log10(above.mean() / below.mean())
    return out


def _surface(x, y, degree):
    terms = [np.ones_like(x), x, y, x * x, x * y, y * y]
    if degree == 3:
        terms += [x**3, x * x * y, x * y * y, y**3]
    return np.column_stack(terms)


def continuum_estimates(colours, jumps):
    """Leave-one-out estimates from the continuum of the stars of `FIT_RANGE`.

    Returns
    -------
    ids : list of str
    published : ndarray, shape (n, 2)
        Published Teff and log g.
    estimates : dict
        ``{(label, estimator): ndarray}`` for ``("teff", "g-r")`` and, from g − r and the
        Balmer jump with a quadratic and a cubic surface, ``("teff" | "logg", "g-r, BJ
        (quadratic)" | "g-r, BJ (cubic)")``.
    """
    ids = [s for s, v in colours.items()
           if s in jumps and np.isfinite(v[:2]).all() and np.isfinite(v[3])
           and FIT_RANGE[0] <= v[0] <= FIT_RANGE[1]]
    teff, logg, gr = (np.array([colours[s][j] for s in ids]) for j in (0, 1, 3))
    bj = np.array([jumps[s] for s in ids])
    cubic = np.column_stack([np.ones_like(gr), gr, gr**2, gr**3])
    est = {("teff", "g-r"): 10.0 ** loo_predictions(cubic, np.log10(teff))}
    for degree, name in ((2, "g-r, BJ (quadratic)"), (3, "g-r, BJ (cubic)")):
        design = _surface(gr, bj, degree)
        est[("teff", name)] = 10.0 ** loo_predictions(design, np.log10(teff))
        est[("logg", name)] = loo_predictions(design, logg)
    return ids, np.column_stack([teff, logg]), est


def stage_medians(rows, min_snr=30.0):
    """Each held-out star's median field Teff and log g at S/N ≥ ``min_snr``:
    ``{star_id: (teff, logg)}``."""
    keep = ((np.asarray(rows["variant"]).astype(str) == "field")
            & (np.asarray(rows["snr"], float) >= min_snr)
            & ~np.asarray(rows["doubtful"], bool)
            & np.isfinite(np.asarray(rows["teff"], float)))
    t = rows[keep]
    ids = np.asarray(t["star_id"]).astype(str)
    teff, logg = np.asarray(t["teff"], float), np.asarray(t["logg"], float)
    return {s: (float(np.median(teff[ids == s])), float(np.median(logg[ids == s])))
            for s in np.unique(ids)}


def _robust(d):
    return 1.4826 * np.median(np.abs(d - np.median(d)))


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
    stage = stage_medians(rows)
    names = dict(zip(np.asarray(rows["star_id"]).astype(str),
                     np.asarray(rows["name"]).astype(str), strict=True))
    ids, published, estimates = continuum_estimates(synthetic_colours(data), balmer_jump(data))
    pick = np.array([s in stage for s in ids])
    ids = [s for s in ids if s in stage]
    published = published[pick]
    estimates = {k: v[pick] for k, v in estimates.items()}
    found = np.array([stage[s] for s in ids])
    print(f"{len(stage)} held-out stars with field renderings at S/N >= 30; {len(ids)} of them "
          f"in {FIT_RANGE[0]:.0f}-{FIT_RANGE[1]:.0f} K with a continuum estimate "
          f"({time.perf_counter() - t0:.0f} s)")
    print("\neach estimate's own robust error scatter, three-cornered hat [68 % interval over "
          "resampled stars]; 'direct' = robust scatter of stage - published")
    print(f"| {'published Teff':<14} | label | {'third estimate':<19} | stars | "
          f"{'published':^17} | {'params stage':^17} | {'third':^17} | direct |")
    for lo, hi in RANGES:
        m = (published[:, 0] >= lo) & (published[:, 0] <= hi)
        for (label, name), third in estimates.items():
            j = 0 if label == "teff" else 1
            hat = three_cornered_hat({"published": published[m, j], "stage": found[m, j],
                                      "third": third[m]}, n_boot=args.n_boot, seed=0)
            fmt = "{:5.0f}" if label == "teff" else "{:5.2f}"
            cells = []
            for key in ("published", "stage", "third"):
                h = hat[key]
                cells.append(fmt.format(h["sigma"]) + " [" + fmt.format(h[0.68][0]).strip()
                             + "-" + fmt.format(h[0.68][1]).strip() + "]")
            print(f"| {lo:5.0f}-{hi:<8.0f} | {label:5s} | {name:<19} | {hat['n']:5d} | "
                  + " | ".join(f"{c:^17}" for c in cells)
                  + f" | {fmt.format(_robust(found[m, j] - published[m, j]))}  |")
    m = (published[:, 0] >= RANGES[0][0]) & (published[:, 0] <= RANGES[0][1])
    plain = three_cornered_hat({"published": published[m, 0], "stage": found[m, 0],
                                "third": estimates[("teff", "g-r")][m]}, robust=False)
    print(f"\nsample variances instead of robust ones (Teff, g-r, {RANGES[0][0]:.0f}-"
          f"{RANGES[0][1]:.0f} K): "
          + ", ".join(f"{k} {plain[k]['sigma']:.0f} K" for k in ("published", "stage", "third")))
    colour = estimates[("teff", "g-r")]
    off = m & (np.abs(found[:, 0] - published[:, 0]) > SUSPECT_K) \
        & (np.abs(colour - published[:, 0]) > SUSPECT_K) \
        & (np.sign(found[:, 0] - published[:, 0]) == np.sign(colour - published[:, 0]))
    print(f"\nstars whose stage Teff and g-r Teff both lie more than {SUSPECT_K:.0f} K to the "
          "same side of the published Teff (candidates for a label audit):")
    for i in np.flatnonzero(off):
        print(f"  {names[ids[i]]:<14s} ({ids[i]})  published {published[i, 0]:6.0f}  "
              f"stage {found[i, 0]:6.0f}  g-r {colour[i]:6.0f}")
    print(f"\n(robust = 1.4826 MAD; {time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
