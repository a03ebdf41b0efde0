"""The shipped params model: training library, held-out validation, calibrated errors.

`train_default_params_model` builds ``bhbfinder/data/slam_hot_default.asdf`` in four steps:

1. the training library (`params_training_material`): every MILES star of 6000–16000 K with
   complete labels in ``miles/`` and ``miles_more/`` (Sánchez-Blázquez et al. 2006;
   Falcón-Barroso et al. 2011), each rendered twelve times as a LAMOST spectrum with the
   instrument spread of the field (`~bhbfinder.params.training.TRAINING_SPREAD`), prepared by
   the default ``prepare`` stage and averaged;
2. the held-out validation (`heldout_validation`): the grouped K-fold plan of
   `~bhbfinder.training.heldout.FoldPlan` over the real stars (the plan of the classifier's
   evaluation), one emulator per fold fitted without the fold's stars
   (`~bhbfinder.training.folds.train_fold_params`), each fold's MILES stars rendered through
   the field instrument model (`~bhbfinder.training.params_heldout.FIELD_SIMULATION`), as
   noiseless copies and as training-like "lab" renderings, and inverted by their fold's model;
3. the error model (`calibrate_errors`): `~bhbfinder.params.uncertainty.fit_error_model` on the
   field residuals of every fold; the coverage it reaches is measured by cross-fitting (the
   calibration applied to a fold is fitted on the other folds' residuals);
4. the model fitted on the whole library (with the separate cool and hot kernels of
   `~bhbfinder.params.training.DEFAULT_MODEL_HYPERPARAMS`), with the error model and the
   validation tables in its file.

The params model's wavelength range is an option of the recipe (`params_prepare_config`,
`PARAMS_GRIDS`): the shipped model uses the package's default preparation
(``blue-3800-5000``, the classifier's); ``"3800-5600"`` adds the Mg b triplet and the metal
lines of 5000–5600 Å (issue 16) and ``"3700-5600"`` the blue end too. The pipeline prepares
every stage's spectra with that stage's own ``prepare_config``, so a params model on a wider
grid runs beside a classifier on the default one.
"""

import dataclasses

import numpy as np
from astropy.table import vstack

from ..errors import ConfigurationError
from ..params.emulator import LABEL_NAMES, SlamEmulator
from ..params.training import DEFAULT_MODEL_HYPERPARAMS, DEFAULT_TRAINING
from ..params.uncertainty import DEFAULT_SNR_EDGES, fit_error_model
from ..spectra.continuum import DEFAULT_LINE_MASKS
from ..spectra.grid import ModelGrid, get_grid
from ..spectra.prepare import PrepareConfig
from .folds import plan_digest, train_fold_params
from .heldout import FoldPlan, load_real_templates
from .material import params_training_material
from .params_heldout import (
    heldout_params_predictions,
    params_scores,
    params_test_stars,
    variant_simulation,
)

__all__ = ["params_training_material", "heldout_validation", "calibrate_errors",
           "fold_error_models",
           "validation_tables", "train_default_params_model", "VALIDATION_VARIANTS",
           "PARAMS_GRIDS", "WIDE_LINE_MASKS", "params_prepare_config"]

#: Renderings of the validation (see `bhbfinder.training.params_heldout.VARIANTS`).
VALIDATION_VARIANTS = ("field", "noiseless", "lab")


#: Wavelength ranges the params recipe can train on (vacuum Å, Δlog10 λ = 1e-4);
#: ``"blue-3800-5000"`` is the package default (the shipped model's and the classifier's grid).
PARAMS_GRIDS = {
    "blue-3800-5000": get_grid("blue-3800-5000"),
    "3800-5600": ModelGrid("params-3800-5600", 3800.0, 5600.0, 1e-4),
    "3700-5600": ModelGrid("params-3700-5600", 3700.0, 5600.0, 1e-4),
}

#: Fixed continuum masks added on the wider grids (name, vacuum centre Å, half width Å):
#: H11 and H12 at the blue end and the Mg b triplet (vacuum 5168.8, 5174.1, 5185.0 Å).
WIDE_LINE_MASKS = (
    ("H12", 3751.22, 10.0),
    ("H11", 3771.70, 10.0),
    ("Mg_b", 5176.9, 16.0),
)


