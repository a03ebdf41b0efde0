"""Models of one held-out fold, and the whole pipeline run on the fold's held-out stars.

For fold ``k`` of a `~bhbfinder.training.heldout.FoldPlan`:

`train_fold_classifier`
    the classifier recipe trained on the library rows of every star *not* held out in ``k``
    (validation split by star among them; the rows of held-out stars form the test split);
`train_fold_params`
    the params emulator fitted and tuned without the held-out stars;
`run_fold`
    the held-out stars rendered as LAMOST files (`~bhbfinder.training.heldout.render_stars`)
    and run through `~bhbfinder.find_bhb` with the fold's models; the catalogue comes back
    joined to the truth of every rendering.

`REDUCED_BUDGET` is the documented reduced training budget of fold models.
"""

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
from astropy.table import Table

from .._tree import open_plain_asdf
from ..classify.recipes import _merge
from ..errors import ConfigurationError
from ..params.emulator import SlamEmulator
from ..params.training import DEFAULT_MODEL_HYPERPARAMS
from ..params.uncertainty import ErrorModel
from ..pipeline import find_bhb
from ..simulate import simulate_files
from ..stages.params import default_model_path
from .heldout import render_stars

__all__ = ["REDUCED_BUDGET", "train_fold_classifier", "train_fold_params", "run_fold",
           "update_truth",
           "TRUTH_PREFIX", "plan_digest", "shipped_fold_error_model"]

#: Training overrides of fold classifiers: a third of the ``v1`` recipe's epochs, the budget
#: the ``v2`` recipe itself trains with (its folds are the full recipe).
REDUCED_BUDGET = {"epochs_stage1": 12, "epochs_stage2": 10}

#: Prefix of the truth columns `run_fold` joins to the catalogue.
TRUTH_PREFIX = "true_"


def train_fold_classifier(plan, fold, arrays, recipe="default", budget=None, device=None,
                          log=print, val_fraction=0.15, seed=0):
    """Train the classifier recipe without the stars held out in ``fold``.

    Parameters
    ----------
    plan : `~bhbfinder.training.heldout.FoldPlan`
    fold : int
    arrays : dict
        The recipe's prepared library (`bhbfinder.classify.recipes.prepared_arrays`), whose
        ``star_ids`` name each row's source star.
    recipe : str or dict
        Architecture and training settings (`bhbfinder.classify.recipes.RECIPES`).
    budget : dict, optional
        Training overrides (default `REDUCED_BUDGET`; ``{}`` for the full recipe).
    val_fraction : float
        Share of the training stars used for validation (epoch and threshold selection).

    Returns
    -------
    classifier, info
        As `~bhbfinder.classify.training.train_two_stage`; its test split is the library rows
        of the held-out stars.
    """
    from ..classify.msfanet import architecture_config
    from ..classify.training import STAGE2_NEGATIVES, split_by_star, train_two_stage

    rec = _merge(recipe, {"training": dict(REDUCED_BUDGET if budget is None else budget)})
    stars = np.asarray(arrays["star_ids"]).astype(str)
    labels = np.asarray(arrays["labels"]).astype(str)
    keep = plan.training_mask(stars, fold)
    if keep.all():
        raise ConfigurationError(f"fold {fold}: no library row belongs to a held-out star")
    idx = np.flatnonzero(keep)
    tr, va, _ = split_by_star(stars[idx], labels[idx], (1 - val_fraction, val_fraction, 0.0),
                              seed)
    split = (idx[tr], idx[va], np.flatnonzero(~keep))
    arch = dict(rec["architecture"])
    base = arch.pop("base", "default")
    training = dict(rec.get("training") or {})
    return train_two_stage(
        (arrays["flux"], arrays["ivar"], arrays["labels"], arrays["star_ids"]),
        architecture=architecture_config(base, **arch), prepare_config=arrays["prepare_config"],
        wavelength=arrays["wavelength"], input_config=rec.get("input"), training=training,
        augment=rec.get("augment", True), device=device,
        stage2_negatives=tuple(rec.get("stage2_negatives", STAGE2_NEGATIVES)),
        provenance=dict(arrays["provenance"], recipe=rec,
                        held_out={"fold": int(fold), "plan": plan.to_dict()}),
        log=log, split_indices=split)


