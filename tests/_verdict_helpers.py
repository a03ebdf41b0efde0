"""Synthetic verdict feature rows with a known logistic law, for the verdict tests."""

import numpy as np

from bhbfinder.verdict import FEATURE_NAMES

#: The laws: log odds of BHB from the two features ``a`` (``box_lo``) and ``b`` (``feh_z``).
LAWS = {"additive": lambda a, b: -1.0 + 2.0 * a + 1.5 * b,
        "product": lambda a, b: 3.0 * a * b}


def verdict_rows(n, seed=0, law="additive"):
    """``(X, y)``: ``n`` rows of `~bhbfinder.verdict.feature_matrix` shape with ``box_lo`` and
    ``feh_z`` drawn from N(0, 1) (every other feature missing) and labels drawn from ``law``."""
    rng = np.random.default_rng(seed)
    X = np.full((n, len(FEATURE_NAMES)), np.nan)
    a, b = rng.normal(size=n), rng.normal(size=n)
    X[:, FEATURE_NAMES.index("box_lo")], X[:, FEATURE_NAMES.index("feh_z")] = a, b
    y = rng.uniform(size=n) < 1 / (1 + np.exp(-LAWS[law](a, b)))
    return X, y
