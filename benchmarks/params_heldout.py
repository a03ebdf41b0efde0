"""The params stage on held-out MILES stars rendered like survey spectra: before / after.

Every figure comes from stars the model never saw: the grouped 5-fold plan of
`bhbfinder.training.heldout.FoldPlan` (seed 0, over ``miles/``, ``miles_more/`` and the SDSS
templates, as in the classifier's evaluation); each fold's MILES stars (6000–16000 K, complete
labels) are rendered ``--per-star`` times and inverted by an emulator fitted without them.

Renderings (`bhbfinder.training.params_heldout`): ``field`` (S/N 10–80, RV ±400 km/s, blue-arm
FWHM 2–4 Å, tilt, masks, cosmic rays, ISM Ca II K), ``noiseless`` (the same without noise),
``lab`` (the training library's own rendering at S/N 50); with ``--attribution`` also the
noiseless field rendering with one effect removed at a time.

Recipes:

* **before**: the previous shipped recipe (the 126 MILES stars of 6500–13000 K rendered at the
  nominal resolution, hyper-parameters tuned on leave-one-out label scatter against an
  independent S/N 50 observation, formal Jacobian errors);
* **after**: `bhbfinder.training.params_recipe` (247 stars of 6000–16000 K from ``miles/`` and
  ``miles_more/`` rendered with the field's instrument spread, flux-tuned, errors calibrated
  by `bhbfinder.params.uncertainty.ErrorModel`; coverage by cross-fitting over the folds).

With ``--analytic`` the same evaluation runs on analytic stars of the simulator, whose labels are
exact (train 300, test 150 others; 6800–10500 K): the precision of the method and instrument
without the label errors of a real library.

Printed per recipe and rendering, for stars of 7000–10000 K at S/N ≥ 30 (and at the domain
edges): bias (median), robust scatter (1.4826 MAD), and the fraction of cases whose quoted
1σ error covers the truth; then the per-star view of where the error comes from.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/params_heldout.py [--data DIR] [--per-star 8]
        [--no-before] [--attribution] [--analytic] [--out DIR]
        [--split-teff LO HI [--split-pad K]] [--hyperparams JSON]
        [--grid NAME] [--continuum-degree N] [--default-masks]

``--split-teff`` evaluates the shipped recipe with separate cool and hot kernels blended over
``LO``–``HI`` K of the first-pass Teff (`bhbfinder.params.SlamEmulator`'s ``split_teff``,
``split_pad``) instead of the shipped hyper-parameters'; ``--split-teff 0 0`` one kernel.

``--grid`` trains and evaluates the after recipe on another wavelength range (a key of
`bhbfinder.training.params_recipe.PARAMS_GRIDS`: ``3800-5600``, ``3700-5600``; default the
shipped ``blue-3800-5000``), with the continuum masks of
`~bhbfinder.training.params_recipe.params_prepare_config` (``--default-masks``: the package's
masks only, without H11, H12 and Mg b) and ``--continuum-degree`` if given;
everything else (kernels, tuning, error model, folds, renderings) as shipped.

About 4 minutes on one core for before + after, 2 more with ``--attribution``.
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np

from bhbfinder.params.emulator import FLAG_SECOND_SOLUTION
from bhbfinder.params.training import (
    ANALYTIC_BOX,
    DEFAULT_MODEL_HYPERPARAMS,
    TRAINING_SPREAD,
    MilesTrainingConfig,
    analytic_library,
    miles_library,
    miles_observations,
)
from bhbfinder.spectra.continuum import DEFAULT_LINE_MASKS
from bhbfinder.training.heldout import FoldPlan, load_real_templates, star_table
from bhbfinder.training.params_heldout import (
    ATTRIBUTION,
    FIELD_SIMULATION,
    params_scores,
    render_prepared,
)
from bhbfinder.training.params_recipe import (
    PARAMS_GRIDS,
    calibrate_errors,
    heldout_validation,
    params_prepare_config,
    params_training_material,
)

HERE = Path(__file__).resolve().parent
LABELS = ("teff", "logg", "feh")
BEFORE_HYPERPARAMS = {"robust_clip": 1.5, "objective": "labels"}


def _line(name, s):
    cells = []
    for k in LABELS:
        fmt = "{:+6.0f} {:5.0f}" if k == "teff" else "{:+6.2f} {:5.2f}"
        cells.append(fmt.format(s[k]["bias"], s[k]["robust_sigma"])
                     + f" {100 * s[k]['coverage']:3.0f}%")
    return f"| {name:<34} | {s['teff']['n']:4d} {s['n_stars']:3d} | " + " | ".join(cells) + " |"


def _table(title, results, variants, ranges=((7000, 10000),), min_snr=30.0):
    print(f"\n{title}")
    print(f"| {'rendering, Teff range':<34} |  n  stars | Teff bias robust cov | "
          "log g bias robust cov | [Fe/H] bias robust cov |")
    for variant in variants:
        for lo, hi in ranges:
            s = params_scores(results, variant, (lo, hi), min_snr)
            if s["teff"]["n"]:
                print(_line(f"{variant} {lo}-{hi} K", s))


def _per_star(results, variant="field", teff=(7000, 10000), min_snr=30.0):
    """Per-star median residuals (stars x 3) and the star ids."""
    t = results[(np.asarray(results["variant"]) == variant)
                & (np.asarray(results["true_teff"]) >= teff[0])
                & (np.asarray(results["true_teff"]) <= teff[1])
                & (np.asarray(results["snr"]) >= min_snr) & ~np.asarray(results["doubtful"])]
    ids = np.unique(np.asarray(t["star_id"]).astype(str))
    med = np.array([[np.nanmedian(np.asarray(t[k][t["star_id"] == s], float)
                                  - np.asarray(t["true_" + k][t["star_id"] == s], float))
                     for k in LABELS] for s in ids])
    return ids, med, t


def _decomposition(results):
    """How much of the field error is the same for every rendering of a star."""
    ids, med, t = _per_star(results)
    print("\nwhere the field error sits (7000-10000 K, S/N >= 30): robust scatter of the per-star "
          "median residuals vs of the renderings about their star's median")
    for j, k in enumerate(LABELS):
        within = []
        for s, m in zip(ids, med[:, j], strict=True):
            rows = t["star_id"] == s
            within.append(np.asarray(t[k][rows], float) - np.asarray(t["true_" + k][rows], float)
                          - m)
        within = np.concatenate(within)
        between = 1.4826 * np.median(np.abs(med[:, j] - np.median(med[:, j])))
        print(f"  {k:5s}: between stars {between:.3g}, within a star "
              f"{1.4826 * np.median(np.abs(within)):.3g}")


def _correlation(before, after):
    ib, mb, _ = _per_star(before)
    ia, ma, _ = _per_star(after)
    common = np.intersect1d(ib, ia)
    mb = mb[np.searchsorted(ib, common)]
    ma = ma[np.searchsorted(ia, common)]
    print("\nper-star residuals of the two recipes (field, 7000-10000 K), Pearson r: "
          + ", ".join(f"{k} {np.corrcoef(mb[:, j], ma[:, j])[0, 1]:.2f}"
                      for j, k in enumerate(LABELS)))


def _analytic(per_star, seed=0):
    """Exact labels: analytic stars, training rendered like the shipped library, test like the
    field (held out: other stars)."""
    from bhbfinder.params.emulator import SlamEmulator
    from bhbfinder.params.training import DEFAULT_MODEL_HYPERPARAMS
    from bhbfinder.simulate import analytic_templates
    from bhbfinder.training.params_heldout import _predict_table

    train = analytic_library(300, seed=11, n_realisations=12, simulation=TRAINING_SPREAD)
    model = SlamEmulator(**DEFAULT_MODEL_HYPERPARAMS).fit(
        train.flux, train.ivar, train.labels, wavelength=train.wavelength,
        prepare_config=train.prepare_config)
    from astropy.table import Table

    rng = np.random.default_rng(12)
    n = 150
    lo, hi = np.log10(ANALYTIC_BOX["teff"])
    params = Table({"label": ["BHB"] * n, "teff": 10 ** rng.uniform(lo, hi, n),
                    "logg": rng.uniform(*ANALYTIC_BOX["logg"], n),
                    "feh": rng.uniform(*ANALYTIC_BOX["feh"], n),
                    "vsini": np.full(n, float(ANALYTIC_BOX["vsini"]))})
    lib = analytic_templates(params=params)
    stars = star_table([lib])
    parts = []
    for variant, (sim, noiseless) in {"field": (FIELD_SIMULATION, False),
                                      "noiseless": (dict(FIELD_SIMULATION, snr=1e4), True)
                                      }.items():
        prepared = render_prepared([lib], stars, seed, per_star, sim, model.meta[
            "prepare_config"], noiseless)
        parts.append(_predict_table(model, prepared, variant, 0, None))
    from astropy.table import vstack

    return vstack(parts)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(HERE.parent.parent / "shared" / "data"))
    parser.add_argument("--per-star", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-before", action="store_true")
    parser.add_argument("--attribution", action="store_true")
    parser.add_argument("--analytic", action="store_true")
    parser.add_argument("--out", default=None, help="write the held-out rows here (ECSV)")
    parser.add_argument("--split-teff", type=float, nargs=2, default=None,
                        help="after recipe with separate cool / hot kernels (0 0: one kernel)")
    parser.add_argument("--split-pad", type=float, default=None)
    parser.add_argument("--hyperparams", default=None,
                        help="JSON object updating the after recipe's emulator parameters")
    parser.add_argument("--grid", default="blue-3800-5000", choices=sorted(PARAMS_GRIDS),
                        help="wavelength range of the after recipe's params model")
    parser.add_argument("--continuum-degree", type=int, default=None,
                        help="Legendre degree of the continuum fit (default 5)")
    parser.add_argument("--default-masks", action="store_true",
                        help="the package's continuum masks only, on any grid")
    args = parser.parse_args(argv)
    data = Path(args.data)
    t0 = time.perf_counter()
    libs = load_real_templates(data)
    plan = FoldPlan.build(libs, n_folds=5, seed=0)
    variants = ("field", "noiseless", "lab")

    prepare_config = params_prepare_config(
        args.grid, args.continuum_degree,
        line_masks=DEFAULT_LINE_MASKS if args.default_masks else None)
    print(f"params grid: {prepare_config.grid.name} ({prepare_config.grid.npix} pixels "
          f"{prepare_config.grid.wavelength[0]:.1f}-{prepare_config.grid.wavelength[-1]:.1f} A), "
          f"continuum degree {prepare_config.continuum.degree}, masks "
          f"{[m[0] for m in prepare_config.continuum.line_masks]}")
    library, _, _ = params_training_material(data, prepare_config=prepare_config)
    after_variants = variants + (tuple(ATTRIBUTION) if args.attribution else ())
    hyperparams = dict(DEFAULT_MODEL_HYPERPARAMS)
    if args.split_teff is not None:
        hyperparams["split_teff"] = None if args.split_teff[0] == args.split_teff[1] \
            else args.split_teff
    if args.split_pad is not None:
        hyperparams["split_pad"] = args.split_pad
    if args.hyperparams:
        hyperparams.update(json.loads(args.hyperparams))
    print(f"after recipe: {hyperparams}")
    after = heldout_validation(plan, libs, library, hyperparams, variants=after_variants,
                               per_star=args.per_star, seed=args.seed)
    _, after, _ = calibrate_errors(after)
    print(f"after: {len(library.labels)} training stars ({time.perf_counter() - t0:.0f} s)")
    _table("AFTER (shipped recipe; errors calibrated, cross-fitted)", after, after_variants)
    _table("AFTER at the domain edges (field)", after, ("field",),
           ((6000, 7000), (10000, 13000)))
    _table("AFTER, field, S/N 10-80", after, ("field",), min_snr=10.0)
    flags = np.asarray(after["params_flags"])
    field = np.asarray(after["variant"]) == "field"
    second = (flags & FLAG_SECOND_SOLUTION) != 0
    for name, rows in (("flag 0", field & (flags == 0)), ("flagged", field & (flags != 0)),
                       ("second solution", field & second),
                       ("no second solution", field & ~second)):
        s = params_scores(after[rows], "field", (6000, 16000), 10.0)
        dteff = np.abs(np.asarray(after["teff"], float) - np.asarray(after["true_teff"], float))
        scored = rows & ~np.asarray(after["doubtful"], bool) & np.isfinite(dteff)
        print(f"  field, {name}: {rows.sum()} cases, coverage "
              + " / ".join(f"{100 * s[k]['coverage']:.0f}%" for k in LABELS)
              + ", robust " + " / ".join(f"{s[k]['robust_sigma']:.3g}" for k in LABELS)
              + f", Teff off by > 500 K in {100 * np.mean(dteff[scored] > 500):.0f}%")
    _decomposition(after)

    if not args.no_before:
        config = MilesTrainingConfig()
        old = miles_library(data / "miles", config)
        tflux, tivar, _, _ = miles_observations(data / "miles", config.snr, config.tuning_seed,
                                                config)
        before = heldout_validation(plan, libs, old, BEFORE_HYPERPARAMS, variants=variants,
                                    per_star=args.per_star, seed=args.seed,
                                    teff_range=(6000.0, 16000.0), tuning=(tflux, tivar))
        print(f"before: {len(old.labels)} training stars ({time.perf_counter() - t0:.0f} s)")
        _table("BEFORE (previous recipe; formal errors)", before, variants)
        _table("BEFORE at the domain edges (field)", before, ("field",),
               ((6000, 7000), (10000, 13000)))
        _correlation(before, after)
        if args.out:
            before.write(Path(args.out) / "params_heldout_before.ecsv", overwrite=True)

    if args.analytic:
        ana = _analytic(args.per_star, args.seed)
        ana["doubtful"] = np.zeros(len(ana), bool)
        _table("ANALYTIC stars, exact labels (shipped recipe's rendering and settings; formal "
               "errors, no calibration)", ana, ("field", "noiseless"))
    if args.out:
        after.write(Path(args.out) / "params_heldout_after.ecsv", overwrite=True)
    print(f"\n(robust = 1.4826 MAD; cov = share of cases with |found - truth| <= quoted error; "
          f"{time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
