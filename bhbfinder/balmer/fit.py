"""Fitting the Sérsic-type profile: batched Levenberg–Marquardt and a scipy reference.

`fit_batched` fits every spectrum of a batch at once: the residuals, the Jacobian
(analytic, `~bhbfinder.balmer.profile.sersic_gradient`) and the 4×4 normal equations are stacked
``(n, ...)`` arrays, each spectrum keeps its own damping factor, and all the 4×4 systems are solved
in one `numpy.linalg.solve` call per iteration (Levenberg 1944; Marquardt 1963, with Marquardt's
diagonal scaling). Bounds are kept by projection onto the box (`FIT_BOUNDS`).

`fit_scipy` fits one spectrum with `scipy.optimize.least_squares` (trust-region reflective, same
residuals, weights, bounds and start): the reference the tests hold the batched fit to.

Uncertainties are ``sqrt(diag((Jᵀ W J)⁻¹))`` at the solution (W = inverse variance), multiplied by
``sqrt(χ²_ν)`` when the reduced χ² exceeds 1 (``scale_errors=True``, the default: noise that the
inverse variance underestimates widens the errors, errors are never shrunk below the formal ones).
"""

from dataclasses import dataclass

import numpy as np
from scipy.optimize import least_squares

from .profile import CORE_SOFTENING, sersic_gradient, sersic_jacobian, sersic_profile

__all__ = ["PARAM_NAMES", "FIT_BOUNDS", "FitResult", "initial_guess", "fit_batched",
           "fit_scipy"]

#: The fitted parameters, in order.
PARAM_NAMES = ("a", "b", "c", "lam0")

#: Bounds of each parameter: a (depth; negative is emission), b (Å), c, and λ0 as an offset (Å)
#: from the line's laboratory centre (±5 Å ≈ ±350 km/s of residual velocity).
FIT_BOUNDS = {"a": (-1.0, 1.0), "b": (0.5, 60.0), "c": (0.3, 6.0), "lam0": (-5.0, 5.0)}

#: Default stopping rule of the batched fit.
MAX_ITER = 200
CHI2_TOL = 1e-6  # χ² decrease (absolute, far below Δχ² = 1) of an accepted step: converged
STEP_TOL = 1e-8  # relative parameter step below which a fit counts as converged


@dataclass
class FitResult:
    """Results of a batched fit (arrays of length n, or ``(n, 4)``).

    Attributes
    ----------
    params, errors : ndarray, shape (n, 4)
        Best-fit ``(a, b, c, λ0)`` and their 1σ uncertainties.
    covariance : ndarray, shape (n, 4, 4)
        Their covariance (scaled like ``errors``).
    chi2 : ndarray
        Reduced χ² (χ² / (N_good − 4)).
    converged : ndarray of bool
    at_bound : ndarray of bool
        A parameter ended within 1e-6 (relative to the range) of a bound.
    niter : ndarray of int
    npix : ndarray of int
        Pixels with non-zero weight.
    """

    params: np.ndarray
    errors: np.ndarray
    covariance: np.ndarray
    chi2: np.ndarray
    converged: np.ndarray
    at_bound: np.ndarray
    niter: np.ndarray
    npix: np.ndarray


def _bounds_arrays(center, bounds):
    bounds = FIT_BOUNDS if bounds is None else {**FIT_BOUNDS, **bounds}
    center = np.asarray(center, dtype=float)
    lo = np.array([bounds[k][0] for k in PARAM_NAMES], dtype=float)
    hi = np.array([bounds[k][1] for k in PARAM_NAMES], dtype=float)
    lo = np.broadcast_to(lo, center.shape + (4,)).copy()
    hi = np.broadcast_to(hi, center.shape + (4,)).copy()
    lo[..., 3] += center
    hi[..., 3] += center
    return lo, hi


def initial_guess(wave, y, ivar, center, core_halfwidth=3.0):
    """A vectorised starting point for the fit.

    Depth from the ivar-weighted core flux (within ``core_halfwidth`` Å of ``center``); the
    centre from the deepest smoothed pixel of the core; ``c = 1``; ``b`` from the half width at
    half depth, which for ``c = 1`` is ``b ln 2``.

    Parameters
    ----------
    wave : ndarray, shape (m,)
    y, ivar : ndarray, shape (n, m)
        Normalised flux and its inverse variance (0 = unused pixel).
    center : float
        The line's laboratory centre, Å.

    Returns
    -------
    ndarray, shape (n, 4)
    """
    wave = np.asarray(wave, dtype=float)
    w = np.asarray(ivar, dtype=float) > 0
    yy = np.where(w, y, np.nan)
    # 3-pixel running mean (NaN-aware) for the core position
    pad = np.pad(yy, ((0, 0), (1, 1)), constant_values=np.nan)
    stack = np.stack([pad[:, :-2], pad[:, 1:-1], pad[:, 2:]])
    with np.errstate(invalid="ignore"):
        cnt = np.sum(np.isfinite(stack), axis=0)
        smooth = np.where(cnt > 0, np.nansum(stack, axis=0) / np.maximum(cnt, 1), np.nan)
    core = np.abs(wave - center) <= core_halfwidth
    sm_core = np.where(core[None, :] & np.isfinite(smooth), smooth, np.inf)
    j = np.argmin(sm_core, axis=1)
    has_core = np.isfinite(sm_core[np.arange(len(j)), j])
    lam0 = np.where(has_core, wave[j], center)
    fmin = np.where(has_core, sm_core[np.arange(len(j)), j], 1.0)
    a = np.clip(1.0 - fmin, 0.05, 0.95)
    # emission-like cores start as a shallow absorption and are flagged after the fit
    half = (1.0 - np.where(w, y, 1.0)) > 0.5 * a[:, None]
    dx = np.median(np.diff(wave))
    hwhm = 0.5 * np.sum(half, axis=1) * dx
    b = np.clip(hwhm / np.log(2.0), 1.0, 30.0)
    c = np.ones_like(a)
    return np.stack([a, b, c, lam0], axis=1)


