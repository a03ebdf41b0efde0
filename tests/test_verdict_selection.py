"""Choosing the verdict's settings by inner cross-validation (known answers, nesting)."""

import numpy as np
import pytest

from bhbfinder.errors import ConfigurationError
from bhbfinder.training.verdict_selection import (
    VERDICT_CANDIDATES,
    nested_cross_fit,
    select_verdict,
)

from ._verdict_helpers import verdict_rows

NAMES = ("box_lo", "feh_z")
CANDIDATES = ({"interactions": False, "l2": 1.0}, {"interactions": True, "l2": 1.0})


def _data(law, n=3000, seed=0):
    X, y = verdict_rows(n, seed, law)
    return X, y, np.repeat(np.arange(4), n // 4)


def test_selection_finds_the_interactions_a_law_needs():
    X, y, folds = _data("product")
    best, scores = select_verdict(X, y, folds, CANDIDATES, features=NAMES)
    assert best == {"interactions": True, "l2": 1.0}
    assert scores[1][1] > scores[0][1] + 0.2


def test_selection_keeps_the_simpler_model_where_it_does_as_well():
    X, y, folds = _data("additive")
    best, scores = select_verdict(X, y, folds, CANDIDATES, features=NAMES, tolerance=0.01)
    assert abs(scores[1][1] - scores[0][1]) < 0.01
    assert best == {"interactions": False, "l2": 1.0}
    # everything tied: no interactions, the largest penalty
    best, _ = select_verdict(X, y, folds, VERDICT_CANDIDATES[:3] + VERDICT_CANDIDATES[-2:],
                             features=NAMES, tolerance=1.0)
    assert best == {"interactions": False, "l2": 10.0}


def test_nested_choices_see_only_the_other_folds():
    X, y, folds = _data("product", n=2000)
    rows = np.arange(len(y)) % 3 > 0
    p, decision, thresholds, models, choices = nested_cross_fit(
        X, y, folds, CANDIDATES, score_rows=rows, features=NAMES)
    assert sorted(choices) == [0, 1, 2, 3] == sorted(thresholds)
    for k, (best, scores) in choices.items():
        other = folds != k
        again = select_verdict(X[other], y[other], folds[other], CANDIDATES, rows[other],
                               features=NAMES)
        assert (best, scores) == again
        assert models[k].interactions == best["interactions"]
    assert np.isfinite(p).all() and np.array_equal(decision, p >= np.array(
        [thresholds[k] for k in folds]))


def test_selection_refuses_a_single_fold():
    X, y, _ = _data("additive", n=200)
    with pytest.raises(ConfigurationError, match="two folds"):
        select_verdict(X, y, np.zeros(len(y), int), CANDIDATES, features=NAMES)
