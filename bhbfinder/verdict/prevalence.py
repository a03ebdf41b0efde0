"""A catalogue's own share of BHB stars, and its verdict moved to it.

``p_bhb`` is calibrated for the class mix of the held-out evaluation
(`~bhbfinder.verdict.model.VerdictModel.prevalence`: the share of BHB stars among the hot
spectra, measured Teff ≥ `~bhbfinder.verdict.model.PREVALENCE_TEFF_MIN`). A survey sample has
its own share, usually smaller, which is rarely known in advance. If the features of the BHB
stars and of the other hot stars look the same in the sample as in the evaluation, only the
prior changes, and the sample's share can be estimated from the calibrated probabilities
themselves by the expectation-maximisation of Saerens, Latinne & Decaestecker (2002, Neural
Computation 14, 21): shift every row's log odds to the current estimate of the share, take the
mean shifted probability over the hot rows as the next estimate, and repeat until it settles.

`estimate_prevalence` does that for a finished catalogue; `apply_prevalence` moves the
catalogue's ``p_bhb``, ``is_bhb`` and ``is_new_bhb`` to a given share (the threshold chosen
again by `~bhbfinder.verdict.model.VerdictModel.for_prevalence`). ``find_bhb(...,
config={"verdict": {"prevalence": "estimate"}})`` does both at the end of a run.
"""

import numpy as np
from astropy.table import MaskedColumn

from .._data import default_model_path
from ..catalog import STAGE_OK, ensure_columns, new_bhb_column, summarize
from ..errors import ConfigurationError
from .features import logit
from .model import PREVALENCE_TEFF_MIN, VerdictModel

__all__ = ["estimate_prevalence", "apply_prevalence", "ESTIMATE", "MIN_ROWS"]

#: The ``prevalence`` option's value that asks for the catalogue's own share.
ESTIMATE = "estimate"

_EPS = 1e-12


def _model(model):
    if isinstance(model, VerdictModel):
        return model
    return VerdictModel.load(default_model_path("verdict") if model is None else model)


def _values(table, name):
    col = table[name]
    data = np.ma.asarray(col)
    return np.asarray(np.ma.filled(data.astype(float), np.nan), float)


def _current_prevalence(table, model):
    """The share the catalogue's ``p_bhb`` was computed for."""
    given = table.meta.get("verdict_prevalence")
    return float(given) if given is not None else model.prevalence


#: Fewest hot rows `estimate_prevalence` estimates a share from (by default).
MIN_ROWS = 20


def estimate_prevalence(table, model=None, max_iter=1000, tol=1e-8, min_rows=MIN_ROWS):
    """The share of BHB stars among a catalogue's hot spectra, from its ``p_bhb``.

    Parameters
    ----------
    table : `~astropy.table.Table`
        A catalogue of `~bhbfinder.find_bhb` (columns ``p_bhb``, ``teff``; its
        ``meta["verdict_prevalence"]`` says which share its ``p_bhb`` is for, default the
        model's).
    model : str, path-like or `~bhbfinder.verdict.model.VerdictModel`, optional
        The verdict model that computed ``p_bhb`` (default: the shipped one).
    max_iter : int
        Most iterations.
    tol : float
        Stop when the estimate changes by less than this.
    min_rows : int
        Fewest hot rows to estimate from: the estimate is a mean over them (one hot row with
        ``p_bhb`` above one half already drives it to 1).

    Returns
    -------
    dict
        ``prevalence`` (the estimate), ``n_hot`` (hot rows with a ``p_bhb``), ``prior`` (the
        share the column was computed for), ``iterations`` and ``converged``.

    Raises
    ------
    ConfigurationError
        When the catalogue lacks the columns, has fewer than ``min_rows`` hot rows with a
        ``p_bhb``, or the model records no prevalence.
    """
    missing = [c for c in ("p_bhb", "teff") if c not in table.colnames]
    if missing:
        raise ConfigurationError(f"estimate_prevalence: the catalogue has no {missing} "
                                 "column(s); run find_bhb with the params and verdict stages")
    model = _model(model)
    prior = _current_prevalence(table, model)
    if prior is None:
        raise ConfigurationError("estimate_prevalence: the verdict model records no "
                                 "prevalence; refit it with benchmarks/held_out_stars.py")
    p, teff = _values(table, "p_bhb"), _values(table, "teff")
    with np.errstate(invalid="ignore"):
        hot = np.isfinite(p) & np.isfinite(teff) & (teff >= PREVALENCE_TEFF_MIN)
    if hot.sum() < max(int(min_rows), 1):
        raise ConfigurationError(
            f"estimate_prevalence: {int(hot.sum())} row(s) have a p_bhb and a measured Teff >= "
            f"{PREVALENCE_TEFF_MIN:g} K, fewer than the {int(min_rows)} needed to estimate the "
            "share of BHB stars; give the share as a number instead")
    log_odds = logit(p[hot], _EPS)
    share = prior
    iterations, converged = 0, False
    while iterations < max_iter and not converged:
        shift = float(logit(share, _EPS) - logit(prior, _EPS))
        new = float(np.mean(1.0 / (1.0 + np.exp(-(log_odds + shift)))))
        new = min(max(new, _EPS), 1.0 - _EPS)
        converged = abs(new - share) < tol
        share = new
        iterations += 1
    return {"prevalence": share, "n_hot": int(hot.sum()), "prior": prior,
            "iterations": iterations, "converged": converged}


