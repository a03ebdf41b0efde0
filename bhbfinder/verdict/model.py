"""A calibrated BHB probability from independent evidence: penalised logistic regression.

`VerdictModel` follows scikit-learn's estimator conventions (parameters in ``__init__``,
``fit`` / ``predict_proba``, fitted state with a trailing underscore) without depending on it:
a logistic model of the features of `~bhbfinder.verdict.features.feature_matrix`, standardised,
with missing values at the training mean and an L2 penalty (maximum a posteriori with a
Gaussian prior on the standardised weights). Logistic regression fitted by maximum likelihood
is calibrated on the population it was fitted to; fitted on held-out stars (out-of-fold
features), its probabilities are calibrated for stars the upstream models never saw.

`cross_fit` gives honest out-of-fold probabilities and thresholds (nested by fold);
`choose_threshold` the lowest threshold reaching a precision target; `reliability_table` the
calibration check. Models save to and load from plain ASDF trees (no pickle).
"""

import copy
import warnings

import asdf
import numpy as np
from scipy import optimize

from .._tree import plain_tree, read_model_tree
from .._version import __version__
from ..errors import ConfigurationError, ModelFileError
from .features import (
    FEATURE_NAMES,
    PHYSICAL_FEATURES,
    align_features,
    logit,
    teff_of_features,
)

__all__ = ["VerdictModel", "PREVALENCE_TEFF_MIN", "choose_threshold", "cross_fit",
           "out_of_fold_log_odds", "reliability_table"]

#: Spectra with a measured Teff at least this (K) are the population whose share of BHB stars
#: `VerdictModel.prevalence` reports and `VerdictModel.for_prevalence` changes.
PREVALENCE_TEFF_MIN = 7000.0

_FORMAT = "bhbfinder-verdict"
_EPS = 1e-12  # probabilities clipped to [_EPS, 1 - _EPS] before their log odds
_FORMAT_VERSION = 1


