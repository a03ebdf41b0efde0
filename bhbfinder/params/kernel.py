"""The kernel of `~bhbfinder.params.emulator.SlamEmulator` and the choice of its hyper-parameters.

The emulator models every output column (pixel or colour) with one kernel over the standardised
labels ``z``:

.. math::

    k(\\mathbf{z}, \\mathbf{z}') = \\exp\\Big(-\\tfrac12 \\sum_d (z_d - z'_d)^2 / \\ell_d^2\\Big)
    + \\sigma_\\mathrm{lin}^2 (1 + \\mathbf{z}\\cdot\\mathbf{z}')^q,

an RBF with one length scale per label plus a polynomial of degree ``q`` (`kernel_matrix`; its
derivative in ``z``, `kernel_and_grad`, gives the emulator's Jacobian). With the ridge term
``alpha`` times each training star's noise factor ``D``, the weights are
``A = (K + alpha D)^{-1} Y``, and the leave-one-out residuals have the closed form
``[C Y]_i / C_ii``, ``C = (K + alpha D)^{-1}`` (Rasmussen & Williams 2006, eq. 5.12;
`loo_residuals`); they also give each pixel's model error, as SLAM's cross-validated model error
does (Zhang, Liu & Deng 2020, ApJS 246, 9).

The length scales and ``alpha`` minimise the leave-one-out error in flux units
(`tune_flux_error`) or, with ``objective="labels"``, the leave-one-out scatter of the labels
themselves, each training star inverted with the model fitted without it (`loo_invert`,
`tune_label_scatter`). The functions that take a ``model`` read its settings and training
arrays (``train_z_``, ``star_noise_``, ``flux_scale_``...) and change nothing in it.
"""

import numpy as np
from scipy import optimize

from ..errors import ConfigurationError
from .inversion import InversionSettings, invert, nearest_neighbour_start

__all__ = ["SPLIT_KERNELS", "kernel_matrix", "kernel_and_grad", "loo_residuals", "loo_invert",
           "tune_flux_error", "tune_label_scatter"]

#: The names of the side kernels of a model with separate hot and cool kernels (``split_teff``).
SPLIT_KERNELS = ("cool", "hot")

_LABEL_TUNE_STEPS = (0.7, 0.35, 0.17)  # log steps of the label-objective coordinate search


def kernel_matrix(za, zb, length_scale, linear_variance, poly_degree):
    """The kernel between two sets of standardised labels.

    Parameters
    ----------
    za, zb : ndarray, shape (m, 3), (n, 3)
    length_scale : ndarray, shape (3,)
    linear_variance : float
        The weight of the polynomial part.
    poly_degree : int

    Returns
    -------
    k : ndarray, shape (m, n)
        The kernel.
    rbf : ndarray, shape (m, n)
        Its RBF part.
    diff : ndarray, shape (m, n, 3)
        ``(za - zb) / length_scale`` of every pair.
    """
    diff = (za[:, None, :] - zb[None, :, :]) / length_scale
    rbf = np.exp(-0.5 * (diff**2).sum(-1))
    dot = 1.0 + za @ zb.T
    return rbf + linear_variance * dot**poly_degree, rbf, diff


def kernel_and_grad(z, train_z, length_scale, linear_variance, poly_degree):
    """The kernel between ``z`` and the training labels, and its derivative in ``z``.

    Parameters as `kernel_matrix` (``za = z``, ``zb = train_z``).

    Returns
    -------
    k : ndarray, shape (m, n)
    dk : ndarray, shape (m, 3, n)
        ``d k / d z_d``.
    """
    k, rbf, diff = kernel_matrix(z, train_z, length_scale, linear_variance, poly_degree)
    # d k / d z_d = -rbf (z_d - Z_d) / l_d^2 + s_lin q (1 + z.Z)^(q-1) Z_d ; shape (m, 3, n)
    q = poly_degree
    dpoly = q * (1.0 + z @ train_z.T) ** (q - 1)
    dk = (-rbf[:, None, :] * np.moveaxis(diff, 2, 1) / length_scale[None, :, None]
          + linear_variance * dpoly[:, None, :] * train_z.T[None, :, :])
    return k, dk


