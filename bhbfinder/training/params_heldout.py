"""Held-out evaluation of the params stage on real stars rendered like survey spectra.

A params model is judged on MILES stars (Sánchez-Blázquez et al. 2006; Falcón-Barroso et al.
2011) that neither its weights nor its hyper-parameters saw: the stars of each fold of a
`~bhbfinder.training.heldout.FoldPlan` are rendered as LAMOST spectra through the instrument
model (`~bhbfinder.training.heldout.render_stars`), prepared by
`~bhbfinder.stages.prepare.prepare` exactly as the pipeline prepares a user's files, and
inverted by the model of their fold.

Renderings (`VARIANTS`):

``field``
    `FIELD_SIMULATION`: S/N 10–80, RV ±400 km/s, blue-arm FWHM 2–4 Å, calibration tilt,
    masked segments, cosmic rays, interstellar Ca II K (the held-out instrument model of the
    classifier's evaluation, at the S/N range of the params targets);
``noiseless``
    the same instrument model without noise: rendered at S/N 10,000, then given the inverse
    variance of S/N `NOISELESS_IVAR_SNR` (50), so that preparation (spike cleaning, continuum
    clipping in units of the noise) and the fit's weights work as on a real spectrum while the
    flux carries no noise;
``lab``
    `LAB_SIMULATION`: the training library's own rendering (rest frame, nominal resolution,
    the simulator's default tilt) at S/N 50, the conditions of the older leave-one-star-out
    figures;
``no_<effect>``
    ``noiseless`` with one effect of the instrument model removed (`ATTRIBUTION`), so the
    share of the field error each effect causes can be read off.

`params_scores` gives bias, robust scatter and the coverage of the quoted errors per label.
"""

import dataclasses

import numpy as np
from astropy.table import Table, vstack

from ..errors import ConfigurationError
from ..params.emulator import FLAG_SECOND_SOLUTION, LABEL_NAMES
from ..params.region import SECOND_SOLUTION_MASS, LabelGridPosterior
from ..spectra.noise import NoiseConfig
from ..spectra.prepare import PrepareConfig, prepare
from .heldout import HELD_OUT_SIMULATION, render_stars

__all__ = ["FIELD_SIMULATION", "LAB_SIMULATION", "NOISELESS_SNR", "NOISELESS_IVAR_SNR",
           "ATTRIBUTION", "VARIANTS", "variant_simulation", "params_test_stars", "render_prepared",
           "heldout_params_predictions", "params_scores", "coverage"]

#: The field rendering of held-out stars: the classifier's held-out instrument model at the S/N
#: range of the params targets (10–80).
FIELD_SIMULATION = dict(HELD_OUT_SIMULATION, snr=(10.0, 80.0))

#: The training library's rendering (`bhbfinder.params.training.miles_library`) at S/N 50.
LAB_SIMULATION = {"rv": 0.0, "snr": 50.0}

#: S/N of the noiseless renderings' flux.
NOISELESS_SNR = 1.0e4
#: The S/N their inverse variance is scaled to (clipping thresholds and weights as at this S/N).
NOISELESS_IVAR_SNR = 50.0

#: One effect of `FIELD_SIMULATION` removed at a time (applied to the noiseless rendering).
ATTRIBUTION = {
    "no_rv": {"rv": 0.0, "z_missing_fraction": 0.0},
    "no_resolution": {"blue_fwhm": None, "blue_fwhm_slope": 0.0},
    "no_tilt": {"distortion_sigma": 0.0, "dichroic_step": 0.0},
    "no_masks": {"bad_segment_rate": 0.0, "cosmic_rate": 0.0, "edge_bad_max": 0},
    "no_ism": {"ism_cak_ew": 0.0},
}

#: Every rendering `variant_simulation` knows.
VARIANTS = ("field", "noiseless", "lab") + tuple(ATTRIBUTION)