def train_fold_params(plan, fold, library, star_ids, tuning=None, hyperparams=None,
                      error_model="default"):
    """The params emulator fitted (and tuned) without the stars held out in ``fold``.

    Parameters
    ----------
    plan : `~bhbfinder.training.heldout.FoldPlan`
    fold : int
    library : `~bhbfinder.params.training.MilesLibrary`
        E.g. from `~bhbfinder.training.params_recipe.params_training_material` (the shipped
        model's library).
    star_ids : array of str or None
        ``star_id`` of each library row (None: ``library.star_ids``).
    tuning : (flux, ivar), optional
        The tuning observations of the same stars (rows aligned with ``library``).
    hyperparams : dict, optional
        `~bhbfinder.params.emulator.SlamEmulator` parameters (default the shipped model's).
    error_model : "default", `~bhbfinder.params.uncertainty.ErrorModel` or None
        Calibration of the fold model's errors. ``"default"``: when the shipped model's
        validation used the same plan (same fold of every star, `plan_digest`), the calibration
        it fitted
        without this fold's residuals (``validation["fold_error_models"]``), else none;
        ``None``: the formal errors.

    Returns
    -------
    `~bhbfinder.params.emulator.SlamEmulator`
    """
    if star_ids is None:
        star_ids = library.star_ids
    if star_ids is None or len(star_ids) != len(library.labels):
        raise ConfigurationError("train_fold_params: give the star_id of every library row "
                                 "(or a library built with star_ids)")
    keep = plan.training_mask(star_ids, fold)
    hp = dict(DEFAULT_MODEL_HYPERPARAMS if hyperparams is None else hyperparams)
    tune = None if tuning is None else (tuning[0][keep], tuning[1][keep])
    if tune is None:
        hp.pop("objective", None)
    prov = dict(library.provenance, held_out={"fold": int(fold),
                                              "n_excluded": int((~keep).sum())})
    model = SlamEmulator(**hp).fit(library.flux[keep], library.ivar[keep],
                                   library.labels[keep], wavelength=library.wavelength,
                                   prepare_config=library.prepare_config, provenance=prov,
                                   tuning_data=tune)
    if isinstance(error_model, str):
        if error_model != "default":
            raise ConfigurationError(f"error_model={error_model!r}; use 'default', an "
                                     "ErrorModel or None")
        error_model = shipped_fold_error_model(plan, fold)
    model.error_model_ = error_model
    return model


