"""Build the shipped params model, ``bhbfinder/data/slam_hot_default.asdf``.

Exactly how it is made (`bhbfinder.training.params_recipe.train_default_params_model`, all
defaults):

1. Every MILES v9.1 star of 6000–16000 K with complete labels in ``../shared/data/miles`` and
   ``../shared/data/miles_more`` (247 stars; `bhbfinder.params.training.DEFAULT_TRAINING`),
   loaded by `bhbfinder.simulate.load_miles` (air → vacuum).
2. Each star simulated 12 times as a LAMOST spectrum (g-band S/N 50, rv = 0, seeds
   20260601 + k) with the instrument spread of the field
   (`bhbfinder.params.training.TRAINING_SPREAD`: blue-arm FWHM 2–4 Å, calibration tilt, masked
   segments, cosmic rays, interstellar Ca II K), each prepared by the default ``prepare`` stage
   and the 12 averaged (inverse-variance weights).
3. Held-out validation: the grouped 5-fold plan over the real stars (`FoldPlan.build` over
   ``miles/``, ``miles_more/`` and the SDSS templates, seed 0 — the classifier's plan); one
   emulator per fold fitted without the fold's stars; each fold's MILES stars rendered 8 times
   through the field instrument model (S/N 10–80, RV ±400 km/s, FWHM 2–4 Å, ...), as noiseless
   copies and as training-like renderings, and inverted by their fold's model.
4. The error model fitted on the field residuals (68.3 % coverage per fitted-Teff bin, scale of
   the formal errors chosen across S/N bins); its coverage measured by cross-fitting.
5. `SlamEmulator(robust_clip=1.5, objective="flux", max_reduced_chi2=2, tune_teff=(7000, 13000),
   split_teff=(9000, 10000), split_pad=1000)` fitted on all 247 stars — the kernel of the whole
   library (first pass), a cool kernel on the stars up to 11000 K and a hot one on those from
   8000 K — with the error model, the per-fold calibrations and the validation tables in its
   file.

Usage::

    OMP_NUM_THREADS=1 python scripts/train_slam_default.py [--data DIR] [--out PATH]
        [--results FILE.ecsv] [--grid NAME] [--continuum-degree N]

``--grid`` (a key of `bhbfinder.training.params_recipe.PARAMS_GRIDS`, default the shipped
``blue-3800-5000``) trains the params model on another wavelength range
(`bhbfinder.training.params_recipe.params_prepare_config`); the pipeline then prepares the
params stage's spectra on that grid, the classifier's on its own.

Takes about two minutes on one core; the file it writes is the same byte for byte on every run.
"""

import argparse
import time
from pathlib import Path

from bhbfinder.stages.params import default_model_path
from bhbfinder.training.params_recipe import (
    PARAMS_GRIDS,
    params_prepare_config,
    train_default_params_model,
)

HERE = Path(__file__).resolve().parent


def _print_scores(scores):
    for name, table in scores.items():
        if "by S/N" in name:
            for snr, s in table.items():
                print(f"  {name} {snr:>6}: " + "  ".join(
                    f"{k} robust {s[k]['robust_sigma']:.3g} coverage {s[k]['coverage']:.2f}"
                    for k in ("teff", "logg", "feh")))
            continue
        print(f"{name:34s} n={table['teff']['n']:4d} stars={table['n_stars']:3d}  " + "  ".join(
            f"{k}: bias {table[k]['bias']:+.3g} robust {table[k]['robust_sigma']:.3g} "
            f"coverage {table[k]['coverage']:.2f}" for k in ("teff", "logg", "feh")))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(HERE.parent.parent / "shared" / "data"),
                        help="folder in the ../shared/data layout (miles/, miles_more/)")
    parser.add_argument("--out", default=str(default_model_path()), help="output ASDF file")
    parser.add_argument("--results", default=None,
                        help="write the held-out rows (ECSV) here, outside the repository")
    parser.add_argument("--grid", default="blue-3800-5000", choices=sorted(PARAMS_GRIDS),
                        help="wavelength range of the params model (default: the shipped one)")
    parser.add_argument("--continuum-degree", type=int, default=None,
                        help="Legendre degree of the continuum fit (default 5)")
    args = parser.parse_args(argv)
    start = time.perf_counter()

    def log(message):
        print(f"{time.perf_counter() - start:6.0f} s  {message}", flush=True)

    prepare_config = params_prepare_config(args.grid, args.continuum_degree)
    if prepare_config == params_prepare_config():
        prepare_config = None  # the package default, stored as the shipped file stores it
    model, results = train_default_params_model(args.data, args.out, log=log,
                                                prepare_config=prepare_config)
    log(f"trained on {len(model.train_labels_)} stars; length scales "
        f"{model.length_scale_.round(3).tolist()}, alpha {model.alpha_:.3g}")
    _print_scores(model.meta["validation"]["scores"])
    em = model.error_model_
    print(f"error model: scales {em.scale.round(2).tolist()}, floors per Teff bin "
          f"(edges {em.teff_edges.tolist()}): {em.floor.round(3).tolist()}")
    if args.results:
        results.write(args.results, overwrite=True)
    print(f"wrote {args.out} ({Path(args.out).stat().st_size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