class VerdictModel:
    """Penalised logistic regression of "is a BHB star" on the verdict features.

    Parameters
    ----------
    features : sequence of str
        Names (from `~bhbfinder.verdict.features.FEATURE_NAMES`) the model uses; default
        `~bhbfinder.verdict.features.PHYSICAL_FEATURES`.
    l2 : float
        Penalty on the squared standardised weights (the intercept is not penalised).
    precision_target : float
        The precision `choose_threshold` aims the decision threshold at (0.95 by default: on
        held-out stars a 0.98 target reached no higher precision, at less recall).
    class_weight : float
        Weight of positive rows relative to negative ones in the likelihood (1: none). The
        intercept is corrected afterwards, so probabilities stay calibrated to the data's
        true class ratio.
    interactions : bool
        Also weigh the products of every pair of standardised features (each product
        standardised again), so that one piece of evidence can count more or less depending on
        another: e.g. the metallicity where the gravity says "box", the Ca II K line where the
        temperature is high. The penalty ``l2`` applies to these weights too.
    """

    def __init__(self, features=PHYSICAL_FEATURES, l2=1.0, precision_target=0.95,
                 class_weight=1.0, interactions=False):
        unknown = [f for f in features if f not in FEATURE_NAMES]
        if unknown:
            raise ConfigurationError(f"VerdictModel: unknown feature(s) {unknown}; choose from "
                                     f"{', '.join(FEATURE_NAMES)}")
        self.features = tuple(features)
        self.l2 = float(l2)
        self.precision_target = float(precision_target)
        self.class_weight = float(class_weight)
        self.interactions = bool(interactions)
        self.threshold_ = 0.5
        self.calibration_ = (1.0, 0.0)
        self.meta = {}

    def get_params(self, deep=True):
        """Constructor parameters (scikit-learn convention)."""
        return {"features": self.features, "l2": self.l2,
                "precision_target": self.precision_target, "class_weight": self.class_weight,
                "interactions": self.interactions}

    # -------------------------------------------------------------- data
    def _select(self, X):
        X = np.asarray(X, float)
        if X.ndim != 2 or X.shape[1] != len(FEATURE_NAMES):
            raise ConfigurationError(f"VerdictModel: expected a (n, {len(FEATURE_NAMES)}) "
                                     f"feature matrix (feature_matrix), got {X.shape}")
        return X[:, [FEATURE_NAMES.index(f) for f in self.features]]

    def _standardised(self, X):
        Z = (self._select(X) - self.mean_) / self.scale_
        return np.where(np.isfinite(Z), Z, 0.0)

    def _pairs(self, Z):
        i, j = np.triu_indices(Z.shape[1], k=1)
        return Z[:, i] * Z[:, j]

    def _design(self, X):
        Z = self._standardised(X)
        if not self.interactions:
            return Z
        return np.hstack([Z, (self._pairs(Z) - self.pair_mean_) / self.pair_scale_])

    @property
    def term_names(self):
        """The names of the model's terms, in the order of ``coef_`` (``a*b`` for a product)."""
        names = list(self.features)
        if self.interactions:
            i, j = np.triu_indices(len(names), k=1)
            names += [f"{names[a]}*{names[b]}" for a, b in zip(i, j, strict=True)]
        return names

    # -------------------------------------------------------------- fit / predict
    def fit(self, X, y, sample_weight=None):
        """Fit on features ``X`` (rows of `feature_matrix`) and labels ``y`` (bool).

        Returns
        -------
        self
        """
        y = np.asarray(y, bool)
        Xs = self._select(X)
        if len(np.unique(y)) < 2:
            raise ConfigurationError("VerdictModel.fit needs both BHB and non-BHB rows")
        w = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, float)
        finite = np.where(np.isfinite(Xs), Xs, np.nan)
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            # a feature missing from every row (a stage that did not run) gets weight 0
            warnings.simplefilter("ignore", RuntimeWarning)
            self.mean_ = np.nanmean(finite, axis=0)
            self.scale_ = np.nanstd(finite, axis=0)
        self.mean_ = np.nan_to_num(self.mean_)
        self.scale_ = np.where(np.isfinite(self.scale_) & (self.scale_ > 0), self.scale_, 1.0)
        if self.interactions:
            pairs = self._pairs(self._standardised(X))
            self.pair_mean_ = pairs.mean(axis=0)
            scale = pairs.std(axis=0)
            self.pair_scale_ = np.where(scale > 0, scale, 1.0)
        Z = self._design(X)
        cw = np.where(y, self.class_weight, 1.0) * w
        t = y.astype(float)

        def loss(theta):
            eta = theta[0] + Z @ theta[1:]
            # log(1 + exp(eta)) - t * eta, stably
            nll = np.sum(cw * (np.logaddexp(0.0, eta) - t * eta))
            p = 1.0 / (1.0 + np.exp(-eta))
            g = cw * (p - t)
            grad = np.concatenate([[g.sum()], Z.T @ g + self.l2 * theta[1:]])
            return nll + 0.5 * self.l2 * np.sum(theta[1:] ** 2), grad

        res = optimize.minimize(loss, np.zeros(Z.shape[1] + 1), jac=True, method="L-BFGS-B",
                                options={"maxiter": 2000})
        self.intercept_ = float(res.x[0]) - np.log(self.class_weight)
        self.coef_ = np.asarray(res.x[1:], float)
        self.n_iter_ = int(res.nit)
        return self

    def raw_decision_function(self, X):
        """The log odds of BHB of the fitted logistic model, before `calibrate`."""
        self._check_fitted()
        return self.intercept_ + self._design(X) @ self.coef_

    def decision_function(self, X):
        """The calibrated log odds of BHB: ``a * raw + b`` (`calibrate`)."""
        a, b = self.calibration_
        return a * self.raw_decision_function(X) + b

    def calibrate(self, raw_log_odds, y):
        """Fit ``(a, b)`` of the calibrated log odds ``a * raw + b`` (Platt 1999) to raw log
        odds of rows the model was *not* fitted on (out of fold).

        A model fitted on the renderings of a few stars is over-confident on new stars; scaling
        its log odds by what out-of-fold rows show corrects that.

        Returns
        -------
        self
        """
        raw = np.asarray(raw_log_odds, float)
        t = np.asarray(y, bool).astype(float)
        if len(np.unique(t)) < 2:
            raise ConfigurationError("VerdictModel.calibrate needs both BHB and non-BHB rows")

        def loss(theta):
            eta = theta[0] * raw + theta[1]
            p = 1.0 / (1.0 + np.exp(-eta))
            g = p - t
            return np.sum(np.logaddexp(0.0, eta) - t * eta), np.array([g @ raw, g.sum()])

        res = optimize.minimize(loss, np.array([1.0, 0.0]), jac=True, method="L-BFGS-B")
        self.calibration_ = (float(res.x[0]), float(res.x[1]))
        return self

    def predict_proba(self, X):
        """Probability that each row is a BHB star."""
        return 1.0 / (1.0 + np.exp(-self.decision_function(X)))

    def predict(self, X, threshold=None):
        """``predict_proba(X) >= threshold`` (default: the fitted ``threshold_``)."""
        return self.predict_proba(X) >= (self.threshold_ if threshold is None else threshold)

    @property
    def prevalence(self):
        """The share of BHB stars among the hot spectra ``p_bhb`` is calibrated for.

        "Hot" means a measured Teff of at least `PREVALENCE_TEFF_MIN` (the spectra stage 1
        sends to the params stage that come out hotter than 7,000 K): cool stars, galaxies
        and quasars get ``p_bhb`` near 0 whatever the prevalence, so the share that matters is
        the BHB stars' among the hot stars they must be told from. For a model fitted by
        ``benchmarks/held_out_stars.py``, the share in the held-out rows it keeps; for one from
        `for_prevalence`, the share it was given; None for a model without held-out rows.
        """
        given = (self.meta or {}).get("prevalence")
        if isinstance(given, dict) and given.get("value") is not None:
            return float(given["value"])
        rows = self._held_out_rows()
        if rows is None:
            return None
        _, y, _, hot = rows
        return float(y[hot].mean()) if hot.any() and y[hot].any() else None

    def _held_out_rows(self):
        """``(X, y, fold, hot)`` of the held-out rows the model keeps, or None."""
        rows = (self.meta or {}).get("held_out_features")
        if not isinstance(rows, dict) or not {"X", "names", "y", "fold"} <= set(rows):
            return None
        X = align_features(rows["X"], rows["names"])
        teff = teff_of_features(X)
        with np.errstate(invalid="ignore"):
            hot = np.isfinite(teff) & (teff >= PREVALENCE_TEFF_MIN)
        return X, np.asarray(rows["y"], bool), np.asarray(rows["fold"]), hot

    def for_prevalence(self, prevalence):
        """A copy of the model for hot spectra with another share of BHB stars.

        A calibrated probability holds for the class mix it was calibrated on. Where BHB
        stars make up ``prevalence`` of the hot spectra (see `prevalence`; rarer, as in most
        survey samples) Bayes' rule shifts the log odds by the change of the prior log odds,
        ``logit(prevalence) − logit(self.prevalence)`` (the prior-shift correction; Saerens,
        Latinne & Decaestecker 2002). The features' likelihoods are assumed unchanged: the BHB
        stars and the other hot stars of the new sample look like those of the evaluation.
        The threshold is then chosen again for the model's precision target on the held-out
        rows the model keeps (``meta["held_out_features"]``), their out-of-fold probabilities
        shifted and the rows reweighted to the new class mix, so that ``is_bhb`` keeps its
        expected precision (and loses recall where BHB stars are rarer).

        Parameters
        ----------
        prevalence : float
            Share of BHB stars among the hot spectra (measured Teff ≥ 7,000 K) the model will
            score, in (0, 1).

        Returns
        -------
        VerdictModel
            ``meta["prevalence"]`` records the new and the fitted share, the log-odds shift,
            the threshold before and after, and at the new threshold the expected precision
            and the precision and recall observed on the reweighted held-out rows (a few
            hard negative stars make the observed precision noisy where BHB stars are rare).

        Raises
        ------
        ConfigurationError
            For a prevalence outside (0, 1), or a model without held-out rows.
        """
        new_share = _fraction(prevalence, "prevalence", "the share of BHB stars among the hot "
                                                        "spectra you run, e.g. 0.05")
        rows, old_share = self._rows_and_share("be moved to another prevalence")
        shift = float(logit(new_share, _EPS) - logit(old_share, _EPS))
        a, b = self.calibration_
        threshold, achieved = self._held_out_threshold(rows, (a, b + shift), new_share,
                                                       self.precision_target)
        new = copy.deepcopy(self)
        new.calibration_ = (a, b + shift)
        new.threshold_ = threshold
        new.meta = dict(self.meta, prevalence={
            "value": new_share, "fitted": old_share, "log_odds_shift": float(shift),
            "threshold_fitted": float(self.threshold_), "threshold": float(threshold),
            "expected_precision": achieved["expected_precision"],
            "held_out_precision": achieved["precision"],
            "held_out_recall": achieved["recall"]})
        return new

    def _rows_and_share(self, what):
        """The kept held-out rows and the model's prevalence; raises where there are none."""
        self._check_fitted()
        rows, share = self._held_out_rows(), self.prevalence
        if rows is None or share is None:
            raise ConfigurationError(
                f"this verdict model keeps no held-out rows (meta 'held_out_features'), so it "
                f"cannot {what}; refit it with benchmarks/held_out_stars.py --fit-verdict")
        return rows, share

    def _out_of_fold_proba(self, rows, calibration):
        """Out-of-fold probabilities of the kept held-out rows under ``calibration``."""
        X, y, fold, _ = rows
        raw = out_of_fold_log_odds(X, y, fold, lambda: VerdictModel(**self.get_params()))
        a, b = calibration
        return 1.0 / (1.0 + np.exp(-(a * raw + b)))

    def held_out_scores(self):
        """The held-out rows the model keeps, scored as its thresholds are chosen.

        Returns
        -------
        dict
            ``p_bhb`` (each row's out-of-fold probability at the model's calibration),
            ``is_bhb_true`` (bool), ``hot`` (measured Teff ≥ `PREVALENCE_TEFF_MIN`) and
            ``teff`` (K) per row.

        Raises
        ------
        ConfigurationError
            For a model without held-out rows.
        """
        rows, _ = self._rows_and_share("score its held-out rows")
        X, y, _, hot = rows
        return {"p_bhb": self._out_of_fold_proba(rows, self.calibration_), "is_bhb_true": y,
                "hot": hot, "teff": teff_of_features(X)}

    def _held_out_threshold(self, rows, calibration, share, precision_target):
        """The threshold for ``precision_target`` on the kept held-out rows: their
        out-of-fold log odds under ``calibration``, the rows reweighted to BHB share
        ``share`` (they have the evaluation's mix, whatever share the model was moved to)."""
        _, y, _, hot = rows
        p = self._out_of_fold_proba(rows, calibration)
        rows_share = float(y[hot].mean())
        weight = np.where(y, share / rows_share, (1.0 - share) / (1.0 - rows_share))
        return choose_threshold(p, y, precision_target, sample_weight=weight)

    def for_precision(self, precision_target):
        """A copy of the model whose threshold aims at another precision.

        The threshold is chosen again, as when the model was fitted, on the held-out rows it
        keeps (``meta["held_out_features"]``): the lowest threshold whose expected precision
        on their out-of-fold probabilities (at the model's `prevalence`) reaches
        ``precision_target``. ``p_bhb`` does not change; ``is_bhb`` trades recall for
        precision (``docs/verdict.rst`` gives the held-out figures at 0.95 and 0.98).

        Parameters
        ----------
        precision_target : float
            In (0, 1); the shipped model's is 0.95.

        Returns
        -------
        VerdictModel
            ``meta["precision"]`` records the target, the threshold before and after, and at
            the new threshold the expected precision and the precision and recall observed on
            the held-out rows (their own out-of-fold scores, so not a nested figure).

        Raises
        ------
        ConfigurationError
            For a target outside (0, 1), or a model without held-out rows.
        """
        target = _fraction(precision_target, "precision_target", "e.g. 0.98")
        rows, share = self._rows_and_share("have its threshold chosen for another precision "
                                           "(or give a threshold)")
        threshold, achieved = self._held_out_threshold(rows, self.calibration_, share, target)
        new = copy.deepcopy(self)
        new.precision_target = target
        new.threshold_ = threshold
        new.meta = dict(self.meta, precision={
            "target": target, "threshold_fitted": float(self.threshold_),
            "threshold": float(threshold),
            "expected_precision": achieved["expected_precision"],
            "held_out_precision": achieved["precision"],
            "held_out_recall": achieved["recall"]})
        return new

    def _check_fitted(self):
        if not hasattr(self, "coef_"):
            raise ConfigurationError("VerdictModel is not fitted; call fit() or load a model")

    def weights(self):
        """``{term: standardised weight}``: how much each piece of evidence counts (products of
        two features as ``a*b`` with ``interactions``)."""
        self._check_fitted()
        return dict(zip(self.term_names, self.coef_.tolist(), strict=True))

    # -------------------------------------------------------------- files
    def save(self, path):
        """Write the model to an ASDF file."""
        self._check_fitted()
        tree = {"format": _FORMAT, "format_version": _FORMAT_VERSION,
                "bhbfinder_version": __version__, "params": plain_tree(self.get_params()),
                "mean": self.mean_, "scale": self.scale_, "coef": self.coef_,
                **({"pair_mean": self.pair_mean_, "pair_scale": self.pair_scale_}
                   if self.interactions else {}),
                "intercept": self.intercept_, "threshold": float(self.threshold_),
                "calibration": [float(c) for c in self.calibration_],
                "meta": plain_tree(self.meta)}
        asdf.AsdfFile(tree).write_to(str(path), all_array_compression="zlib")

    @classmethod
    def load(cls, path):
        """Read a model written by `save`.

        Raises
        ------
        ModelFileError
            When the file is missing, unreadable or not a verdict model.
        """
        tree = read_model_tree(path, _FORMAT, _FORMAT_VERSION, what="verdict model",
                               missing="no such verdict model file; give a file written by "
                                       "VerdictModel.save")
        params = dict(tree["params"])
        model = cls(features=tuple(params["features"]), l2=params["l2"],
                    precision_target=params["precision_target"],
                    class_weight=params.get("class_weight", 1.0),
                    interactions=params.get("interactions", False))
        n = len(model.features)
        n_pairs = n * (n - 1) // 2 if model.interactions else 0
        shapes = {"mean": n, "scale": n, "coef": n + n_pairs}
        if model.interactions:
            shapes.update(pair_mean=n_pairs, pair_scale=n_pairs)
        for key, size in shapes.items():
            if key not in tree:
                raise ModelFileError(f"{path}: no '{key}' in the verdict model file")
            value = np.asarray(tree[key], float)
            if value.shape != (size,):
                raise ModelFileError(f"{path}: '{key}' has shape {value.shape}, expected "
                                     f"({size},)")
            setattr(model, key + "_", value)
        model.intercept_ = float(tree["intercept"])
        model.threshold_ = float(tree["threshold"])
        model.calibration_ = tuple(float(c) for c in tree.get("calibration", (1.0, 0.0)))
        model.meta = tree.get("meta") or {}
        return model


