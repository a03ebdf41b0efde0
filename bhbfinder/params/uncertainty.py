"""Label uncertainties that cover the truth: the Jacobian errors calibrated on held-out stars.

The formal error of a fit, :math:`(J^T W J)^{-1}`, only knows the pixel noise and the
emulator's per-pixel model error. On real stars the labels are off by more: the library's own
label errors (MILES labels are literature compilations, a few per cent in Teff and 0.2–0.3 dex
in log g and [Fe/H]; Sánchez-Blázquez et al. 2006; Cenarro et al. 2007), the emulator's
interpolation between sparse library stars and degeneracies (Teff against [Fe/H] near the
Balmer maximum) that a linearised error does not see. On held-out MILES stars rendered like
survey spectra the formal errors cover the truth in only 10–20 % of cases.

`ErrorModel` replaces them by

.. math::

    \\sigma_j^2 = (s_j\\,\\sigma_{J,j})^2 + f_j(T_\\mathrm{eff})^2 ,

a scale :math:`s_j` of the formal error :math:`\\sigma_{J,j}` (it grows with the noise) and a
floor :math:`f_j` per bin of the *fitted* Teff, for each label :math:`j`. `fit_error_model`
chooses them on held-out residuals so that the interval :math:`\\pm\\sigma_j` holds the truth
in 68.3 % of the cases in every Teff bin and, through the choice of :math:`s_j`, as evenly as
possible across S/N bins. The model is stored in the params model file and applied by
`~bhbfinder.params.SlamEmulator.predict`.
"""

from dataclasses import dataclass, field

import numpy as np

from ..errors import ConfigurationError

__all__ = ["ErrorModel", "fit_error_model", "DEFAULT_TEFF_EDGES", "DEFAULT_SNR_EDGES",
           "TARGET_COVERAGE"]

#: Fraction of cases a 1σ interval should hold (Gaussian).
TARGET_COVERAGE = 0.6827

#: Edges (K) of the fitted-Teff bins of the floor.
DEFAULT_TEFF_EDGES = (6000.0, 7000.0, 8000.0, 9000.0, 10000.0, 11000.0, 13000.0)

#: Edges of the S/N bins over which the scale is chosen.
DEFAULT_SNR_EDGES = (10.0, 20.0, 30.0, 50.0, 80.0)

_SCALES = np.round(np.geomspace(1.0, 20.0, 41), 4)
_LABELS = ("teff", "logg", "feh")


@dataclass
class ErrorModel:
    """Calibrated 1σ errors from the fit's formal errors (see the module docstring).

    Attributes
    ----------
    teff_edges : ndarray, shape (nbin - 1,)
        Inner edges (K) of the bins of the fitted Teff; below the first and above the last
        edge the outer bins apply.
    scale : ndarray, shape (3,)
        :math:`s_j` for Teff, log g, [Fe/H].
    floor : ndarray, shape (3, nbin)
        :math:`f_j` per Teff bin (K, dex, dex).
    meta : dict
        How it was fitted (residual source, counts, coverage reached).
    """

    teff_edges: np.ndarray
    scale: np.ndarray
    floor: np.ndarray
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        self.teff_edges = np.asarray(self.teff_edges, float)
        self.scale = np.asarray(self.scale, float)
        self.floor = np.asarray(self.floor, float)
        if self.scale.shape != (3,) or self.floor.shape != (3, self.teff_edges.size + 1):
            raise ConfigurationError(
                f"ErrorModel: scale must have 3 values and floor shape (3, "
                f"{self.teff_edges.size + 1}); got {self.scale.shape} and {self.floor.shape}")
        if np.any(self.scale <= 0) or np.any(self.floor < 0) or \
                not np.all(np.isfinite(self.floor)):
            raise ConfigurationError("ErrorModel: scales must be > 0 and floors finite, >= 0")

    def apply(self, labels, formal):
        """Calibrated errors of fits with ``labels`` and formal errors ``formal`` (``(m, 3)``).

        NaN stays NaN.
        """
        labels = np.atleast_2d(np.asarray(labels, float))
        formal = np.atleast_2d(np.asarray(formal, float))
        bins = np.searchsorted(self.teff_edges, np.nan_to_num(labels[:, 0]), side="right")
        floor = self.floor[:, bins].T
        return np.sqrt((self.scale * formal) ** 2 + floor**2)

    def to_dict(self):
        """Plain dict for the model file."""
        return {"teff_edges": self.teff_edges.tolist(), "scale": self.scale.tolist(),
                "floor": self.floor.tolist(), "meta": dict(self.meta)}

    @classmethod
    def from_dict(cls, data):
        """Inverse of `to_dict`."""
        try:
            return cls(data["teff_edges"], data["scale"], data["floor"],
                       dict(data.get("meta") or {}))
        except (KeyError, TypeError) as exc:
            raise ConfigurationError(f"not an ErrorModel record ({exc}); expected keys "
                                     "teff_edges, scale, floor") from exc