def params_prepare_config(grid="blue-3800-5000", continuum_degree=None, line_masks=None):
    """The preprocessing of a params model on one of `PARAMS_GRIDS` (or any grid).

    Parameters
    ----------
    grid : str, dict or `~bhbfinder.spectra.grid.ModelGrid`
        A key of `PARAMS_GRIDS`, else anything `~bhbfinder.spectra.grid.get_grid` takes.
    continuum_degree : int, optional
        Legendre degree of the continuum fit (default: the package default, 5).
    line_masks : tuple of (str, float, float), optional
        Fixed continuum masks. Default: the package's, plus `WIDE_LINE_MASKS` on a grid that
        reaches beyond 3800–5000 Å (masks outside the grid change nothing).

    Returns
    -------
    `~bhbfinder.spectra.prepare.PrepareConfig`
        The package default for ``"blue-3800-5000"`` with no other option.

    Examples
    --------
    >>> params_prepare_config("3800-5600").grid.name
    'params-3800-5600'
    >>> params_prepare_config() == PrepareConfig()
    True
    """
    grid = PARAMS_GRIDS[grid] if isinstance(grid, str) and grid in PARAMS_GRIDS \
        else get_grid(grid)
    base = PrepareConfig()
    wider = grid.wave_min < base.grid.wave_min or grid.wave_max > base.grid.wave_max
    if line_masks is None:
        line_masks = DEFAULT_LINE_MASKS + (WIDE_LINE_MASKS if wider else ())
    continuum = dataclasses.replace(
        base.continuum, line_masks=tuple(line_masks),
        degree=base.continuum.degree if continuum_degree is None else int(continuum_degree))
    return dataclasses.replace(base, grid=grid, continuum=continuum)


def heldout_validation(plan, libraries, library, hyperparams=None, variants=VALIDATION_VARIANTS,
                       per_star=8, seed=0, teff_range=None, tuning=None, log=None):
    """Every test star inferred by the model of its fold, in each rendering.

    Parameters
    ----------
    plan : `~bhbfinder.training.heldout.FoldPlan`
    libraries : list of `~bhbfinder.simulate.TemplateLibrary`
        The templates the plan was built from.
    library : `~bhbfinder.params.training.MilesLibrary`
        The training library (with ``star_ids``).
    hyperparams : dict, optional
        Default `~bhbfinder.params.training.DEFAULT_MODEL_HYPERPARAMS`.
    variants, per_star, seed
        See `~bhbfinder.training.params_heldout.heldout_params_predictions`.
    teff_range : (float, float), optional
        Test stars' Teff range (default: the library's).
    tuning : (flux, ivar), optional
        Tuning observations of the library stars (for ``objective="labels"``).

    Returns
    -------
    `~astropy.table.Table`
        `~bhbfinder.training.params_heldout.heldout_params_predictions` rows (formal errors in
        ``*_err``: the fold models carry no error model).
    """
    if library.star_ids is None:
        raise ConfigurationError("the library has no star_ids; build it with "
                                 "bhbfinder.params.training.miles_library")
    lo = float(np.min(library.labels[:, 0])) if teff_range is None else teff_range[0]
    hi = float(np.max(library.labels[:, 0])) if teff_range is None else teff_range[1]
    stars = params_test_stars(plan, (lo, hi))  # outside the library too: its domain's edges

    def fold_model(k):
        model = train_fold_params(plan, k, library, library.star_ids, tuning, hyperparams,
                                  error_model=None)
        if log:
            log(f"fold {k}: params model fitted on {len(model.train_labels_)} stars")
        return model

    return heldout_params_predictions(plan, fold_model, libraries, stars, variants,
                                      per_star=per_star, seed=seed)


