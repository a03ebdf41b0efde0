"""Does a g−r colour help the params stage on held-out stars? (docs/params.rst, *Colours*)

The held-out evaluation of ``benchmarks/params_heldout.py`` (grouped 5-fold plan, seed 0; each
fold's MILES stars rendered eight times as LAMOST spectra, ``field`` and ``noiseless``, and
inverted by an emulator fitted without them, shipped hyper-parameters, errors calibrated by
cross-fitting) run three ways:

* **spectrum**: the emulator as shipped, no colour;
* **colour in the fit**: the fold emulators are fitted with the synthetic SDSS g − r of every
  training star as an extra output (`bhbfinder.params.SlamEmulator`'s ``colors``), and each
  held-out rendering is inverted with its star's g − r plus Gaussian noise of ``--sigma``
  (0.02 mag) as an extra constraint (error: ``--sigma`` and the emulator's own colour model
  error, in quadrature);
* **colour after the fit**: the spectrum's labels, with the calibrated errors as a Gaussian
  prior, updated by the colour's likelihood (linearised about the spectrum's labels with the
  emulator's colour Jacobian).

The colours are synthesised from the MILES spectra (Sánchez-Blázquez et al. 2006;
Falcón-Barroso et al. 2011) with the SDSS filter curves of ``speclite`` (``pip install
speclite``; not a dependency of bhbfinder). MILES stars are not dereddened, so a star's colour
carries its own reddening, in the training and the held-out rows alike: the colour a survey
would give before dereddening.

Printed per Teff bin (field rows, S/N ≥ 30, the stars of `colour_teff.py`'s range): bias,
robust scatter (1.4826 MAD) and coverage of the calibrated errors.

    OMP_NUM_THREADS=1 python benchmarks/params_colour.py [--data ../shared/data] [--sigma 0.02]

About 3 minutes on one core.
"""

import argparse
import time
from pathlib import Path

import numpy as np
from colour_teff import synthetic_colours

from bhbfinder.params.emulator import SlamEmulator
from bhbfinder.params.training import DEFAULT_MODEL_HYPERPARAMS
from bhbfinder.training.heldout import FoldPlan, load_real_templates
from bhbfinder.training.params_heldout import (
    heldout_params_predictions,
    params_scores,
    params_test_stars,
)
from bhbfinder.training.params_recipe import (
    calibrate_errors,
    params_prepare_config,
    params_training_material,
)

HERE = Path(__file__).resolve().parent
LABELS = ("teff", "logg", "feh")
BINS = ((7000, 8500), (8500, 10000), (7000, 10000), (10000, 13000))


