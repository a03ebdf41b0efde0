"""Labels from spectra: the inversion of a fitted `~bhbfinder.params.emulator.SlamEmulator`.

As in SLAM (Zhang, Liu & Deng 2020, ApJS 246, 9, §2.3), each spectrum is fitted by robust
(soft-L1), bounded least squares on its weighted residuals, the per-pixel model error added to the
data variance; here many spectra at once, with `~bhbfinder.params.inversion.invert`:

`observed_data`
    the spectra (and colours) as the inversion takes them: data, and variance ``inf`` where a
    value is bad;
`multi_start`
    the search from the lowest-χ² training stars with float32 kernel-weight products, finished
    by a few float64 steps;
`invert_rows`
    that search for chunks of spectra, with the formal errors ``(J^T W J)^{-1}``; a Gaussian
    prior on Teff (a photometric temperature) is fitted as one more observation of the
    labels, the model's standardised Teff its prediction;
`refine_split`
    with separate hot and cool kernels (``split_teff``), the refit by the kernel of each
    spectrum's side of its first-pass Teff, both blended linearly in it near the split.

`SlamEmulator.predict` runs them and sets the flags. The functions read the model's settings,
bounds and forward model, and change nothing in it.
"""

from dataclasses import replace

import numpy as np

from ..errors import ConfigurationError
from .inversion import InversionSettings, invert, nearest_neighbour_start

__all__ = ["observed_data", "invert_rows", "refine_split", "multi_start", "prior_rows",
           "teff_prior_arrays"]

#: Float64 iterations that finish each float32 search (`multi_start`); from the search's optimum
#: the step falls below ``xtol`` within one or two.
_POLISH_ITER = 5
_POLISH_TOL = 0.01  # standardised label units (1 % of a label's spread in the library)
_PREDICT_CHUNK = 1024  # spectra inverted together (memory ~ chunk x 3 x npix x 8 bytes x few)


def observed_data(model, flux, ivar, colors=None, color_ivar=None, mask=None):
    """The spectra (and colours) to invert, checked against the model's grid.

    Parameters as `SlamEmulator.predict`.

    Returns
    -------
    data : ndarray, shape (m, npix + ncolors)
        The values, 0 where bad.
    var : ndarray, shape (m, npix + ncolors)
        Their variances, ``inf`` where bad.
    npix_ok : ndarray of int, shape (m,)
        The usable flux pixels (colours not counted) of each spectrum.
    """
    flux = np.atleast_2d(np.asarray(flux, dtype=float))
    ivar = np.atleast_2d(np.asarray(ivar, dtype=float))
    if flux.shape != ivar.shape or flux.shape[1] != model.n_pixels:
        raise ConfigurationError(
            f"flux and ivar must be (m, {model.n_pixels}) arrays on the model's grid; got "
            f"{flux.shape} and {ivar.shape}"
        )
    ok = (ivar > 0) & np.isfinite(flux) & np.isfinite(ivar)
    if mask is not None:
        ok &= ~np.asarray(mask, bool)
    m = flux.shape[0]
    if model.n_colors:
        cdata = np.full((m, model.n_colors), np.nan)
        civar = np.zeros((m, model.n_colors))
        if colors is not None:
            cdata[:] = np.asarray(colors, float).reshape(m, model.n_colors)
            civar[:] = (np.inf if color_ivar is None
                        else np.asarray(color_ivar, float).reshape(m, model.n_colors))
        cok = np.isfinite(cdata) & (civar > 0)
        flux = np.hstack([flux, cdata])
        ivar = np.hstack([ivar, civar])
        ok = np.hstack([ok, cok])
    data = np.where(ok, flux, 0.0)
    with np.errstate(divide="ignore"):
        var = np.where(ok, 1.0 / np.where(ok, ivar, 1.0), np.inf)
    return data, var, ok[:, : model.n_pixels].sum(axis=1)


