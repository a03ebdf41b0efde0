"""Deriving a temperature-dependent criteria set from labelled stars (how ``"lamost"`` is made).

`derive_teff_criteria` turns Balmer-stage measurements of labelled spectra (e.g. real stars
rendered through the instrument model, `bhbfinder.training.heldout`) into a
`~bhbfinder.balmer.criteria.CriteriaSet` in three steps:

1. **Temperature** (`fit_teff_model`): a ridge regression of log10 Teff on standardised
   measurements (`TEFF_FEATURES`: D0.2, equivalent width, depth and shape of Hδ, Hγ, Hβ) over
   the labelled BHB, A and B stars, each star weighing the same whatever its number of
   spectra. Output column ``teff_balmer``.
2. **Metallicity** (`fit_cak_expectation`): ``ln(cak_star_ew + 0.3)`` as a quadratic in
   ``log10 Teff`` plus terms in [Fe/H] and [Fe/H]·log10 Teff, over the stars with a known
   [Fe/H]; evaluated at [Fe/H] = −0.8 it gives the K line a star at that metallicity shows
   (the criterion of Ju et al. 2024), and ``cak_excess`` the measured stellar line above it.
3. **Gravity** (`fit_gravity_index`, where the cuts use ``gravity_index``): a class-balanced
   logistic regression, ridge-penalised, of "high-gravity A or B star" against "BHB star" on
   standardised Balmer-profile measurements (`GRAVITY_FEATURES`: D0.2 of Hδ, Hγ, Hβ, Hε, H8,
   H9, equivalent widths of Hδ, Hγ, Hβ, H8, H9, corrected depths and shapes of Hδ and Hγ),
   each star weighing the same. Output column ``gravity_index``, the log-odds of high gravity.
4. **Boundaries**: for each cut column (`LAMOST_CUTS`), lower and upper bounds at knots of
   ``teff_balmer`` (`TEFF_KNOTS`), each the weighted quantile of the positives' values with
   Gaussian weights in ``teff_balmer`` about the knot (σ = ``kernel`` K), so that every knot
   borrows from the stars nearby. The quantile level of each bound is chosen by coordinate
   ascent: the fewest negatives confirmed while at least ``min_completeness`` of the
   positives are. Between knots the bounds are interpolated linearly.

Everything is plain numpy; the function records what it was fitted on in the set's ``meta``.
"""

import numpy as np

from ..errors import ConfigurationError
from .criteria import CriteriaSet, Cut
from .derived import CaKExcess, GravityIndex, TeffModel, column_values

__all__ = ["TEFF_FEATURES", "GRAVITY_FEATURES", "TEFF_KNOTS", "LAMOST_CUTS", "METAL_CUT",
           "fit_teff_model",
           "fit_cak_expectation", "fit_gravity_index", "derive_teff_criteria", "weighted_quantile"]

#: Measurements the temperature model uses (resolution-robust ones first).
TEFF_FEATURES = ("hdelta_d02", "hgamma_d02", "hbeta_d02", "hdelta_ew", "hgamma_ew", "hbeta_ew",
                 "hdelta_a_corr", "hgamma_a_corr", "hbeta_a_corr", "hdelta_c_corr",
                 "hgamma_c_corr", "hbeta_c_corr")

#: Measurements the gravity index weighs: the widths of all six Balmer lines, equivalent widths,
#: and the resolution-corrected depths and shapes of Hδ and Hγ.
GRAVITY_FEATURES = ("hdelta_d02", "hgamma_d02", "hbeta_d02", "h8_d02", "h9_d02", "hepsilon_d02",
                    "hdelta_c_corr", "hgamma_c_corr", "hdelta_a_corr", "hgamma_a_corr",
                    "hdelta_ew", "hgamma_ew", "hbeta_ew", "h8_ew", "h9_ew")

#: Knots (K, in ``teff_balmer``) of the temperature-dependent bounds.
TEFF_KNOTS = (7000.0, 8000.0, 9000.0, 10000.0, 11000.0, 12000.0)