def _fraction(value, name, hint):
    """``value`` as a float in (0, 1), else a `ConfigurationError` naming ``name``."""
    try:
        out = float(value)
    except (TypeError, ValueError):
        out = float("nan")
    if not (0.0 < out < 1.0):
        raise ConfigurationError(f"verdict {name} must be a number between 0 and 1 ({hint}), "
                                 f"got {value!r}")
    return out


def choose_threshold(p, y=None, precision_target=0.98, method="expected", sample_weight=None):
    """The lowest probability threshold whose precision reaches ``precision_target``.

    Parameters
    ----------
    p : array of float
        Calibrated probabilities (out of fold).
    y : array of bool, optional
        Labels; needed for ``method="observed"`` and for the recall reported.
    precision_target : float
    method : {"expected", "observed"}
        ``"expected"``: the precision of the rows at or above a threshold is estimated from
        the calibrated probabilities themselves (their mean), which is smooth where the
        labels of a few stars are not; ``"observed"``: from the labels.
    sample_weight : array of float, optional
        Row weights (e.g. to move the rows to another class mix); precision and recall are
        then weighted sums.

    Returns
    -------
    threshold : float
        ``1.0`` (nothing passes) when no threshold reaches the target.
    achieved : dict
        ``precision`` (observed, where ``y`` is given; else expected), ``expected_precision``
        and ``recall`` at that threshold.
    """
    if method not in ("expected", "observed"):
        raise ConfigurationError(f"choose_threshold: method {method!r}; use 'expected' or "
                                 "'observed'")
    p = np.asarray(p, float)
    order = np.argsort(-p, kind="stable")
    ps = p[order]
    w = np.ones(len(p)) if sample_weight is None else np.asarray(sample_weight, float)[order]
    k = np.cumsum(w)
    expected = np.cumsum(w * ps) / k
    if y is None and method == "observed":
        raise ConfigurationError("choose_threshold(method='observed') needs the labels y")
    ys = None if y is None else np.asarray(y, bool)[order]
    observed = None if ys is None else np.cumsum(w * ys) / k
    prec = observed if method == "observed" else expected
    last = np.r_[ps[1:] != ps[:-1], True]          # only thresholds between distinct values
    good = np.flatnonzero(last & (prec >= precision_target))
    if not good.size:
        return 1.0, {"precision": float("nan"), "expected_precision": float("nan"),
                     "recall": 0.0}
    i = good[-1]
    out = {"expected_precision": float(expected[i]),
           "precision": float(observed[i] if observed is not None else expected[i])}
    out["recall"] = float(np.cumsum(w * ys)[i] / max(float((w * ys).sum()), 1e-300)) \
        if ys is not None and ys.any() else (0.0 if ys is not None else float("nan"))
    return float(ps[i]), out