def teff_prior_arrays(teff_prior, m):
    """A Teff prior ``(mean, sigma)`` (K) as two float arrays of shape (m,), NaN in both where
    a row has none (a mean or deviation that is missing, not finite or not positive)."""
    try:
        mean, sigma = teff_prior
    except (TypeError, ValueError):
        raise ConfigurationError("teff_prior must be a (mean, sigma) pair of arrays") from None
    mean = np.broadcast_to(np.asarray(mean, float), (m,))
    sigma = np.broadcast_to(np.asarray(sigma, float), (m,))
    with np.errstate(invalid="ignore"):
        ok = np.isfinite(mean) & (mean > 0) & np.isfinite(sigma) & (sigma > 0)
    return np.where(ok, mean, np.nan), np.where(ok, sigma, np.nan)


def prior_rows(teff_prior, rows, m):
    """The ``rows`` of a ``(mean, sigma)`` Teff prior of ``m`` spectra (None stays None)."""
    if teff_prior is None:
        return None
    return tuple(np.broadcast_to(np.asarray(v, float), (m,))[rows] for v in teff_prior)


def _teff_prior_columns(model, teff_prior, m):
    """A Gaussian Teff prior as one more "observation" of the inversion: each spectrum's prior
    mean in the model's standardised Teff and its weight ``1 / σ_z²`` (0 where a row has no
    prior), or None without one."""
    if teff_prior is None:
        return None
    mean, sigma = teff_prior_arrays(teff_prior, m)
    ok = np.isfinite(mean)
    if not ok.any():
        return None
    labels = np.zeros((m, 3))
    labels[:, 0] = np.where(ok, mean, 1.0e4)
    z = model._to_z(labels)[:, 0]
    sigma_z = np.where(ok, sigma, 1.0) / model._dlabel_dz(labels)[:, 0]
    return np.where(ok, z, 0.0), np.where(ok, 1.0 / sigma_z**2, 0.0)


def _with_teff_output(forward):
    """``forward`` with the standardised Teff itself appended as a last output (its
    derivative 1 in Teff), the model side of `_teff_prior_columns`."""
    def model(z, index=None, **kwargs):
        f, jac = forward(z, index, **kwargs)
        extra = np.zeros((len(z), jac.shape[1], 1), jac.dtype)
        extra[:, 0, 0] = 1.0
        return (np.concatenate([f, z[:, :1].astype(f.dtype)], axis=1),
                np.concatenate([jac, extra], axis=2))
    return model