#: The cuts of ``"lamost"``: column -> (bounds, what failing the low bound means, what failing
#: the high bound means). ``bounds`` is "both", "low" or "high". The texts end up in
#: ``balmer_reason`` (ASCII, so that every catalogue format can hold them).
LAMOST_CUTS = {
    "hdelta_d02": ("both",
                   "Hdelta wings narrower than a BHB star's at this temperature (a hotter star or "
                   "a supergiant?)",
                   "Hdelta wings too broad for a BHB star at this temperature: surface gravity "
                   "of a main-sequence A star or blue straggler"),
    "hgamma_d02": ("both",
                   "Hgamma wings narrower than a BHB star's at this temperature (a hotter star or "
                   "a supergiant?)",
                   "Hgamma wings too broad for a BHB star at this temperature: surface gravity "
                   "of a main-sequence A star or blue straggler"),
    "hgamma_c_corr": ("both",
                      "Hgamma profile too pointed (wings broad for its core): high gravity",
                      "Hgamma profile too flat-cored for a BHB star (a cooler or lower-gravity "
                      "star?)"),
    "hdelta_c_corr": ("both",
                      "Hdelta profile too pointed (wings broad for its core): high gravity",
                      "Hdelta profile too flat-cored for a BHB star"),
    "h8_d02": ("both",
               "H8 narrower than a BHB star's at this temperature",
               "H8 too broad for a BHB star at this temperature: high gravity"),
    "cak_excess": ("high", "",
                   "Ca II K stronger than a star of [Fe/H] = -0.8 shows at this temperature "
                   "(after removing the interstellar line): a metal-rich disk star, not a halo "
                   "BHB star"),
    "gravity_index": ("high", "",
                      "Balmer lines, taken together, those of a high-gravity A or B star (a "
                      "main-sequence star or blue straggler), not a BHB star"),
}

#: An upper bound on the metallic-line index (`bhbfinder.balmer.metals`), in the format of
#: `LAMOST_CUTS`: not in the shipped set (on held-out stars it helps only with a temperature
#: better than ``teff_balmer``; docs/balmer.rst), offered for derivations of your own.
METAL_CUT = {
    "metal_index": ("high", "",
                    "metal lines stronger than a BHB star's at this temperature: a metal-rich "
                    "disk star, not a halo BHB star"),
}

_DEFAULT_QUANTILES = (0.0, 0.01, 0.02, 0.04, 0.07, 0.1, 0.15)


def weighted_quantile(values, weights, q):
    """Quantile ``q`` (0–1) of ``values`` with ``weights`` (NaN values are ignored)."""
    values = np.asarray(values, float)
    weights = np.asarray(weights, float)
    ok = np.isfinite(values) & (weights > 0)
    if not ok.any():
        return np.nan
    order = np.argsort(values[ok])
    v, w = values[ok][order], weights[ok][order]
    cum = (np.cumsum(w) - 0.5 * w) / w.sum()
    return float(np.interp(q, cum, v))


def _star_weights(star_ids, n):
    if star_ids is None:
        return np.ones(n)
    ids = np.asarray(star_ids).astype(str)
    _, inverse, counts = np.unique(ids, return_inverse=True, return_counts=True)
    return 1.0 / counts[inverse]