def cross_fit(X, y, folds, make_model, sample_weight=None, return_models=False, choose=None):
    """Out-of-fold probabilities, calibrations and thresholds, nested by fold.

    For each fold ``k`` a model is fitted on the rows of the other folds and predicts fold
    ``k``. Its calibration (`VerdictModel.calibrate`) and threshold are fitted on out-of-fold
    log odds of those other folds alone (an inner cross-fit), so neither the probabilities nor
    the decision of fold ``k`` saw it.

    Parameters
    ----------
    X : ndarray (n, d)
    y : array of bool
    folds : array of int
        Fold of each row (rows of one star share a fold).
    make_model : callable
        Returns a fresh `VerdictModel`.
    return_models : bool
        Also return each fold's model (its ``threshold_`` set), to score other renderings of
        the fold's stars.
    choose : callable, optional
        ``choose(train_rows)`` → the ``make_model`` of one fold, given the indices of the rows
        it may use: the model's settings chosen on the other folds only (nested selection,
        `bhbfinder.training.verdict_selection`); replaces ``make_model``.

    Returns
    -------
    p : ndarray
        Out-of-fold probability per row.
    decision : ndarray of bool
        ``p >= threshold`` of the row's fold.
    thresholds : dict
        Fold → threshold.
    models : dict
        Fold → `VerdictModel` (only with ``return_models``).
    """
    folds = np.asarray(folds)
    y = np.asarray(y, bool)
    w = None if sample_weight is None else np.asarray(sample_weight, float)
    p = np.full(len(y), np.nan)
    decision = np.zeros(len(y), bool)
    thresholds = {}
    models = {}
    for k in np.unique(folds):
        test = folds == k
        train = np.flatnonzero(~test)
        make = make_model if choose is None else choose(train)
        model = make().fit(X[train], y[train], None if w is None else w[train])
        inner = out_of_fold_log_odds(X[train], y[train], folds[train], make,
                                     None if w is None else w[train])
        model.calibrate(inner, y[train])
        a, b = model.calibration_
        inner_p = 1.0 / (1.0 + np.exp(-(a * inner + b)))
        thr, _ = choose_threshold(inner_p, y[train], model.precision_target)   # expected
        thresholds[int(k)] = thr
        model.threshold_ = thr
        models[int(k)] = model
        p[test] = model.predict_proba(X[test])
        decision[test] = p[test] >= thr
    if return_models:
        return p, decision, thresholds, models
    return p, decision, thresholds