def invert_rows(model, data, var, npix_ok, start_labels=None, first_pass=False,
                teff_prior=None):
    """Invert spectra (data and variance with ``inf`` where a pixel is bad) with one kernel.

    Starts from the lowest-χ² training stars, or from ``start_labels`` (clipped to the
    bounds).

    Parameters
    ----------
    model : `~bhbfinder.params.emulator.SlamEmulator`
        A single-kernel model (or one side's kernel, ``kernels_[name]``).
    data, var : ndarray, shape (m, nout)
        As `observed_data` gives them.
    npix_ok : ndarray of int, shape (m,)
        Usable pixels, for the reduced χ².
    start_labels : ndarray, shape (m, 3), optional
    first_pass : bool
        Only the float32 search, to the tolerance ``_POLISH_TOL`` (the labels to choose the
        kernels of a split model by; errors, χ² and convergence are left NaN / False).
    teff_prior : (array-like, array-like), optional
        Mean and 1σ (K, shape (m,)) of a Gaussian prior on Teff (a photometric temperature),
        fitted as one more observation of the labels, as SLAM fits colours beside the
        spectrum (Ju et al. 2025); NaN in a row: none. The formal errors include it; the
        reduced χ² is the spectrum's alone.

    Returns
    -------
    labels, errors, start : ndarray, shape (m, 3)
        The labels, their formal errors and the starting labels (physical units).
    reduced_chi2 : ndarray, shape (m,)
    converged : ndarray of bool, shape (m,)
    n_iter : ndarray of int, shape (m,)
    """
    m = len(data)
    merr2 = model.model_error_**2 if model.model_error else 0.0
    with np.errstate(divide="ignore"):
        weight = 1.0 / (var + merr2)  # 0 where var is inf
    nout = data.shape[1]
    prior = _teff_prior_columns(model, teff_prior, m)
    if prior is not None:
        data = np.concatenate([data, prior[0][:, None]], axis=1)
        weight = np.concatenate([weight, prior[1][:, None]], axis=1)
    forward = model._model_z_reduced if prior is None else \
        _with_teff_output(model._model_z_reduced)
    labels = np.full((m, 3), np.nan)
    errors = np.full((m, 3), np.nan)
    start = np.full((m, 3), np.nan)
    rchi2 = np.full(m, np.nan)
    conv = np.zeros(m, bool)
    n_iter = np.zeros(m, int)
    settings = InversionSettings(f_scale=model.f_scale, max_iter=model.max_iter)
    if first_pass:
        settings = replace(settings, xtol=_POLISH_TOL)
    for c0 in range(0, m, _PREDICT_CHUNK):  # bounds the (m, 3, npix) Jacobians
        rows = slice(c0, c0 + _PREDICT_CHUNK)
        d, w = data[rows], weight[rows]
        z_start = None if start_labels is None else np.clip(
            model._to_z(start_labels[rows]), model._z_bounds[0], model._z_bounds[1])
        z0, z, conv[rows], n_iter[rows] = multi_start(model, d, w, settings, z_start,
                                                      polish=not first_pass,
                                                      forward=forward)
        start[rows] = model._from_z(z0)
        if first_pass:
            labels[rows] = model._from_z(z)
            continue
        f, jac_z = forward(z)
        chi2 = (w * (d - f) ** 2)[:, :nout].sum(axis=1)
        rchi2[rows] = chi2 / np.maximum(npix_ok[rows] - 3, 1)
        hess = np.einsum("mip,mp,mjp->mij", jac_z, w, jac_z)
        cov_z = np.linalg.pinv(hess)
        err_z = np.sqrt(np.clip(np.einsum("mii->mi", cov_z), 0, None))
        x = model._from_z(z)
        labels[rows] = x
        errors[rows] = err_z * model._dlabel_dz(x)
    return labels, errors, start, rchi2, conv, n_iter


def refine_split(model, data, var, npix_ok, first, teff_prior=None):
    """Refit with the cool and / or hot kernel chosen by the first-pass labels ``first``.

    Each side's fit starts from the first pass. In the blend zone the labels are
    ``(1 - w) x_cool + w x_hot`` and the formal variance that of the mixture of the two
    fits, ``(1 - w) σ_cool² + w σ_hot² + w (1 - w) (x_hot - x_cool)²``.

    Parameters
    ----------
    model : `~bhbfinder.params.emulator.SlamEmulator`
        A model with hot and cool kernels (``split_teff``).
    data, var, npix_ok
        As for `invert_rows`.
    first : ndarray, shape (m, 3)
        The first-pass labels (the whole-library kernel's).
    teff_prior : (array-like, array-like), optional
        As for `invert_rows`.

    Returns
    -------
    labels, errors : ndarray, shape (m, 3)
    reduced_chi2 : ndarray, shape (m,)
    converged : ndarray of bool, shape (m,)
    n_iter : ndarray of int, shape (m,)
        The iterations of the refits.
    hot_weight : ndarray, shape (m,)
        ``w``.
    """
    m = len(data)
    w = model.hot_weight(first[:, 0])
    labels = np.zeros((m, 3))
    second = np.zeros((m, 3))
    rchi2 = np.zeros(m)
    conv = np.ones(m, bool)
    n_iter = np.zeros(m, int)
    fits = {}
    for name, share in (("cool", 1.0 - w), ("hot", w)):
        rows = np.flatnonzero(share > 0)
        if not rows.size:
            continue
        lab, err, _, rc, cv, it = invert_rows(model.kernels_[name], data[rows], var[rows],
                                              npix_ok[rows], start_labels=first[rows],
                                              teff_prior=prior_rows(teff_prior, rows, m))
        fits[name] = (rows, lab)
        s = share[rows, None]
        labels[rows] += s * lab
        second[rows] += s * err**2
        rchi2[rows] += s[:, 0] * rc
        conv[rows] &= cv
        n_iter[rows] += it
    both = np.flatnonzero((w > 0) & (w < 1))
    if both.size:  # rows fitted by both sides: the spread of the two fits
        x = {}
        for name, (rows, lab) in fits.items():
            x[name] = lab[np.searchsorted(rows, both)]
        wb = w[both, None]
        second[both] += wb * (1.0 - wb) * (x["hot"] - x["cool"]) ** 2
    return labels, np.sqrt(second), rchi2, conv, n_iter, w