def variant_simulation(variant):
    """A rendering of `VARIANTS`: ``(SimulationConfig overrides, noiseless)``."""
    if variant == "field":
        return dict(FIELD_SIMULATION), False
    if variant == "lab":
        return dict(LAB_SIMULATION), False
    if variant == "noiseless":
        return dict(FIELD_SIMULATION, snr=NOISELESS_SNR), True
    if variant in ATTRIBUTION:
        return dict(FIELD_SIMULATION, snr=NOISELESS_SNR, **ATTRIBUTION[variant]), True
    raise ConfigurationError(f"unknown rendering {variant!r}; use one of {', '.join(VARIANTS)}")


def params_test_stars(plan, teff_range=(6500.0, 13000.0), sources=("miles",)):
    """Rows of ``plan.stars`` that can test a params model: MILES stars with complete labels.

    Parameters
    ----------
    plan : `~bhbfinder.training.heldout.FoldPlan`
    teff_range : (float, float)
        Published Teff range kept (K).
    sources : sequence of str
        ``source`` values of the plan's stars to keep.
    """
    stars = plan.stars
    labels = np.column_stack([np.asarray(stars[k], float) for k in LABEL_NAMES])
    keep = (np.isin(np.asarray(stars["source"]).astype(str), list(sources))
            & np.isfinite(labels).all(axis=1)
            & (labels[:, 0] >= teff_range[0]) & (labels[:, 0] <= teff_range[1]))
    if not keep.any():
        raise ConfigurationError(f"no star of sources {list(sources)} with complete labels in "
                                 f"{teff_range[0]:g}–{teff_range[1]:g} K")
    return stars[keep]


def render_prepared(libraries, stars, seed=0, per_star=8, simulation=None, prepare_config=None,
                    noiseless=False):
    """Render ``stars`` and prepare the renderings as the pipeline prepares a user's spectra.

    Parameters
    ----------
    libraries : list of `~bhbfinder.simulate.TemplateLibrary`
    stars : `~astropy.table.Table`
        Rows of the plan's star table.
    seed : int
    per_star : int
        Renderings of each star.
    simulation : dict, optional
        `~bhbfinder.simulate.SimulationConfig` overrides (default `FIELD_SIMULATION`).
    prepare_config : `~bhbfinder.spectra.prepare.PrepareConfig` or dict, optional
        The model's preprocessing (default: the package default).
    noiseless : bool
        The renderings' inverse variance is scaled from their target S/N to
        `NOISELESS_IVAR_SNR` (for renderings at `NOISELESS_SNR`: noise-free flux with realistic
        weights), and the preparation's check of the errors against the pixel scatter
        (`bhbfinder.spectra.noise`) is off: the flux has no noise to check them against.

    Returns
    -------
    `~bhbfinder.batch.PreparedBatch`
        Its ``meta`` keeps the truth of every rendering (``star_id``, ``teff``, ``logg``,
        ``feh``, ``snr_target``, ``resolving_power``, ``rv``, ``doubtful``) beside what
        preparation measured (``rv`` becomes the measured velocity; the true one is kept as
        ``rv_true``).
    """
    counts = {c: int(per_star) for c in ("BHB", "A", "B", "HotSD", "WD", "other")}
    sim = render_stars(libraries, stars, seed=seed, per_star=counts,
                       simulation=FIELD_SIMULATION if simulation is None else simulation)
    raw = sim.to_raw_batch()
    if noiseless:
        ratio = (NOISELESS_IVAR_SNR / np.asarray(sim.meta["snr_target"], float)) ** 2
        raw.ivar = (raw.ivar * ratio[:, None]).astype(raw.ivar.dtype)
    raw.meta["rv_true"] = np.asarray(sim.meta["rv"], float)
    raw.meta["doubtful"] = np.asarray(sim.meta["doubtful"], bool)
    config = PrepareConfig() if prepare_config is None else prepare_config
    if isinstance(config, dict):
        config = PrepareConfig.from_dict(config)
    if noiseless:
        config = dataclasses.replace(config, noise=NoiseConfig(enabled=False))
    return prepare(raw, config)