def out_of_fold_log_odds(X, y, folds, make_model, sample_weight=None):
    """Raw log odds of every row from a model fitted without its fold."""
    folds = np.asarray(folds)
    out = np.full(len(folds), np.nan)
    for k in np.unique(folds):
        m = folds == k
        fit = np.flatnonzero(~m)
        model = make_model().fit(X[fit], np.asarray(y)[fit],
                                 None if sample_weight is None else sample_weight[fit])
        out[m] = model.raw_decision_function(X[m])
    return out


def reliability_table(p, y, bins=(0.0, 0.05, 0.2, 0.5, 0.8, 0.95, 1.0)):
    """Mean predicted probability against observed BHB fraction, per probability bin.

    Returns
    -------
    list of dict
        ``range``, ``n``, ``mean_p``, ``observed`` and the binomial standard error of the
        observed fraction at ``mean_p`` (``sigma``).
    """
    p = np.asarray(p, float)
    y = np.asarray(y, bool)
    rows = []
    for i, (lo, hi) in enumerate(zip(bins[:-1], bins[1:], strict=True)):
        m = (p >= lo) & ((p < hi) if i < len(bins) - 2 else (p <= hi))
        n = int(m.sum())
        if not n:
            continue
        mp = float(p[m].mean())
        rows.append({"range": [lo, hi], "n": n, "mean_p": mp, "observed": float(y[m].mean()),
                     "sigma": float(np.sqrt(max(mp * (1 - mp), 1e-4) / n))})
    return rows