def multi_start(model, data, weight, settings, z_start=None, polish=True, forward=None):
    """Invert from the ``n_starts`` lowest-χ² training stars; keep the lowest-cost fit.

    Balmer lines peak near 9000–9500 K, so a spectrum can have a χ² minimum on each side
    of the peak: several starts keep the fit from stopping in the wrong one.

    Parameters
    ----------
    model : `~bhbfinder.params.emulator.SlamEmulator`
        A single-kernel model (or one side's kernel).
    data, weight : ndarray, shape (m, nout)
        The values and their weights (0 where bad).
    settings : `~bhbfinder.params.inversion.InversionSettings`
    z_start : ndarray, shape (m, 3), optional
        Start there (standardised labels) instead, one start.
    polish : bool
        ``False``: return the float32 search's best fit without the float64 steps.
    forward : callable, optional
        The forward model ``forward(z, index, single=...)`` (default the model's own,
        ``_model_z_reduced``); with more outputs than the model's (`invert_rows`' Teff
        prior) the training stars' standardised Teff is the extra output of the start's
        library.

    Returns
    -------
    z0, z : ndarray, shape (m, 3)
        The starting and the fitted standardised labels.
    converged : ndarray of bool, shape (m,)
    n_iter : ndarray of int, shape (m,)
    """
    m = len(data)
    forward = model._model_z_reduced if forward is None else forward
    if z_start is None:
        k = max(1, min(int(model.n_starts), len(model.train_z_)))
        library = model.train_flux_
        if data.shape[1] > library.shape[1]:  # the Teff prior's column
            library = np.concatenate([library, model.train_z_[:, :1]], axis=1)
        starts = nearest_neighbour_start(data, weight, library, n_best=k)
        starts = starts.reshape(m, k)
        z0 = model.train_z_[starts.T.reshape(-1)]  # start j of every spectrum, then j + 1
    else:
        k, z0 = 1, np.asarray(z_start, float)
    rep = np.tile(np.arange(m), k)
    z, conv, n_iter, cost = invert(lambda zz, idx: forward(zz, idx, single=True),
                                   data[rep], weight[rep], z0,
                                   model._z_bounds[0], model._z_bounds[1], settings)
    best = np.argmin(cost.reshape(k, m), axis=0) * m + np.arange(m)
    if not polish:
        return z0[:m], z[best], conv[best], n_iter[best]
    # polish the best fit of each spectrum with the float64 model
    z_best, conv_best, n_polish, _ = invert(
        forward, data, weight, z[best], model._z_bounds[0], model._z_bounds[1],
        replace(settings, max_iter=_POLISH_ITER))
    # converged: the search converged, and the polish either converged or only moved by a
    # negligible amount (its xtol is tighter than any label error; on flat χ² surfaces it
    # may keep creeping by < _POLISH_TOL without reaching it)
    small = np.abs(z_best - z[best]).max(axis=1) < _POLISH_TOL
    return z0[:m], z_best, conv[best] & (conv_best | small), n_iter[best] + n_polish