def calibrate_errors(results, variant="field", **fit_options):
    """Fit the error model on held-out residuals, and measure its coverage by cross-fitting.

    Parameters
    ----------
    results : `~astropy.table.Table`
        `heldout_validation` rows (``*_formal_err`` are calibrated).
    variant : str
        The rendering whose residuals calibrate the model.
    **fit_options
        Passed to `~bhbfinder.params.uncertainty.fit_error_model`.

    Returns
    -------
    error_model : `~bhbfinder.params.uncertainty.ErrorModel`
        Fitted on the residuals of every fold.
    results : `~astropy.table.Table`
        A copy whose ``*_err`` columns hold the cross-fitted calibrated errors (each fold's
        from an error model fitted on the other folds' ``variant`` rows), for every variant.
    fold_models : dict
        ``{fold: ErrorModel}`` of those cross-fitted calibrations (what a model of that fold
        may use without having seen its stars' residuals).
    """
    def arrays(rows):
        found = np.column_stack([np.asarray(rows[k], float) for k in LABEL_NAMES])
        formal = np.column_stack([np.asarray(rows[k + "_formal_err"], float) for k in LABEL_NAMES])
        truth = np.column_stack([np.asarray(rows["true_" + k], float) for k in LABEL_NAMES])
        return found, formal, truth, np.asarray(rows["snr"], float)

    use = (np.asarray(results["variant"]).astype(str) == variant) \
        & ~np.asarray(results["doubtful"], bool)
    if not use.any():
        raise ConfigurationError(f"no {variant!r} rows to calibrate the errors on")
    fold = np.asarray(results["fold"])
    model = fit_error_model(*arrays(results[use]), meta={
        "fitted_on": f"held-out {variant} renderings of MILES stars (every fold; doubtful "
                     "stars left out)"}, **fit_options)
    out = results.copy()
    fold_models = {}
    for k in np.unique(fold):
        part = fit_error_model(*arrays(results[use & (fold != k)]), meta={
            "fitted_on": f"held-out {variant} renderings of the folds other than {k}"},
            **fit_options)
        fold_models[int(k)] = part
        rows = fold == k
        found, formal, _, _ = arrays(results[rows])
        err = part.apply(found, formal)
        for j, key in enumerate(LABEL_NAMES):
            col = np.asarray(out[key + "_err"], float)
            col[rows] = np.where(np.isfinite(found[:, j]), err[:, j], np.nan)
            out[key + "_err"] = col
    return model, out, fold_models


def fold_error_models(plan, libraries, library, per_star=8, seed=None, log=None):
    """The error calibration each fold's params model may use, for any fold plan.

    `train_fold_params` takes the shipped model's (``error_model="default"``) only for the
    plan the shipped model was validated on; for another plan its fold models would quote
    formal errors, several times too small. This repeats the shipped recipe's validation for
    ``plan`` (`heldout_validation`, then `calibrate_errors` on its ``field`` rendering), about
    two minutes on one core. The emulators' fits change in the last digits with the number of BLAS
    threads, which the robust error fit can amplify (a scale by ~8 %): the shipped
    calibrations were made on one thread, and come back exactly there (tested).

    Parameters
    ----------
    plan : `~bhbfinder.training.heldout.FoldPlan`
    libraries : list of `~bhbfinder.simulate.TemplateLibrary`
        The templates the plan was built from.
    library : `~bhbfinder.params.training.MilesLibrary`
        The params training library (with ``star_ids``).
    per_star : int
        Renderings of each test star (the shipped validation's 8).
    seed : int, optional
        Seed of the renderings (default the plan's).
    log : callable, optional

    Returns
    -------
    dict
        ``{fold: ErrorModel}``, each fitted without that fold's residuals.
    """
    results = heldout_validation(plan, libraries, library, per_star=per_star,
                                 seed=plan.seed if seed is None else seed, log=log)
    return calibrate_errors(results)[2]


def validation_tables(results, teff_ranges=((7000.0, 10000.0), (6000.0, 7000.0),
                                            (10000.0, 13000.0)), min_snr=30.0):
    """`~bhbfinder.training.params_heldout.params_scores` of every variant and Teff range,
    plus the coverage of the field renderings per S/N bin (7000–10000 K), as a plain dict."""
    out = {}
    for variant in np.unique(np.asarray(results["variant"]).astype(str)):
        for lo, hi in teff_ranges:
            out[f"{variant} {lo:.0f}-{hi:.0f} K S/N>={min_snr:g}"] = params_scores(
                results, variant, (lo, hi), min_snr)
    edges = DEFAULT_SNR_EDGES
    by_snr = {}
    for a, b in zip(edges[:-1], edges[1:], strict=True):
        rows = results[(np.asarray(results["snr"], float) >= a)
                       & (np.asarray(results["snr"], float) < b + (b == edges[-1]))]
        if len(rows):
            by_snr[f"{a:g}-{b:g}"] = params_scores(rows, "field", (7000.0, 10000.0), 0.0)
    out["field 7000-10000 K by S/N"] = by_snr
    return out