def _coverage(resid, sigma):
    return float(np.mean(np.abs(resid) <= sigma)) if resid.size else float("nan")


def _floor_for(resid, formal, scale, target):
    """Smallest floor >= 0 with coverage >= target for ``sqrt((scale formal)^2 + floor^2)``."""
    if resid.size == 0:
        return float("nan")
    base = (scale * formal) ** 2
    # the floor at which each case is just covered; coverage(f) is a step function of f
    need = np.sqrt(np.clip(resid**2 - base, 0.0, None))
    return float(np.quantile(need, target, method="higher"))


def fit_error_model(found, formal, truth, snr, teff_edges=DEFAULT_TEFF_EDGES,
                    snr_edges=DEFAULT_SNR_EDGES, target=TARGET_COVERAGE, min_per_bin=20,
                    meta=None):
    """Fit an `ErrorModel` to held-out residuals.

    Parameters
    ----------
    found, formal, truth : array-like, shape (m, 3)
        Fitted labels, their formal errors, and the true labels of held-out cases.
    snr : array-like, shape (m,)
        S/N of each case (for the choice of the scales).
    teff_edges : sequence of float
        Inner edges of the fitted-Teff bins (K).
    snr_edges : sequence of float
        Edges of the S/N bins over which the scale is chosen.
    target : float
        Coverage to reach in each bin.
    min_per_bin : int
        A Teff bin with fewer cases takes the floor of its neighbour with the most cases.
    meta : dict, optional
        Stored with the model.

    Returns
    -------
    `ErrorModel`
        Its ``meta`` records the counts and the coverage per label on the fitted cases.
    """
    found = np.atleast_2d(np.asarray(found, float))
    formal = np.atleast_2d(np.asarray(formal, float))
    truth = np.atleast_2d(np.asarray(truth, float))
    snr = np.asarray(snr, float)
    if not (found.shape == formal.shape == truth.shape) or found.shape[1] != 3 \
            or snr.shape != (found.shape[0],):
        raise ConfigurationError("fit_error_model: found, formal, truth must be (m, 3) arrays "
                                 "and snr (m,)")
    good = np.isfinite(found).all(1) & np.isfinite(formal).all(1) & np.isfinite(truth).all(1) \
        & np.isfinite(snr)
    if good.sum() < min_per_bin:
        raise ConfigurationError(f"fit_error_model: {good.sum()} usable cases; need at least "
                                 f"{min_per_bin}")
    found, formal, truth, snr = found[good], formal[good], truth[good], snr[good]
    edges = np.asarray(teff_edges, float)
    tbin = np.searchsorted(edges, found[:, 0], side="right")
    nbin = edges.size + 1
    counts = np.bincount(tbin, minlength=nbin)
    sbin = np.digitize(snr, np.asarray(snr_edges, float))
    scale = np.ones(3)
    floor = np.zeros((3, nbin))
    for j in range(3):
        resid = found[:, j] - truth[:, j]
        best = None
        for s in _SCALES:
            fl = np.array([_floor_for(resid[tbin == b], formal[tbin == b, j], s, target)
                           if counts[b] >= min_per_bin else np.nan for b in range(nbin)])
            fl = _fill_bins(fl, counts)
            sigma = np.sqrt((s * formal[:, j]) ** 2 + fl[tbin] ** 2)
            score = 0.0
            for b in np.unique(sbin):
                m = sbin == b
                score += m.sum() * (_coverage(resid[m], sigma[m]) - target) ** 2
            if best is None or score < best[0] - 1e-12:
                best = (score, s, fl)
        _, scale[j], floor[j] = best
    model = ErrorModel(edges, scale, floor, dict(meta or {}))
    sigma = model.apply(found, formal)
    model.meta.update({
        "n_cases": int(found.shape[0]),
        "target_coverage": float(target),
        "cases_per_teff_bin": counts.tolist(),
        "snr_edges": [float(x) for x in snr_edges],
        "coverage_on_fitted_cases": {k: _coverage(found[:, j] - truth[:, j], sigma[:, j])
                                     for j, k in enumerate(_LABELS)},
    })
    return model


def _fill_bins(values, counts):
    """Bins without a value take the nearest bin's (ties: the one with more cases)."""
    out = values.copy()
    have = np.flatnonzero(np.isfinite(values))
    if have.size == 0:
        raise ConfigurationError("fit_error_model: no Teff bin has enough cases")
    for b in np.flatnonzero(~np.isfinite(values)):
        dist = np.abs(have - b)
        near = have[dist == dist.min()]
        out[b] = values[near[np.argmax(counts[near])]]
    return out
