"""Choosing the verdict's settings on held-out stars without looking at the stars it is judged on.

The verdict (`~bhbfinder.verdict.model.VerdictModel`) has two settings that decide how much it can
learn from the few real BHB stars of the held-out evaluation: the penalty ``l2`` and whether it
weighs products of pairs of features (``interactions``). `select_verdict` scores a fixed list of
candidates (`VERDICT_CANDIDATES`) by the average precision of their out-of-fold log odds
(cross-fitted over the folds it is given) and returns the best; `nested_cross_fit` repeats the
choice inside every outer fold, on the other folds only, so the out-of-fold probabilities and
decisions it returns are those of the whole procedure, choice included, on stars it never saw.
"""

import numpy as np

from ..errors import ConfigurationError
from ..verdict.features import PHYSICAL_FEATURES
from ..verdict.model import VerdictModel, cross_fit, out_of_fold_log_odds
from .heldout import average_precision

__all__ = ["VERDICT_CANDIDATES", "SELECTION_TOLERANCE", "select_verdict", "nested_cross_fit"]

#: The settings `select_verdict` chooses from: with and without interactions, penalties 1–100.
VERDICT_CANDIDATES = tuple({"interactions": inter, "l2": l2}
                           for inter in (False, True) for l2 in (1.0, 3.0, 10.0, 30.0, 100.0))

#: Candidates whose score lies within this of the best count as tied; the simplest of them
#: (no interactions before interactions, then the larger penalty) is chosen.
SELECTION_TOLERANCE = 1e-3


def _simplicity(params):
    return (bool(params.get("interactions", False)), -float(params.get("l2", 1.0)))


def select_verdict(X, y, folds, candidates=VERDICT_CANDIDATES, score_rows=None,
                   features=PHYSICAL_FEATURES, tolerance=SELECTION_TOLERANCE):
    """The candidate settings whose out-of-fold ranking has the highest average precision.

    Parameters
    ----------
    X, y, folds
        Feature matrix (`~bhbfinder.verdict.features.feature_matrix`), labels, fold of each row (at
        least two folds).
    candidates : sequence of dict
        `~bhbfinder.verdict.model.VerdictModel` keyword arguments.
    score_rows : array of bool, optional
        The rows the average precision is computed on (e.g. S/N ≥ 10); all rows fit.
    features : sequence of str
    tolerance : float
        Scores within this of the best tie; the simplest tied candidate wins.

    Returns
    -------
    best : dict
        The chosen candidate.
    scores : list of (dict, float)
        Every candidate and its average precision, in the order given.
    """
    folds = np.asarray(folds)
    y = np.asarray(y, bool)
    if len(np.unique(folds)) < 2:
        raise ConfigurationError("select_verdict needs rows of at least two folds")
    if not candidates:
        raise ConfigurationError("select_verdict: no candidate settings")
    rows = np.ones(len(y), bool) if score_rows is None else np.asarray(score_rows, bool)
    scores = []
    for params in candidates:
        raw = out_of_fold_log_odds(X, y, folds,
                                   lambda p=params: VerdictModel(features=features, **p))
        scores.append((dict(params), float(average_precision(raw[rows], y[rows]))))
    top = max(score for _, score in scores)
    tied = [params for params, score in scores if score >= top - tolerance]
    return min(tied, key=_simplicity), scores


def nested_cross_fit(X, y, folds, candidates=VERDICT_CANDIDATES, score_rows=None,
                     features=PHYSICAL_FEATURES, tolerance=SELECTION_TOLERANCE):
    """`~bhbfinder.verdict.model.cross_fit` with the settings chosen inside every outer fold.

    For outer fold ``k``, `select_verdict` runs on the rows of the other folds (their own
    folds as the inner split); the chosen settings are fitted, calibrated and thresholded on
    those rows and predict fold ``k``.

    Returns
    -------
    p, decision, thresholds, models
        As `~bhbfinder.verdict.model.cross_fit` with ``return_models``.
    choices : dict
        Fold → ``(chosen settings, [(candidate, inner score), ...])``.
    """
    folds = np.asarray(folds)
    y = np.asarray(y, bool)
    rows = np.ones(len(y), bool) if score_rows is None else np.asarray(score_rows, bool)
    choices = {}

    def choose(train):
        best, scores = select_verdict(X[train], y[train], folds[train], candidates,
                                      rows[train], features, tolerance)
        held_out = np.setdiff1d(np.unique(folds), np.unique(folds[train]))
        choices[int(held_out[0])] = (best, scores)
        return lambda: VerdictModel(features=features, **best)

    p, decision, thresholds, models = cross_fit(X, y, folds, None, return_models=True,
                                                choose=choose)
    return p, decision, thresholds, models, choices