def fit_batched(wave, y, ivar, center, p0=None, bounds=None, max_iter=MAX_ITER,
                scale_errors=True):
    """Fit ``y = 1 − a exp[−(|λ−λ0|/b)^c]`` to every row at once (Levenberg–Marquardt).

    Parameters
    ----------
    wave : ndarray, shape (m,)
        Wavelength of the fit-window pixels, Å.
    y, ivar : ndarray, shape (n, m)
        Normalised flux and inverse variance; pixels with ``ivar = 0`` do not count.
    center : float
        Laboratory line centre, Å (λ0 is bounded around it).
    p0 : ndarray, shape (n, 4), optional
        Start (default `initial_guess`).
    bounds : dict, optional
        Overrides of `FIT_BOUNDS`.
    max_iter : int
        Iteration limit; fits that have not converged by then are flagged.
    scale_errors : bool
        Multiply the formal errors by ``sqrt(χ²_ν)`` where ``χ²_ν > 1``.

    Returns
    -------
    FitResult
    """
    wave = np.asarray(wave, dtype=float)
    y = np.asarray(y, dtype=float)
    w = np.asarray(ivar, dtype=float)
    w = np.where(np.isfinite(w) & np.isfinite(y) & (w > 0), w, 0.0)
    y = np.where(w > 0, y, 1.0)
    n = y.shape[0]
    lo, hi = _bounds_arrays(np.full(n, float(center)), bounds)
    p = initial_guess(wave, y, w, center) if p0 is None else np.array(p0, dtype=float)
    p = np.clip(p, lo, hi)
    lam = np.full(n, 1e-3)
    # the model's Jacobian is evaluated once per iteration, at the trial point, and kept for the
    # next iteration where the step is accepted
    model, jac = sersic_gradient(wave, p[:, 0], p[:, 1], p[:, 2], p[:, 3])   # jac: (n, 4, m)
    resid = y - model
    chi2 = np.sum(w * resid * resid, axis=1)
    active = np.ones(n, bool)
    converged = np.zeros(n, bool)
    niter = np.zeros(n, int)
    eye = np.eye(4)
    for _ in range(max_iter):
        if not active.any():
            break
        ia = np.flatnonzero(active)
        if ia.size == n:            # views, not copies, while every fit is running
            pa, ja, wa, ra = p, jac, w, resid
        else:
            pa, ja, wa, ra = p[ia], jac[ia], w[ia], resid[ia]
        jw = ja * wa[:, None, :]
        A = jw @ ja.transpose(0, 2, 1)
        g = (jw @ ra[..., None])[..., 0]
        diag = np.maximum(np.einsum("nii->ni", A), 1e-12)
        M = A + lam[ia, None, None] * diag[:, :, None] * eye
        try:
            step = np.linalg.solve(M, g[..., None])[..., 0]
        except np.linalg.LinAlgError:
            step = np.stack([_safe_solve(Mi, gi) for Mi, gi in zip(M, g, strict=True)])
        trial = np.clip(pa + step, lo[ia], hi[ia])
        model_t, jac_t = sersic_gradient(wave, trial[:, 0], trial[:, 1], trial[:, 2],
                                         trial[:, 3])
        resid_t = y[ia] - model_t
        chi2_trial = np.sum(wa * resid_t * resid_t, axis=1)
        better = np.isfinite(chi2_trial) & (chi2_trial <= chi2[ia])
        drop = chi2[ia] - chi2_trial
        rel_step = np.max(np.abs(trial - pa) / (np.abs(pa) + 1e-3), axis=1)
        pa = None                   # (a view of p while every fit runs)
        ib = ia[better]
        p[ib] = trial[better]
        chi2[ib] = chi2_trial[better]
        jac[ib] = jac_t[better]
        resid[ib] = resid_t[better]
        lam[ia] = np.where(better, np.maximum(lam[ia] / 10.0, 1e-9), lam[ia] * 10.0)
        niter[ia] += 1
        done = (better & ((drop < CHI2_TOL) | (rel_step < STEP_TOL))) | \
               (~better & (rel_step < STEP_TOL))
        converged[ia[done]] = True
        stuck = lam[ia] > 1e12  # no step lowers χ²: at a minimum (or hopeless)
        converged[ia[stuck]] = True
        active[ia[done | stuck]] = False

    npix = np.sum(w > 0, axis=1)
    dof = np.maximum(npix - 4, 1)
    chi2_red = chi2 / dof
    cov, singular = _covariance(wave, w, p, chi2_red if scale_errors else None, jac=jac)
    errors = np.sqrt(np.einsum("nii->ni", cov))
    span = hi - lo
    at_bound = np.any((p - lo <= 1e-6 * span) | (hi - p <= 1e-6 * span), axis=1)
    converged &= ~singular
    return FitResult(p, errors, cov, chi2_red, converged, at_bound, niter, npix)