def colour_update(labels, errors, observed, predicted, jacobian, variance):
    """Gaussian prior N(labels, diag(errors²)) times a linearised colour likelihood.

    ``predicted`` and ``jacobian`` (m, 3) are the emulator's colour and its derivative at
    ``labels``; ``variance`` the colour's total variance. Returns the posterior mean and
    standard deviation per label.
    """
    prior = errors**2
    gain = jacobian * prior
    denom = (gain * jacobian).sum(axis=1) + variance
    mean = labels + gain * ((observed - predicted) / denom)[:, None]
    sd = np.sqrt(np.clip(prior - gain**2 / denom[:, None], 0.0, None))
    return mean, sd


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=str(HERE.parent.parent / "shared" / "data"))
    ap.add_argument("--sigma", type=float, default=0.02, help="colour noise (mag)")
    ap.add_argument("--per-star", type=int, default=8)
    args = ap.parse_args(argv)
    data = Path(args.data)
    t0 = time.perf_counter()
    colours = {k: v[3] for k, v in synthetic_colours(data).items()}
    libs = load_real_templates(data)
    plan = FoldPlan.build(libs, n_folds=5, seed=0)
    library, _, _ = params_training_material(data, prepare_config=params_prepare_config())
    lib_colour = np.array([colours.get(s, np.nan) for s in library.star_ids])
    stars = params_test_stars(plan, (6000.0, 16000.0))
    stars = stars[np.isin(np.asarray(stars["star_id"]).astype(str), list(colours))]
    hyper = dict(DEFAULT_MODEL_HYPERPARAMS)
    hyper.pop("objective", None)  # no tuning observations here (as train_fold_params does)
    print(f"{len(library.labels)} training stars ({np.isfinite(lib_colour).sum()} with g-r), "
          f"{len(stars)} test stars")

    def fold_model(with_colour):
        def make(k):
            keep = plan.training_mask(library.star_ids, k)
            extra = dict(colors=lib_colour[keep, None], color_names=["g_r"]) \
                if with_colour else {}
            return SlamEmulator(**hyper).fit(
                library.flux[keep], library.ivar[keep], library.labels[keep],
                wavelength=library.wavelength, prepare_config=library.prepare_config, **extra)
        return make

    rng = np.random.default_rng(5)
    observed = []   # per call, in row order: observed colour, predicted, jacobian, variance

    def observe(prepared):
        ids = np.asarray(prepared.meta["star_id"]).astype(str)
        return np.array([colours[s] for s in ids]) + rng.normal(0.0, args.sigma, len(ids))

    def in_fit(model, prepared):
        c = observe(prepared)
        res = model.predict(prepared.flux, prepared.ivar, colors=c[:, None],
                            color_ivar=np.full((len(c), 1), args.sigma**-2),
                            mask=prepared.mask, return_details=True)
        return res.labels, res.formal_err, res.flags

    def after_fit(model, prepared):
        c = observe(prepared)
        res = model.predict(prepared.flux, prepared.ivar, mask=prepared.mask,
                            return_details=True)
        good = np.isfinite(res.labels).all(axis=1)
        pred = np.full(len(c), np.nan)
        jac = np.full((len(c), 3), np.nan)
        pred[good] = model.predict_spectra(res.labels[good], colors=True)[:, -1]
        jac[good] = model.jacobian(res.labels[good], colors=True)[:, :, -1]
        var = np.full(len(c), args.sigma**2 + model.model_error_[-1] ** 2)
        observed.append((c, pred, jac, var))
        return res.labels, res.formal_err, res.flags

    runs = {}
    for name, make, predict in (("spectrum", fold_model(False), None),
                                ("colour in the fit", fold_model(True), in_fit),
                                ("colour after the fit", fold_model(True), after_fit)):
        rows = heldout_params_predictions(plan, make, libs, stars, ("field", "noiseless"),
                                          per_star=args.per_star, seed=0, predict=predict)
        if predict is not None:  # formal errors in *_err: keep them for the calibration
            for k in LABELS:
                rows[k + "_formal_err"] = rows[k + "_err"]
        _, rows, _ = calibrate_errors(rows)
        if name == "colour after the fit":
            c, pred, jac, var = (np.concatenate(p) for p in zip(*observed, strict=True))
            lab = np.column_stack([np.asarray(rows[k], float) for k in LABELS])
            err = np.column_stack([np.asarray(rows[k + "_err"], float) for k in LABELS])
            mean, sd = colour_update(lab, err, c, pred, jac, var)
            for j, k in enumerate(LABELS):
                rows[k], rows[k + "_err"] = mean[:, j], sd[:, j]
        runs[name] = rows
        print(f"{name}: done ({time.perf_counter() - t0:.0f} s)")

    print("\nfield renderings, S/N >= 30: bias / robust scatter (coverage of the calibrated "
          "errors)")
    print(f"| {'':22s} | {'Teff (K)':11s} |  n  | {'Teff':>17s} | {'log g':>18s} | "
          f"{'[Fe/H]':>18s} |")
    for name, rows in runs.items():
        for lo, hi in BINS:
            s = params_scores(rows, "field", (lo, hi), 30.0)
            cells = [f"{s['teff']['bias']:+5.0f} {s['teff']['robust_sigma']:4.0f} "
                     f"({100 * s['teff']['coverage']:2.0f}%)"]
            cells += [f"{s[k]['bias']:+5.2f} {s[k]['robust_sigma']:4.2f} "
                      f"({100 * s[k]['coverage']:2.0f}%)" for k in ("logg", "feh")]
            print(f"| {name:22s} | {lo:5d}-{hi:<5d} | {s['teff']['n']:3d} | "
                  + " | ".join(cells) + " |")
    print(f"\n({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