def _ridge(model, length_scale, alpha):
    """The training kernel ``K`` and ``C = (K + alpha D)^-1``."""
    kern = kernel_matrix(model.train_z_, model.train_z_, length_scale, model.linear_variance,
                  model.poly_degree)[0]
    return kern, np.linalg.inv(kern + alpha * np.diag(model.star_noise_))


def loo_residuals(model, ys, length_scale, alpha):
    """Closed-form leave-one-out residuals ``y_i - f_{-i}(z_i)`` (standardised units).

    Parameters
    ----------
    model : `~bhbfinder.params.emulator.SlamEmulator`
        Its training labels and star noise factors.
    ys : ndarray, shape (n_train, nout)
        The standardised training outputs.
    length_scale, alpha
        The hyper-parameters.

    Returns
    -------
    ndarray, shape (n_train, nout)
    """
    kinv = _ridge(model, length_scale, alpha)[1]
    return (kinv @ ys) / np.diag(kinv)[:, None]


def _tuning_stars(model):
    """The training stars in ``tune_teff`` (a mask), or ``None`` when every star counts."""
    if model.tune_teff is None:
        return None
    lo, hi = model.tune_teff
    inside = (model.train_labels_[:, 0] >= lo) & (model.train_labels_[:, 0] <= hi)
    if inside.sum() < 10:
        raise ConfigurationError(f"tune_teff={model.tune_teff}: fewer than 10 training "
                                 "stars in that range")
    return inside


def tune_flux_error(model, ys, good, length_scale, alpha):
    """Length scales and ridge term minimising the leave-one-out error in flux units.

    Parameters
    ----------
    model : `~bhbfinder.params.emulator.SlamEmulator`
        Being fitted: its training labels, output scales and star noise factors; only the stars
        in its ``tune_teff`` count.
    ys : ndarray, shape (n_train, nout)
        The standardised training outputs.
    good : ndarray of bool, shape (n_train, nout)
        The measured outputs (the others do not count).
    length_scale, alpha
        The starting point.

    Returns
    -------
    length_scale : ndarray, shape (3,)
    alpha : float
    """
    w = np.where(good, model.flux_scale_**2, 0.0) / model.star_noise_[:, None]
    inside = _tuning_stars(model)
    if inside is not None:
        w = w * inside[:, None]

    def loss(theta):
        res = loo_residuals(model, ys, np.exp(theta[:3]), np.exp(theta[3]))
        return float(np.log((w * res**2).sum() / w.sum()))  # log: scale-free tolerance

    theta0 = np.log(np.r_[length_scale, alpha])
    bounds = [(np.log(0.05), np.log(20.0))] * 3 + [(np.log(1e-6), np.log(10.0))]
    best = optimize.minimize(loss, theta0, method="L-BFGS-B", bounds=bounds)
    return np.exp(best.x[:3]), float(np.exp(best.x[3]))