def plan_digest(plan):
    """A short fingerprint of a plan's fold assignment (which star is held out where)."""
    folds = plan.to_dict()["folds"]
    text = json.dumps(sorted(folds.items()), separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def shipped_fold_error_model(plan, fold):
    """The shipped params model's error calibration fitted without ``fold``, or None when the
    shipped model was validated on another plan (then
    `~bhbfinder.training.params_recipe.fold_error_models` fits one for ``plan``)."""
    try:
        with open_plain_asdf(default_model_path()) as af:
            validation = dict(af.tree.get("validation") or {})
    except (OSError, ValueError):  # pragma: no cover - the shipped file is part of the package
        return None
    recorded = validation.get("plan") or {}
    models = validation.get("fold_error_models") or {}
    if recorded.get("digest") != plan_digest(plan):
        return None
    entry = models.get(str(int(fold)))
    return None if entry is None else ErrorModel.from_dict(entry)


def run_fold(plan, fold, libraries, workdir, classifier=None, params_model=None, stages=None,
             config=None, seed=0, per_star=None, simulation=None, executor=None,
             file_columns=None):
    """Render the stars held out in ``fold`` as LAMOST files and run `find_bhb` on them.

    Parameters
    ----------
    plan : `~bhbfinder.training.heldout.FoldPlan`
    fold : int
    libraries : list of `~bhbfinder.simulate.TemplateLibrary`
        The libraries ``plan`` was built from.
    workdir : path-like
        The files go to ``workdir/files`` (replaced).
    classifier : path-like or TwoStageClassifier, optional
        The fold's classifier (default: the shipped one, for diagnostics).
    params_model : path-like or SlamEmulator, optional
        The fold's params model (default: the shipped one).
    stages, config : dict, optional
        Further `find_bhb` stage choices and options.
    seed : int
        Seed of the renderings (combined with the fold).
    per_star, simulation : dict, optional
        See `render_stars`.
    file_columns : callable, optional
        ``file_columns(truth)`` → dict of columns (one value per row of the renderings'
        truth table, as `~bhbfinder.simulate.simulate_files` returns it) given to `find_bhb`
        in the table of files, e.g. a photometric ``teff_phot``
        (`~bhbfinder.training.heldout.photometric_teff`).

    Returns
    -------
    `~astropy.table.Table`
        The catalogue, one row per rendering, with the truth as ``true_*`` columns
        (``true_label``, ``true_star_id``, ``true_teff``, ``true_logg``, ``true_feh``,
        ``true_snr`` (the S/N the rendering has, ``snr_effective`` of
        `~bhbfinder.training.heldout.render_stars`), ``true_snr_target``,
        ``true_snr_template``, ``true_resolving_power``, ``true_doubtful``, ``true_name``)
        and ``fold``.
    """
    workdir = Path(workdir)
    files = workdir / "files"
    if files.exists():
        shutil.rmtree(files)
    held = plan.stars[np.asarray(plan.stars["fold"]) == fold]
    sim = render_stars(libraries, held, seed=1000 * seed + fold, per_star=per_star,
                       simulation=simulation)
    truth = simulate_files(files, sim)
    config = {k: dict(v) for k, v in (config or {}).items()}
    if params_model is not None:
        config.setdefault("params", {})["model"] = params_model
    source = files
    if file_columns is not None:
        source = Table({"path": [str(files / Path(str(f)).name) for f in truth["file"]],
                        **file_columns(truth)})
    catalog = find_bhb(source, model=classifier, stages=stages, config=config, progress=False,
                       executor=executor)
    catalog = Table(catalog)
    names = np.array([Path(str(f)).name for f in catalog["file"]])
    lookup = {Path(str(f)).name: i for i, f in enumerate(truth["file"])}
    rows = np.array([lookup[n] for n in names])
    for key, col in (("label", "label"), ("star_id", "star_id"), ("teff", "teff"),
                     ("logg", "logg"), ("feh", "feh"), ("snr", "snr_effective"),
                     ("snr_target", "snr_target"), ("snr_template", "snr_template"),
                     ("resolving_power", "resolving_power"), ("doubtful", "doubtful"),
                     ("name", "template"), ("rv", "rv")):
        catalog[TRUTH_PREFIX + key] = np.asarray(truth[col])[rows]
    catalog["fold"] = np.full(len(catalog), int(fold))
    return catalog


def update_truth(catalog, plan, libraries):
    """Bring a held-out catalogue written by an earlier release up to this one's truth (in
    place): the doubtful flags of the current audit, and the S/N its renderings really have.

    ``true_doubtful`` is set from ``plan.stars`` (`~bhbfinder.training.heldout.LABEL_AUDIT`
    as it stands). Where the catalogue predates renderings that carry their template's noise
    (no ``true_snr_target``), ``true_snr`` becomes the effective S/N
    (`~bhbfinder.training.heldout.render_stars`: the target S/N and the template's own noise
    at the rendering's FWHM in quadrature), the value it held is kept as
    ``true_snr_target``, the template's as ``true_snr_template``. The renderings themselves
    and everything measured on them are unchanged.

    Parameters
    ----------
    catalog : `~astropy.table.Table`
        `run_fold` output.
    plan : `~bhbfinder.training.heldout.FoldPlan`
        The plan it was made on (which template each ``true_star_id`` is).
    libraries : list of `~bhbfinder.simulate.TemplateLibrary`

    Returns
    -------
    `~astropy.table.Table`
        ``catalog``.
    """
    from ..simulate.template_noise import (
        TEMPLATE_SNR_FWHM,
        cached_template_snr,
        effective_snr,
        template_snr_at,
    )

    stars = plan.stars
    ids = np.asarray(catalog["true_star_id"]).astype(str)
    doubtful = dict(zip(np.asarray(stars["star_id"]).astype(str),
                        np.asarray(stars["doubtful"], bool), strict=True))
    catalog["true_doubtful"] = np.array([doubtful[s] for s in ids], bool)
    if "true_snr_target" in catalog.colnames:
        return catalog
    where = {str(s): (int(li), int(r)) for s, li, r in
             zip(stars["star_id"], stars["library"], stars["row"], strict=True)}
    values = np.full((len(catalog), len(TEMPLATE_SNR_FWHM)), np.nan)
    unique = np.unique(ids)
    lib_of = np.array([where[sid][0] for sid in unique])
    for li in np.unique(lib_of):      # one measurement per library: each renders it whole
        mine = unique[lib_of == li]
        measured = cached_template_snr(libraries[li], [where[sid][1] for sid in mine])
        for sid, v in zip(mine, measured, strict=True):
            values[ids == sid] = v
    fwhm = 4500.0 / np.asarray(catalog["true_resolving_power"], float)
    target = np.asarray(catalog["true_snr"], float)
    catalog["true_snr_target"] = target
    catalog["true_snr_template"] = template_snr_at(values, fwhm)
    catalog["true_snr"] = effective_snr(target, catalog["true_snr_template"])
    return catalog
