"""The evidence the verdict weighs, as numbers: one feature vector per spectrum.

Every feature comes from a column another stage already measured, so the verdict adds no
measurement of its own. Three independent kinds of evidence:

Gravity and temperature from the parameters (``teff``, ``logg``, ``feh`` and their errors)
    ``box_lo`` and ``box_hi``: how many standard deviations ``log g`` lies above the lower and
    below the upper edge of the BHB box of Culpan et al. (2024) at the star's Teff (the box
    narrows and climbs with temperature, so these are temperature-dependent boundaries);
    ``log_p_box``: the log probability of lying in the box given the error; ``feh_z``: standard
    deviations below [Fe/H] = −0.8. The errors are inflated by floors (`ERROR_FLOORS`) so a
    too-small quoted error never makes a hard cut, and a noisy value counts for less.
Balmer-line profiles (Xue et al. 2008; Clewley et al. 2002) and Ca II K
    Hδ D0.2 and fm, Hγ b and c, and their products with the temperature offset (the BHB and
    main-sequence widths converge above ~10,000 K); the Ca II K equivalent width, which
    separates metal-rich A stars (Ju et al. 2024), also against temperature.
The network
    ``logit_s1`` (stage 1's BHB probability) and ``logit_s2`` (stage 2's, where it ran).

Missing values (a stage that did not run on the row, a line that could not be fitted) are
NaN; `VerdictModel` replaces them by the training mean and adds no other information, so a
missing feature pulls the probability neither way.
"""

import numpy as np

from ..errors import ConfigurationError

__all__ = ["FEATURE_NAMES", "ERROR_FLOORS", "BOX_FEH_MAX", "feature_matrix"]

#: Error floors added in quadrature to the quoted errors (log g, [Fe/H] in dex; Teff in K).
ERROR_FLOORS = {"logg": 0.15, "feh": 0.15, "teff": 150.0}

#: The metallicity below which a star in the box is taken as a halo BHB star.
BOX_FEH_MAX = -0.8

#: The features, in column order of `feature_matrix`.
FEATURE_NAMES = (
    "box_lo", "box_hi", "log_p_box", "feh_z", "teff_kk",
    "hdelta_d02", "hdelta_fm", "hgamma_b", "hgamma_c",
    "hdelta_d02_x_t", "hgamma_b_x_t", "cak_ew", "cak_ew_x_t",
    "logit_s1", "logit_s2",
)

_CLIP = 6.0


def _names(columns):
    return set(columns.colnames) if hasattr(columns, "colnames") else set(columns)


def _column(columns, name):
    if name not in _names(columns):
        return None
    col = columns[name]
    if hasattr(col, "filled"):
        data = np.ma.asarray(col)
        if data.dtype.kind not in "fiub":
            return None
        return np.asarray(data.astype(float).filled(np.nan), float)
    return np.asarray(col, float)


def _or_nan(columns, name, n):
    v = _column(columns, name)
    return np.full(n, np.nan) if v is None else v


def _logit(p):
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.clip(p, 1e-4, 1 - 1e-4)
        return np.log(p / (1 - p))


def feature_matrix(columns):
    """The verdict's features of every row.

    Parameters
    ----------
    columns : `~astropy.table.Table` or mapping
        Catalogue columns (any missing one gives NaN features): ``teff``, ``logg``, ``feh``
        and ``*_err``; ``hdelta_d02``, ``hdelta_fm``, ``hgamma_b``, ``hgamma_c``, ``cak_ew``;
        ``p_bhb_stage1``, ``p_bhb_stage2``. Masked values count as missing.

    Returns
    -------
    ndarray, shape (n, len(FEATURE_NAMES))
        NaN where a feature cannot be computed.
    """
    from scipy.special import ndtr

    from ..simulate.classes import culpan_kiel_limits

    names = _names(columns)
    if not names:
        raise ConfigurationError("feature_matrix: no columns given")
    n = len(columns[next(iter(sorted(names)))])
    teff = _or_nan(columns, "teff", n)
    logg = _or_nan(columns, "logg", n)
    feh = _or_nan(columns, "feh", n)
    s_g = np.hypot(np.nan_to_num(_or_nan(columns, "logg_err", n), nan=0.0),
                   ERROR_FLOORS["logg"])
    s_f = np.hypot(np.nan_to_num(_or_nan(columns, "feh_err", n), nan=0.0),
                   ERROR_FLOORS["feh"])
    with np.errstate(invalid="ignore", divide="ignore"):
        lo, hi = culpan_kiel_limits(np.where(teff > 0, teff, np.nan))
        box_lo = np.clip((logg - lo) / s_g, -_CLIP, _CLIP)
        box_hi = np.clip((hi - logg) / s_g, -_CLIP, _CLIP)
        p_box = np.clip(ndtr(box_lo) + ndtr(box_hi) - 1.0, 1e-6, 1.0)
        log_p_box = np.where(np.isfinite(box_lo + box_hi), np.log(p_box), np.nan)
        feh_z = np.clip((BOX_FEH_MAX - feh) / s_f, -_CLIP, _CLIP)
    t = (teff - 9000.0) / 1000.0
    d02 = _or_nan(columns, "hdelta_d02", n)
    b = _or_nan(columns, "hgamma_b", n)
    cak = _or_nan(columns, "cak_ew", n)
    out = np.column_stack([
        box_lo, box_hi, log_p_box, feh_z, t,
        d02, _or_nan(columns, "hdelta_fm", n), b, _or_nan(columns, "hgamma_c", n),
        d02 * t, b * t, cak, cak * t,
        _logit(_or_nan(columns, "p_bhb_stage1", n)), _logit(_or_nan(columns, "p_bhb_stage2", n)),
    ])
    return out