def loo_invert(model, data, weight, rows, ys, length_scale, alpha, settings=None):
    """Invert ``data[j]`` with the model fitted without training star ``rows[j]``, batched.

    Exact leave-one-out for kernel ridge: with ``C = (K + alpha D)^-1`` and ``A = C Y``, the
    model without star ``i`` has weights ``A - C[:, i] A[i] / C[i, i]`` (block inverse), so
    every fold's forward model and Jacobian cost one kernel product more.

    Parameters
    ----------
    model : `~bhbfinder.params.emulator.SlamEmulator`
        Its training set, standardisation, bounds and inversion settings.
    data, weight : ndarray, shape (m, nout)
        The spectra to invert and their weights (0 where a value is bad).
    rows : array-like of int, shape (m,)
        The training star each spectrum belongs to.
    ys : ndarray, shape (n_train, nout)
        The standardised training outputs.
    length_scale, alpha
        The hyper-parameters.
    settings : `~bhbfinder.params.inversion.InversionSettings`, optional
        Default: the model's ``f_scale`` and ``max_iter``.

    Returns
    -------
    ndarray, shape (m, 3)
        The standardised labels ``z`` of the fits.
    """
    kern, cinv = _ridge(model, length_scale, alpha)
    amat = cinv @ ys
    library = model.flux_mean_ + model.flux_scale_ * (kern @ amat)
    m = len(data)
    k_best = max(1, min(int(model.n_starts), len(model.train_z_) - 1))
    starts = nearest_neighbour_start(data, weight, library, exclude=rows, n_best=k_best)
    starts = starts.reshape(m, k_best)
    rep = np.tile(np.arange(m), k_best)  # start j of every spectrum, then j + 1
    rows_rep = np.asarray(rows)[rep]
    coef = cinv[:, rows_rep] / cinv[rows_rep, rows_rep]  # (n, m * k_best)
    a_rows = amat[rows_rep]

    def forward(z, index):
        k, dk = kernel_and_grad(z, model.train_z_, length_scale, model.linear_variance,
                                model.poly_degree)
        c = coef[:, index]
        s = np.einsum("jn,nj->j", k, c)
        ds = np.einsum("jdn,nj->jd", dk, c)
        f = k @ amat - s[:, None] * a_rows[index]
        jac = dk @ amat - ds[:, :, None] * a_rows[index][:, None, :]
        return model.flux_mean_ + model.flux_scale_ * f, jac * model.flux_scale_

    z0 = model.train_z_[starts.T.reshape(-1)]
    settings = settings or InversionSettings(f_scale=model.f_scale, max_iter=model.max_iter)
    z, _, _, cost = invert(forward, data[rep], weight[rep], z0, model._z_bounds[0],
                           model._z_bounds[1], settings)
    best = np.argmin(cost.reshape(k_best, m), axis=0) * m + np.arange(m)
    return z[best]


def tune_label_scatter(model, ys, flux, good, ivar, length_scale, alpha):
    """Length scales and ridge term minimising the leave-one-out *label* scatter.

    Every training star is inverted with the model fitted without it (`loo_invert`, all
    stars in one batch); the loss is the sum over labels of the robust (1.4826 MAD)
    variance of the standardised label errors.

    Parameters
    ----------
    model, ys, length_scale, alpha
        As for `tune_flux_error`; with the model's ``model_error``, the inversions weight the
        pixels as ``predict`` will.
    flux, good, ivar : ndarray, shape (n_train, nout)
        The observations of the training stars to invert, which of their values are measured,
        and their inverse variances.

    Returns
    -------
    length_scale, alpha
        As `tune_flux_error`.
    """
    rows = np.arange(len(ys))
    inside = _tuning_stars(model)
    if inside is not None:  # the stars whose labels the model is for
        rows = np.flatnonzero(inside)
    wscale = np.where(good, model.flux_scale_**2, 0.0) / model.star_noise_[:, None]
    data = np.where(good, flux, 0.0)[rows]
    good, ivar = good[rows], ivar[rows]

    def loss(theta):
        ls, a = np.exp(theta[:3]), float(np.exp(theta[3]))
        if model.model_error:  # the inversion's weights, as `predict` will use them
            loo = loo_residuals(model, ys, ls, a)
            merr2 = (wscale * loo**2).sum(0) / np.maximum(wscale.sum(0), 1e-300)
        else:
            merr2 = 0.0
        with np.errstate(divide="ignore"):
            var = np.where(good, 1.0 / np.where(good, ivar, 1.0), np.inf) + merr2
        weight = np.where(good, 1.0 / var, 0.0)
        dz = loo_invert(model, data, weight, rows, ys, ls, a,
                        InversionSettings(f_scale=model.f_scale, max_iter=20)) \
            - model.train_z_[rows]
        mad = np.median(np.abs(dz - np.median(dz, 0)), 0)
        return float(np.sum((1.4826 * mad) ** 2))

    # the loss is a robust statistic of ~100 stars: piecewise flat, so a coordinate search
    # on a log grid (step halved each sweep) is steadier than a simplex or gradients
    theta = np.log(np.r_[length_scale, alpha])
    best = loss(theta)
    for step in _LABEL_TUNE_STEPS:
        for d in range(theta.size):
            for sign in (-1.0, 1.0):
                while True:
                    trial = theta.copy()
                    trial[d] += sign * step
                    value = loss(trial)
                    if value >= best:
                        break
                    theta, best = trial, value
    return np.exp(theta[:3]), float(np.exp(theta[3]))