def heldout_params_predictions(plan, fold_model, libraries, stars, variants=("field",),
                               per_star=8, seed=0, folds=None, predict=None):
    """Labels of every held-out star, inferred by the model of its fold, per rendering.

    Parameters
    ----------
    plan : `~bhbfinder.training.heldout.FoldPlan`
    fold_model : callable
        ``fold_model(k)`` → the `~bhbfinder.params.SlamEmulator` that never saw fold ``k``'s
        stars (its ``meta["prepare_config"]`` prepares the renderings).
    libraries : list of `~bhbfinder.simulate.TemplateLibrary`
    stars : `~astropy.table.Table`
        The stars to test (`params_test_stars`); each is rendered in its own fold.
    variants : sequence of str or dict
        Renderings: names of `VARIANTS`, or ``{name: (SimulationConfig overrides,
        noiseless)}``.
    per_star : int
    seed : int
        Seed of the renderings (fold ``k`` uses ``1000 * seed + k``; every variant the same).
    folds : sequence of int, optional
        Only these folds.
    predict : callable, optional
        ``predict(model, prepared) -> (labels, errors, flags)`` (default: the model's
        ``predict`` on the batch's flux, ivar and mask).

    Returns
    -------
    `~astropy.table.Table`
        One row per rendering: ``variant``, ``fold``, ``star_id``, ``name``, ``doubtful``,
        ``true_teff``, ``true_logg``, ``true_feh``, ``snr``, ``blue_fwhm`` (Å at 4500 Å),
        ``rv_true``, ``rv`` (measured), ``rv_source``, ``status``, ``teff``, ``teff_err``,
        ``logg``, ``logg_err``, ``feh``, ``feh_err``, ``params_flags``, the formal errors
        ``*_formal_err`` and ``reduced_chi2`` (NaN when ``predict`` is given).
    """
    if isinstance(variants, dict):
        named = dict(variants)
    else:
        named = {v: variant_simulation(v) for v in variants}
    folds = range(plan.n_folds) if folds is None else folds
    star_fold = plan.fold_of(stars["star_id"])
    parts = []
    for k in folds:
        mine = stars[star_fold == k]
        if not len(mine):
            continue
        model = fold_model(k)
        for name, (simulation, noiseless) in named.items():
            prepared = render_prepared(libraries, mine, 1000 * seed + k, per_star, simulation,
                                       model.meta.get("prepare_config"), noiseless)
            parts.append(_predict_table(model, prepared, name, k, predict))
    if not parts:
        raise ConfigurationError("no test star falls in the folds asked for")
    return vstack(parts, metadata_conflicts="silent")