def train_default_params_model(data_dir, path=None, config=None, hyperparams=None, n_folds=5,
                               seed=0, per_star=8, log=None, prepare_config=None):
    """Build the shipped params model (see the module docstring) and optionally save it.

    Parameters
    ----------
    data_dir : path-like
        A folder in the ``../shared/data`` layout.
    path : path-like, optional
        Where to write the model (ASDF).
    config : `~bhbfinder.params.training.MilesTrainingConfig`, optional
        Default `~bhbfinder.params.training.DEFAULT_TRAINING`.
    hyperparams : dict, optional
        Default `~bhbfinder.params.training.DEFAULT_MODEL_HYPERPARAMS`.
    n_folds, seed : int
        The fold plan (`~bhbfinder.training.heldout.FoldPlan.build` over ``miles/``,
        ``miles_more/`` and the SDSS templates, as in the classifier's evaluation); ``seed`` also
        seeds the renderings.
    per_star : int
        Renderings of each test star per variant.
    log : callable, optional
        ``log(message)`` for progress.
    prepare_config : `~bhbfinder.spectra.prepare.PrepareConfig` or dict, optional
        The params model's preprocessing (`params_prepare_config`; default: the package
        default, ``blue-3800-5000``): the training library, the held-out renderings and the
        model file's ``meta["prepare_config"]`` all use it.

    Returns
    -------
    model : `~bhbfinder.params.SlamEmulator`
        With ``error_model_`` and ``meta["validation"]``.
    results : `~astropy.table.Table`
        The held-out rows with cross-fitted calibrated errors.
    """
    config = config or DEFAULT_TRAINING
    hyperparams = dict(DEFAULT_MODEL_HYPERPARAMS if hyperparams is None else hyperparams)
    library, _, _ = params_training_material(data_dir, config, prepare_config)
    if log:
        log(f"library: {len(library.labels)} stars")
    libraries = load_real_templates(data_dir)
    plan = FoldPlan.build(libraries, n_folds=n_folds, seed=seed)
    results = heldout_validation(plan, libraries, library, hyperparams, per_star=per_star,
                                 seed=seed, log=log)
    error_model, results, fold_models = calibrate_errors(results)
    hp = dict(hyperparams)
    if hp.get("objective") == "labels":
        hp["objective"] = "flux"  # no separate tuning observations in this recipe
    model = SlamEmulator(**hp).fit(library.flux, library.ivar, library.labels,
                                   wavelength=library.wavelength,
                                   prepare_config=library.prepare_config,
                                   provenance=dict(library.provenance,
                                                   recipe="bhbfinder.training.params_recipe."
                                                          "train_default_params_model"))
    model.error_model_ = error_model
    tables = validation_tables(results)
    model.meta["validation"].update({
        "method": "held-out MILES stars: grouped K-fold by star (bhbfinder.training.heldout."
                  "FoldPlan), each fold's stars rendered as LAMOST spectra through the "
                  "instrument model, prepared by the prepare stage and inverted by the model "
                  "fitted without them; errors calibrated by cross-fitting",
        "plan": {"n_folds": int(n_folds), "seed": int(seed), "digest": plan_digest(plan)},
        # the calibration a model of fold k may use (fitted without fold k's residuals);
        # bhbfinder.training.folds.train_fold_params attaches it
        "fold_error_models": {str(k): m.to_dict() for k, m in fold_models.items()},
        "per_star": int(per_star),
        "variants": {v: _describe(v) for v in VALIDATION_VARIANTS},
        "scores": tables,
        # the headline, under the key earlier versions used
        "scatter": {k: tables["field 7000-10000 K S/N>=30"][k] for k in LABEL_NAMES},
    })
    if path is not None:
        model.save(path)
    return model, vstack([results], metadata_conflicts="silent")


def _describe(variant):
    simulation, noiseless = variant_simulation(variant)
    return {"simulation": {k: list(v) if isinstance(v, tuple) else v
                           for k, v in simulation.items()}, "noiseless": bool(noiseless)}
