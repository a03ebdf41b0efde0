"""Batched, bounded, robust Gauss–Newton / Levenberg–Marquardt inversion of a forward model.

SLAM (Zhang, Liu & Deng 2020, ApJS 246, 9, §2.3) fits each spectrum with
``scipy.optimize.least_squares`` (soft-L1 loss, bounds) on ivar-weighted residuals. Here the same
problem is solved for many spectra at once: every iteration evaluates the forward model and its
analytic Jacobian for all active spectra in one call, and the normal equations are ``(m, p, p)``
stacked solves. The soft-L1 loss ``rho(s) = 2 (sqrt(1 + s) - 1)``, ``s = (r / f_scale)**2``, is
minimised by iteratively reweighted least squares (weight ``1 / sqrt(1 + s)``), which is the
Gauss–Newton step of that loss with its curvature term dropped, as ``least_squares`` does.
"""

from dataclasses import dataclass

import numpy as np

__all__ = ["InversionSettings", "invert", "nearest_neighbour_start", "soft_l1_cost"]


@dataclass(frozen=True)
class InversionSettings:
    """Settings of `invert`.

    Attributes
    ----------
    f_scale : float
        Soft-L1 scale in units of the weighted residual (σ): residuals beyond it are downweighted.
    max_iter : int
        Iterations at most.
    xtol : float
        Converged when every parameter moved less than this (in the solver's standardised units).
    lambda_init, lambda_up, lambda_down : float
        Levenberg–Marquardt damping: start, factor after a rejected / accepted step.
    """

    f_scale: float = 3.0
    max_iter: int = 50
    xtol: float = 1e-4
    lambda_init: float = 1e-3
    lambda_up: float = 10.0
    lambda_down: float = 0.3


def soft_l1_cost(resid, f_scale):
    """Soft-L1 cost per spectrum of weighted residuals ``resid`` (``(m, npix)``)."""
    s = (resid / f_scale) ** 2
    return (2.0 * f_scale**2 * (np.sqrt(1.0 + s) - 1.0)).sum(axis=-1)


def nearest_neighbour_start(data, weight, library, exclude=None, n_best=1):
    """Index of the library spectrum with the lowest χ² for each spectrum.

    Parameters
    ----------
    data, weight : ndarray, shape (m, npix)
        Observed values and their weights (inverse variances, 0 = ignore).
    library : ndarray, shape (n, npix)
        Model spectra (e.g. the emulator at its training labels).
    exclude : ndarray of int, shape (m,), optional
        A library row each spectrum may not pick (itself, in leave-one-out runs).
    n_best : int
        Return the ``n_best`` lowest-χ² rows, best first (shape ``(m, n_best)``).

    Returns
    -------
    ndarray of int, shape (m,) (or (m, n_best) when ``n_best > 1``)
    """
    # chi2_ij = sum_p w_ip (d_ip - F_jp)^2, expanded into three matrix products
    wd = weight * data
    chi2 = (wd * data).sum(axis=1)[:, None] - 2.0 * wd @ library.T + weight @ (library**2).T
    if exclude is not None:
        chi2[np.arange(len(chi2)), exclude] = np.inf
    if n_best == 1:
        return np.argmin(chi2, axis=1)
    return np.argsort(chi2, axis=1)[:, :n_best]


def invert(model, data, weight, x0, lower, upper, settings=InversionSettings()):
    """Minimise the soft-L1 χ² of ``data - model(x)`` for every spectrum, within bounds.

    Parameters
    ----------
    model : callable
        ``model(x, index) -> (f, jac)`` with ``x`` of shape ``(k, p)``, ``index`` the rows of the
        batch they belong to (``(k,)``), ``f`` of shape ``(k, npix)`` and ``jac`` (d f / d x) of
        shape ``(k, p, npix)``.
    data, weight : ndarray, shape (m, npix)
        Observations and weights (inverse variances; 0 where a pixel is ignored).
    x0 : ndarray, shape (m, p)
        Starting points.
    lower, upper : ndarray, shape (p,)
        Bounds; steps are projected onto them.
    settings : `InversionSettings`

    Returns
    -------
    x : ndarray, shape (m, p)
    converged : ndarray of bool, shape (m,)
    n_iter : ndarray of int, shape (m,)
    cost : ndarray, shape (m,)
        Final soft-L1 cost.
    """
    c = settings.f_scale
    x = np.clip(np.array(x0, dtype=float), lower, upper)
    m, p = x.shape
    sw = np.sqrt(weight)
    lam = np.full(m, settings.lambda_init)
    converged = np.zeros(m, bool)
    n_iter = np.zeros(m, int)
    f, jac = model(x, np.arange(m))
    cost = soft_l1_cost((data - f) * sw, c)
    eye = np.eye(p)
    active = np.arange(m)
    for _ in range(settings.max_iter):
        if active.size == 0:
            break
        r = data[active] - f[active]
        rw = r * sw[active]
        robust = 1.0 / np.sqrt(1.0 + (rw / c) ** 2)  # IRLS weight of the soft-L1 loss
        w = weight[active] * robust
        j = jac[active]
        hess = np.einsum("mip,mp,mjp->mij", j, w, j)
        grad = np.einsum("mip,mp->mi", j, w * r)
        diag = np.einsum("mii->mi", hess)[:, :, None] * eye
        damped = hess + lam[active, None, None] * (diag + 1e-12 * eye)
        step = np.linalg.solve(damped, grad[..., None])[..., 0]
        x_new = np.clip(x[active] + step, lower, upper)
        f_new, jac_new = model(x_new, active)
        cost_new = soft_l1_cost((data[active] - f_new) * sw[active], c)
        better = cost_new <= cost[active]
        n_iter[active] += 1
        moved = np.abs(x_new - x[active]).max(axis=1)
        idx = active[better]
        x[idx], f[idx], jac[idx], cost[idx] = x_new[better], f_new[better], jac_new[better], \
            cost_new[better]
        lam[idx] *= settings.lambda_down
        lam[active[~better]] *= settings.lambda_up
        # a step smaller than xtol, taken or refused, means no better point is within reach
        done = moved < settings.xtol
        converged[active[done]] = True
        active = active[~done]
    return x, converged, n_iter, cost