def fit_teff_model(table, teff, weights=None, features=TEFF_FEATURES, ridge=3.0,
                   teff_range=(6500.0, 16000.0), name="teff_balmer"):
    """Ridge regression of log10 Teff on standardised measurements.

    Parameters
    ----------
    table : Table or dict of arrays
        Balmer measurements.
    teff : array
        True Teff (K) of each row (NaN: not used).
    weights : array, optional
        Row weights (e.g. one per star in total).
    features : sequence of str
    ridge : float
        Ridge penalty in units of the total weight fraction (on standardised inputs).
    teff_range : (float, float)
        Rows with Teff outside it are not used.

    Returns
    -------
    `~bhbfinder.balmer.derived.TeffModel`
    """
    X = np.stack([column_values(table, f) for f in features], axis=1)
    teff = np.asarray(teff, float)
    w = np.ones(len(teff)) if weights is None else np.asarray(weights, float)
    use = np.all(np.isfinite(X), axis=1) & np.isfinite(teff) & (teff > teff_range[0]) & \
        (teff < teff_range[1]) & (w > 0)
    if use.sum() < 3 * len(features):
        raise ConfigurationError(f"fit_teff_model: {int(use.sum())} usable rows for "
                                 f"{len(features)} features; give more labelled spectra")
    center = np.median(X[use], axis=0)
    scale = 1.4826 * np.median(np.abs(X[use] - center), axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    Z = np.clip((X[use] - center) / scale, -4.0, 4.0)
    A = np.column_stack([Z, np.ones(len(Z))])
    ww = w[use] / w[use].sum() * len(Z)
    pen = ridge * np.eye(A.shape[1])
    pen[-1, -1] = 0.0
    coef = np.linalg.solve(A.T @ (A * ww[:, None]) + pen, A.T @ (ww * np.log10(teff[use])))
    resid = 10 ** (A @ coef) - teff[use]
    meta = (("n_rows", int(use.sum())), ("ridge", float(ridge)),
            ("rms_K_in_sample", float(np.sqrt(np.average(resid ** 2, weights=ww)))))
    return TeffModel(tuple(features), tuple(center), tuple(scale), tuple(coef[:-1]),
                     float(coef[-1]), name=name, meta=meta)


def fit_cak_expectation(table, teff, feh, weights=None, feh_ref=-0.8,
                        teff_range=(6800.0, 13000.0), ew_column="cak_star_ew", offset=0.3,
                        teff_column="teff_balmer"):
    """Calibrate the K line of a ``feh_ref`` star against Teff (see the module docstring).

    Returns
    -------
    `~bhbfinder.balmer.derived.CaKExcess`
    """
    ew = column_values(table, ew_column)
    teff = np.asarray(teff, float)
    feh = np.asarray(feh, float)
    w = np.ones(len(teff)) if weights is None else np.asarray(weights, float)
    use = np.isfinite(ew) & np.isfinite(teff) & np.isfinite(feh) & (teff > teff_range[0]) & \
        (teff < teff_range[1]) & (w > 0)
    if use.sum() < 20:
        raise ConfigurationError(f"fit_cak_expectation: {int(use.sum())} usable rows; give "
                                 "more spectra of stars with known Teff and [Fe/H]")
    x = np.log10(teff[use]) - 3.95
    f = feh[use]
    A = np.column_stack([np.ones_like(x), x, x * x, f, f * x])
    y = np.log(np.clip(ew[use], 0.0, None) + offset)
    sw = np.sqrt(w[use])
    coef, *_ = np.linalg.lstsq(A * sw[:, None], y * sw, rcond=None)
    p = (coef[0] + coef[3] * feh_ref, coef[1] + coef[4] * feh_ref, coef[2])
    meta = (("n_rows", int(use.sum())), ("feh_coef", float(coef[3])),
            ("feh_logt_coef", float(coef[4])))
    return CaKExcess(p, offset, feh_ref, teff_column, ew_column, meta=meta)


def fit_gravity_index(table, labels, positive="BHB", negatives=("A", "B"), weights=None,
                      features=GRAVITY_FEATURES, l2=1.0, n_iter=50, name="gravity_index"):
    """Logistic regression of high gravity (``negatives``) against ``positive`` (module doc).

    Minimises ``Σ w_i [ln(1 + e^η_i) − y_i η_i] + l2/2 Σ_j β_j²`` (``y`` = 1 for the negatives,
    intercept not penalised) by Newton steps with step halving, on inputs standardised by their
    median and MAD and clipped to ±4. The rows' weights are rescaled so that each class weighs
    as many rows as are used: the index is balanced between the classes, and ``l2`` is the
    inverse of scikit-learn's ``C``.

    Parameters
    ----------
    table : Table or dict of arrays
        Balmer measurements (every column of ``features``).
    labels : array of str
        Class of each row; rows of other classes are not used.
    positive : str
    negatives : sequence of str
    weights : array, optional
        Row weights (e.g. one per star in total; 0 leaves a row out).
    features : sequence of str
    l2 : float
        Ridge penalty on the standardised coefficients.
    n_iter : int
        Newton iterations at most.
    name : str
        Output column.

    Returns
    -------
    `~bhbfinder.balmer.derived.GravityIndex`
    """
    X = np.stack([column_values(table, f) for f in features], axis=1)
    labels = np.asarray(labels).astype(str)
    w = np.ones(len(labels)) if weights is None else np.asarray(weights, float)
    y_all = np.isin(labels, tuple(negatives))
    use = np.all(np.isfinite(X), axis=1) & (w > 0) & (y_all | (labels == positive))
    y = y_all[use].astype(float)
    if y.sum() < 10 or (1 - y).sum() < 10:
        raise ConfigurationError(f"fit_gravity_index: {int((1 - y).sum())} {positive} and "
                                 f"{int(y.sum())} {'/'.join(negatives)} usable rows; need 10 "
                                 "of each")
    center = np.median(X[use], axis=0)
    scale = 1.4826 * np.median(np.abs(X[use] - center), axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    A = np.column_stack([np.clip((X[use] - center) / scale, -4.0, 4.0), np.ones(len(y))])
    ww = w[use].copy()
    for cls in (0.0, 1.0):
        ww[y == cls] *= len(y) / ww[y == cls].sum()
    pen = np.full(A.shape[1], float(l2))
    pen[-1] = 0.0

    def loss(beta):
        eta = A @ beta
        return float(np.sum(ww * (np.logaddexp(0.0, eta) - y * eta)) +
                     0.5 * np.sum(pen * beta * beta))

    beta = np.zeros(A.shape[1])
    current = loss(beta)
    for _ in range(n_iter):
        p = 0.5 * (1.0 + np.tanh(0.5 * (A @ beta)))         # the logistic function, overflow-free
        grad = A.T @ (ww * (p - y)) + pen * beta
        hess = A.T @ (A * (ww * p * (1.0 - p))[:, None]) + np.diag(pen + 1e-9)
        step = np.linalg.solve(hess, grad)
        t = 1.0
        while t > 1e-4 and loss(beta - t * step) > current:
            t *= 0.5
        new = loss(beta - t * step)
        beta = beta - t * step
        if current - new < 1e-10 * max(1.0, abs(current)):
            current = new
            break
        current = new
    meta = (("n_rows", int(use.sum())), ("l2", float(l2)), ("positive", positive),
            ("negatives", "/".join(negatives)), ("loss", current))
    return GravityIndex(tuple(features), tuple(center), tuple(scale), tuple(beta[:-1]),
                        float(beta[-1]), name=name, meta=meta)


def derive_teff_criteria(table, labels, teff, feh, star_ids=None, positive="BHB",
                         negatives=("A", "B"), cuts=None, knots=TEFF_KNOTS, kernel=700.0,
                         quantiles=_DEFAULT_QUANTILES, min_completeness=0.9, n_pass=3,
                         rows=None, teff_classes=None, teff_range=(6500.0, 12500.0),
                         teff_column=None, name="lamost", description="", references=(),
                         meta=None):
    """Derive a criteria set with temperature-dependent bounds (module docstring).

    Parameters
    ----------
    table : Table or dict of arrays
        Balmer-stage measurements (every column of ``cuts`` and `TEFF_FEATURES`, and
        ``cak_star_ew``).
    labels : array of str
        Class of each row.
    teff, feh : array of float
        True Teff (K) and [Fe/H] of each row's star (NaN where unknown).
    star_ids : array of str, optional
        The star of each row: every star then weighs the same in the temperature and K fits.
    positive : str
    negatives : sequence of str
        The classes the boundaries are optimised against (others are ignored).
    cuts : dict, optional
        ``{column: (bounds, why_low, why_high)}`` (default `LAMOST_CUTS`). Where it holds
        ``gravity_index``, the gravity model is fitted (`fit_gravity_index`) on ``rows``.
    knots : sequence of float
        Knots of the bounds in the temperature coordinate (K).
    kernel : float
        σ (K) of the Gaussian weights about each knot.
    quantiles : sequence of float
        Candidate tail fractions of each bound.
    min_completeness : float
        Fraction of the positive rows (among ``rows``) the set must keep.
    rows : array of bool, optional
        Rows the boundaries are fitted on (e.g. S/N ≥ 15); the temperature and K models use
        every row.
    teff_classes : sequence of str, optional
        Classes the temperature model is fitted on (default: the positives and negatives).
    teff_range : (float, float)
        Teff range (K) of the rows the temperature model is fitted on.
    teff_column : str, optional
        A column of ``table`` to take as the temperature coordinate instead of fitting
        ``teff_balmer`` (e.g. ``"teff"`` of the params stage, or a photometric Teff of your
        own). The set then needs that column where it is applied, which the Balmer stage,
        running before the params stage, does not have: evaluate it on the finished
        catalogue (``CriteriaSet.evaluate``).
    name, description, references, meta
        Of the returned set (``meta`` is extended with the fit's record).

    Returns
    -------
    CriteriaSet
    """
    cuts = dict(LAMOST_CUTS if cuts is None else cuts)
    labels = np.asarray(labels).astype(str)
    n = len(labels)
    teff = np.asarray(teff, float)
    w_star = _star_weights(star_ids, n)
    classes = np.isin(labels, (positive,) + tuple(negatives))
    in_teff = np.isin(labels, (positive,) + tuple(negatives) if teff_classes is None
                      else tuple(teff_classes))
    if teff_column is None:
        tmodel = fit_teff_model(table, teff, weights=w_star * in_teff, teff_range=teff_range)
        by = tmodel.name
        derived = (tmodel,)
        view = dict(tmodel.compute(table))
    else:
        by = str(teff_column)
        derived = ()
        view = {by: column_values(table, by)}
    kmodel = fit_cak_expectation(table, teff, feh, weights=w_star, teff_column=by)
    derived += (kmodel,)
    view.update(kmodel.compute({**_as_dict(table, kmodel.inputs), **view}))
    rows = classes.copy() if rows is None else np.asarray(rows, bool) & classes
    if "gravity_index" in cuts:
        gmodel = fit_gravity_index(table, labels, positive, negatives, weights=w_star * rows)
        derived += (gmodel,)
        view.update(gmodel.compute(table))
    tb = view[by]
    values = {c: view[c] if c in view else column_values(table, c) for c in cuts}
    pos = rows & (labels == positive)
    neg = rows & ~(labels == positive)
    if pos.sum() < 10:
        raise ConfigurationError(f"derive_teff_criteria: {int(pos.sum())} positive rows; need "
                                 "at least 10")
    knots = np.asarray(knots, float)
    kw = np.nan_to_num(np.exp(-0.5 * ((tb[pos][None, :] - knots[:, None]) / kernel) ** 2))
    # stars far from a knot do not set its bounds (their weight would still fix the extremes)
    kw = np.where(kw >= 0.01 * kw.max(axis=1, keepdims=True), kw, 0.0) * w_star[pos]
    qs = np.asarray(sorted(set(quantiles)), float)

    # candidate bounds per column: (nq, nknots) for low (quantile q) and high (1 - q)
    cand = {}
    for c in cuts:
        v = values[c][pos]
        lo = np.array([[weighted_quantile(v, kw[k], q) for k in range(len(knots))] for q in qs])
        hi = np.array([[weighted_quantile(v, kw[k], 1 - q) for k in range(len(knots))]
                       for q in qs])
        cand[c] = (lo, hi)
    choice = {c: [0, 0] for c in cuts}

    def passes(c, ilo, ihi):
        side = cuts[c][0]
        v = values[c]
        ok = np.isfinite(v) & np.isfinite(tb)
        with np.errstate(invalid="ignore"):
            if side in ("both", "low"):
                ok &= v >= np.interp(tb, knots, cand[c][0][ilo])
            if side in ("both", "high"):
                ok &= v <= np.interp(tb, knots, cand[c][1][ihi])
        return ok

    current = {c: passes(c, 0, 0) for c in cuts}
    n_pos = pos.sum()
    for _ in range(n_pass):
        for c in cuts:
            others = np.ones(n, bool)
            for k, ok in current.items():
                if k != c:
                    others &= ok
            best = None
            side = cuts[c][0]
            lo_range = range(len(qs)) if side in ("both", "low") else [0]
            hi_range = range(len(qs)) if side in ("both", "high") else [0]
            for ilo in lo_range:
                for ihi in hi_range:
                    ok = others & passes(c, ilo, ihi)
                    compl = (ok & pos).sum() / n_pos
                    contam = (ok & neg).sum() / max(neg.sum(), 1)
                    if compl < min_completeness:
                        continue
                    key = (-contam, compl, -(ilo + ihi))
                    if best is None or key > best[0]:
                        best = (key, ilo, ihi)
            if best is not None:
                choice[c] = [best[1], best[2]]
                current[c] = passes(c, best[1], best[2])
    final = np.ones(n, bool)
    for ok in current.values():
        final &= ok
    out_cuts = []
    for c, (side, why_low, why_high) in cuts.items():
        ilo, ihi = choice[c]
        lo = tuple(float(f"{v:.4g}") for v in cand[c][0][ilo]) if side in ("both", "low") \
            else None
        hi = tuple(float(f"{v:.4g}") for v in cand[c][1][ihi]) if side in ("both", "high") \
            else None
        unit = "Angstrom" if c.endswith(("d02", "_b", "_b_corr", "excess", "_ew")) else ""
        out_cuts.append(Cut(c, lo, hi, unit, by=by, knots=tuple(knots),
                            why_low=why_low, why_high=why_high))
    record = dict(meta or {})
    record.update({
        "derived_by": "bhbfinder.balmer.derive.derive_teff_criteria",
        "positive": positive, "negatives": list(negatives),
        "temperature": by if teff_column is not None else f"{by} (fitted)",
        "n_rows": int(rows.sum()), "n_positive_rows": int(n_pos),
        "n_negative_rows": int(neg.sum()),
        "n_positive_stars": int(len(set(np.asarray(star_ids)[pos]))) if star_ids is not None
        else None,
        "kernel_K": float(kernel), "min_completeness": float(min_completeness),
        "quantiles": [float(q) for q in qs],
        "chosen_quantiles": {c: [float(qs[i]) for i in choice[c]] for c in cuts},
        "training_completeness": float((final & pos).sum() / n_pos),
        "training_negatives_confirmed": float((final & neg).sum() / max(neg.sum(), 1)),
    })
    return CriteriaSet(name, tuple(out_cuts), description, tuple(references), meta=record,
                       derived=derived)


def _as_dict(table, names):
    return {k: column_values(table, k) for k in names if k in
            (table.colnames if hasattr(table, "colnames") else table)}