def _safe_solve(M, g):
    try:
        return np.linalg.solve(M, g[:, None])[:, 0]
    except np.linalg.LinAlgError:
        return np.zeros_like(g)


def _covariance(wave, w, p, chi2_red=None, jac=None):
    """(Jᵀ W J)⁻¹, scaled by max(χ²_ν, 1) when given; NaN (and ``singular``) where it cannot
    be inverted. ``jac``: the gradient at ``p`` (`sersic_gradient`, ``(n, 4, m)``) if already
    computed."""
    if jac is None:
        _, jac = sersic_gradient(wave, p[:, 0], p[:, 1], p[:, 2], p[:, 3])
    A = (jac * w[:, None, :]) @ jac.transpose(0, 2, 1)
    n = len(p)
    cov = np.full((n, 4, 4), np.nan)
    singular = np.zeros(n, bool)
    # condition number of the symmetric normal matrix from its eigenvalues (cheaper than an SVD)
    with np.errstate(invalid="ignore", divide="ignore"):
        ev = np.abs(np.linalg.eigvalsh(np.where(np.isfinite(A), A, 0.0)))
        cond = ev.max(axis=1) / ev.min(axis=1)
    ok = np.all(np.isfinite(A), axis=(1, 2)) & np.isfinite(cond) & (cond < 1e14)
    if ok.any():
        cov[ok] = np.linalg.inv(A[ok])
    singular[~ok] = True
    if chi2_red is not None:
        cov *= np.maximum(chi2_red, 1.0)[:, None, None]
    return cov, singular


def fit_scipy(wave, y, ivar, center, p0=None, bounds=None, scale_errors=True, tol=1e-10):
    """Fit one spectrum with `scipy.optimize.least_squares`: the reference for `fit_batched`.

    Parameters
    ----------
    wave : ndarray, shape (m,)
    y, ivar : ndarray, shape (m,)
    center : float
    p0 : array-like of 4, optional
        Start (default `initial_guess`, the same as the batched fit's).
    bounds : dict, optional
        Overrides of `FIT_BOUNDS`.
    scale_errors : bool
        As in `fit_batched`.
    tol : float
        ``ftol``, ``xtol`` and ``gtol`` of `~scipy.optimize.least_squares`.

    Returns
    -------
    FitResult
        With arrays of length 1.
    """
    wave = np.asarray(wave, dtype=float)
    y = np.asarray(y, dtype=float)[None, :]
    w = np.asarray(ivar, dtype=float)[None, :]
    w = np.where(np.isfinite(w) & np.isfinite(y) & (w > 0), w, 0.0)
    y = np.where(w > 0, y, 1.0)
    lo, hi = _bounds_arrays(np.array([float(center)]), bounds)
    start = initial_guess(wave, y, w, center)[0] if p0 is None else np.asarray(p0, float)
    # least_squares needs a strictly interior start
    span = hi[0] - lo[0]
    start = np.clip(start, lo[0] + 1e-9 * span, hi[0] - 1e-9 * span)
    sw = np.sqrt(w[0])

    def resid(p):
        return sw * (y[0] - sersic_profile(wave, *p, eps=CORE_SOFTENING))

    def jac(p):
        _, j = sersic_jacobian(wave, *p)
        return -sw[:, None] * j[0]

    sol = least_squares(resid, start, jac=jac, bounds=(lo[0], hi[0]), method="trf",
                        x_scale="jac", ftol=tol, xtol=tol, gtol=tol, max_nfev=2000)
    p = sol.x[None, :]
    npix = np.sum(w > 0, axis=1)
    chi2_red = 2 * sol.cost / np.maximum(npix - 4, 1)
    chi2_red = np.atleast_1d(chi2_red)
    cov, singular = _covariance(wave, w, p, chi2_red if scale_errors else None)
    errors = np.sqrt(np.einsum("nii->ni", cov))
    at_bound = np.any((p - lo <= 1e-6 * span) | (hi - p <= 1e-6 * span), axis=1)
    return FitResult(p, errors, cov, chi2_red, np.array([sol.success]) & ~singular,
                     at_bound, np.array([sol.nfev]), npix)