def _predict_table(model, prepared, variant, fold, predict):
    meta = prepared.meta
    n = len(meta)
    ok = prepared.ok
    labels = np.full((n, 3), np.nan)
    errors = np.full((n, 3), np.nan)
    formal = np.full((n, 3), np.nan)
    rchi2 = np.full(n, np.nan)
    flags = np.zeros(n, np.int64)
    if ok.any():
        if predict is None:
            res = model.predict(prepared.flux[ok], prepared.ivar[ok], mask=prepared.mask[ok],
                                return_details=True)
            lab, err, fl = res.labels, res.label_err, res.flags
            formal[ok], rchi2[ok] = res.formal_err, res.reduced_chi2
            # the flag the params stage adds from its label posterior
            _, far = LabelGridPosterior(model).posterior_summary(
                prepared.flux[ok], prepared.ivar[ok], teff=lab[:, 0], mask=prepared.mask[ok],
                min_pixels=model.min_pixels)
            fl = fl | np.where(np.nan_to_num(far) >= SECOND_SOLUTION_MASS,
                               FLAG_SECOND_SOLUTION, 0)
        else:
            lab, err, fl = predict(model, prepared.take(ok))
        labels[ok], errors[ok], flags[ok] = lab, err, fl
    out = Table()
    out["variant"] = np.full(n, variant)
    out["fold"] = np.full(n, int(fold))
    for key in ("star_id", "template"):
        out["name" if key == "template" else key] = np.asarray(meta[key]).astype(str)
    out["doubtful"] = np.asarray(meta["doubtful"], bool)
    for key in LABEL_NAMES:
        out["true_" + key] = np.asarray(meta[key], float)
    out["snr"] = np.asarray(meta["snr_target"], float)
    out["blue_fwhm"] = 4500.0 / np.asarray(meta["resolving_power"], float)
    out["rv_true"] = np.asarray(meta["rv_true"], float)
    out["rv"] = np.asarray(meta["rv"], float)
    out["rv_source"] = np.asarray(meta["rv_source"]).astype(str)
    out["status"] = np.asarray(meta["status"]).astype(str)
    for j, key in enumerate(LABEL_NAMES):
        out[key] = labels[:, j]
        out[key + "_err"] = errors[:, j]
        out[key + "_formal_err"] = formal[:, j]
    out["params_flags"] = flags
    out["reduced_chi2"] = rchi2
    return out


def coverage(found, err, truth):
    """Fraction of finite rows with ``|found - truth| <= err`` (68 % for honest 1σ errors)."""
    d = np.abs(np.asarray(found, float) - np.asarray(truth, float))
    e = np.asarray(err, float)
    good = np.isfinite(d) & np.isfinite(e)
    return float(np.mean(d[good] <= e[good])) if good.any() else float("nan")


def params_scores(results, variant=None, teff_range=(7000.0, 10000.0), min_snr=30.0,
                  doubtful=False, flagged=True):
    """Bias, robust scatter and error coverage per label of `heldout_params_predictions` rows.

    Parameters
    ----------
    results : `~astropy.table.Table`
    variant : str, optional
        Only rows of this rendering.
    teff_range : (float, float)
        True Teff range kept (K).
    min_snr : float
        Renderings below this target S/N are left out.
    doubtful : bool
        Keep the stars `~bhbfinder.training.heldout.LABEL_AUDIT` marks doubtful.
    flagged : bool
        Keep rows with non-zero ``params_flags`` (fits that failed are always left out).

    Returns
    -------
    dict
        ``{label: {"bias", "robust_sigma", "std", "coverage", "n"}}`` plus ``n_stars``.
    """
    t = results
    keep = np.ones(len(t), bool)
    if variant is not None:
        keep &= np.asarray(t["variant"]).astype(str) == variant
    teff = np.asarray(t["true_teff"], float)
    keep &= (teff >= teff_range[0]) & (teff <= teff_range[1])
    keep &= np.asarray(t["snr"], float) >= min_snr
    if not doubtful:
        keep &= ~np.asarray(t["doubtful"], bool)
    if not flagged:
        keep &= np.asarray(t["params_flags"]) == 0
    keep &= np.isfinite(np.asarray(t["teff"], float))
    out = {}
    for key in LABEL_NAMES:
        d = np.asarray(t[key], float)[keep] - np.asarray(t["true_" + key], float)[keep]
        med = float(np.median(d)) if d.size else float("nan")
        out[key] = {
            "bias": med,
            "robust_sigma": float(1.4826 * np.median(np.abs(d - med))) if d.size
            else float("nan"),
            "std": float(np.std(d)) if d.size else float("nan"),
            "coverage": coverage(np.asarray(t[key], float)[keep],
                                 np.asarray(t[key + "_err"], float)[keep],
                                 np.asarray(t["true_" + key], float)[keep]),
            "n": int(d.size),
        }
    out["n_stars"] = int(np.unique(np.asarray(t["star_id"])[keep]).size)
    return out