def apply_prevalence(table, prevalence, model=None, min_rows=MIN_ROWS):
    """The catalogue with ``p_bhb``, ``is_bhb`` and ``is_new_bhb`` moved to another share.

    Parameters
    ----------
    table : `~astropy.table.Table`
        A catalogue of `~bhbfinder.find_bhb`.
    prevalence : float or ``"estimate"``
        The share of BHB stars among the hot spectra (see
        `~bhbfinder.verdict.model.VerdictModel.for_prevalence`), or ``"estimate"`` for
        `estimate_prevalence`'s.
    model : str, path-like or `~bhbfinder.verdict.model.VerdictModel`, optional
        The verdict model that computed ``p_bhb`` (default: the shipped one).
    min_rows : int
        For ``"estimate"``: see `estimate_prevalence`.

    Returns
    -------
    `~astropy.table.Table` (of the input's class)
        A copy: ``p_bhb`` with every row's log odds shifted, ``is_bhb`` against the threshold
        chosen again, ``is_new_bhb`` derived again; masked rows stay masked. The meta records
        ``verdict_prevalence``, ``verdict_threshold`` and, for an estimate,
        ``verdict_prevalence_estimate`` (`estimate_prevalence`'s record); the summary counts
        are updated.
    """
    model = _model(model)
    estimate = None
    if isinstance(prevalence, str) and prevalence == ESTIMATE:
        estimate = estimate_prevalence(table, model, min_rows=min_rows)
        prevalence = estimate["prevalence"]
    prior = _current_prevalence(table, model)
    moved = model.for_prevalence(prevalence)      # validates the value
    shift = float(logit(moved.prevalence, _EPS) - logit(prior, _EPS))
    out = table.copy()
    p = np.ma.asarray(table["p_bhb"]).astype(float)
    mask = np.ma.getmaskarray(p) | ~np.isfinite(np.ma.getdata(p))
    log_odds = logit(np.where(mask, 0.5, np.ma.getdata(p)), _EPS)
    shifted = np.where(mask, np.nan, 1.0 / (1.0 + np.exp(-(log_odds + shift))))
    out["p_bhb"] = MaskedColumn(shifted, mask=mask, description=table["p_bhb"].description)
    decided = ~mask & (np.nan_to_num(shifted) >= moved.threshold_)
    out["is_bhb"] = MaskedColumn(decided, mask=mask, description=(
        f"final decision: p_bhb >= {moved.threshold_:.3g} (threshold chosen again on held-out "
        f"stars for a BHB share of {moved.prevalence:.3g} among hot spectra)"))
    out.meta["verdict_prevalence"] = moved.prevalence
    out.meta["verdict_threshold"] = moved.threshold_
    if estimate is not None:
        out.meta["verdict_prevalence_estimate"] = estimate
    if "is_new_bhb" in out.colnames:
        ensure_columns(out)     # the columns the rule reads (masked where a stage did not run)
        status = out.meta.get("stage_status", {})
        out["is_new_bhb"] = new_bhb_column(out, known_checked=status.get("known") == STAGE_OK)
    if "summary" in out.meta:
        summary = dict(out.meta["summary"])
        summary.update({k: v for k, v in summarize(out).items() if k in (
            "bhb", "new", "new_undetermined", "verdict_prevalence", "verdict_threshold",
            "verdict_prevalence_rows")})
        out.meta["summary"] = summary
    return out
