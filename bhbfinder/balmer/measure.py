"""Measure Balmer lines and the Ca II K index on a batch of prepared spectra.

`measure_line` chains, for one line and every spectrum at once: coverage check, local continuum
(`~bhbfinder.balmer.local_continuum`), masked-pixel check, batched profile fit
(`~bhbfinder.balmer.fit.fit_batched`), D0.2 and fm on the fitted profile and on the data, and the
quality flags of `bhbfinder.balmer.flags`. `measure_cak` measures the Ca II K equivalent width.
"""

import numpy as np
from scipy.special import digamma, gamma

from . import flags as F
from .fit import fit_batched
from .local_continuum import fit_local_continuum
from .profile import D02_LEVEL, d02_from_params, fm_from_params, measure_d02_fm
from .windows import CAK_WINDOW

__all__ = ["MAX_MASKED_FRACTION", "QUANTITIES", "measure_line", "measure_cak", "measure_band_ew",
           "normalised_window"]

#: Largest fraction of masked pixels in a fit window that still gets a fit.
MAX_MASKED_FRACTION = 0.25

#: Per-line quantities `measure_line` returns: name -> (unit or None, description).
QUANTITIES = {
    "a": (None, "Sérsic-profile depth a (1 - a = core flux)"),
    "a_err": (None, "1-sigma uncertainty of a"),
    "b": ("Angstrom", "Sérsic-profile scale width b"),
    "b_err": ("Angstrom", "1-sigma uncertainty of b"),
    "c": (None, "Sérsic-profile shape c"),
    "c_err": (None, "1-sigma uncertainty of c"),
    "lam0": ("Angstrom", "fitted line centre, rest-frame vacuum"),
    "lam0_err": ("Angstrom", "1-sigma uncertainty of lam0"),
    "d02": ("Angstrom", "D0.2 of the fitted profile: full width at normalised flux 0.8"),
    "d02_err": ("Angstrom", "1-sigma uncertainty of d02 (linear propagation)"),
    "fm": (None, "fm of the fitted profile: core normalised flux 1 - a"),
    "fm_err": (None, "1-sigma uncertainty of fm"),
    "ew": ("Angstrom", "equivalent width of the fitted profile, 2ab Γ(1 + 1/c) (unchanged by "
                       "the resolution)"),
    "ew_err": ("Angstrom", "1-sigma uncertainty of ew (linear propagation)"),
    "d02_data": ("Angstrom", "D0.2 measured on the interpolated normalised flux"),
    "fm_data": (None, "normalised flux interpolated at lam0 (data)"),
    "chi2": (None, "reduced chi-square of the profile fit"),
    "npix": (None, "good pixels in the fit window"),
    "flags": (None, "quality bit flags (bhbfinder.balmer.flags): 1 not_covered, 2 masked, "
                    "4 not_converged, 8 emission, 16 at_bound, 32 bad_row"),
}


def _select(wave, lo, hi):
    return (wave >= lo) & (wave <= hi)


def _covered(wave, window):
    lo, hi = window.full_range
    return bool(len(wave)) and wave[0] <= lo and wave[-1] >= hi


def _good(flux, ivar, mask):
    return ~np.asarray(mask, bool) & (np.asarray(ivar) > 0) & np.isfinite(flux) & \
        np.isfinite(ivar)


def normalised_window(wavelength, flux, ivar, mask, window):
    """The fit window of every spectrum divided by its local continuum.

    Returns
    -------
    wave : ndarray, shape (m,)
    y, ivar_y : ndarray, shape (n, m)
        Normalised flux and inverse variance (``ivar · continuum²``; 0 on bad pixels).
    good : ndarray of bool, shape (n, m)
    flags : ndarray of int, shape (n,)
        ``NOT_COVERED`` / ``MASKED`` where there is no usable continuum.
    """
    wavelength = np.asarray(wavelength, dtype=float)
    n = len(flux)
    flags = np.zeros(n, np.int32)
    if not _covered(wavelength, window):
        fit = _select(wavelength, *window.fit_range)
        flags[:] = F.NOT_COVERED
        m = int(fit.sum())
        return (wavelength[fit], np.full((n, m), np.nan), np.zeros((n, m)),
                np.zeros((n, m), bool), flags)
    # work on the pixels of the window and its side bands only
    i0, i1 = np.searchsorted(wavelength, window.full_range)
    sl = slice(max(i0 - 1, 0), min(i1 + 1, len(wavelength)))
    wavelength = wavelength[sl]
    flux, ivar = flux[:, sl], ivar[:, sl]
    mask = np.asarray(mask)[:, sl]
    fit = _select(wavelength, *window.fit_range)
    wave = wavelength[fit]
    good = _good(flux, ivar, mask)
    blue = _select(wavelength, *window.blue_band)
    red = _select(wavelength, *window.red_band)
    alpha, beta, ok = fit_local_continuum(wavelength, flux, ivar, good, blue, red, window.center)
    cont = alpha[:, None] + beta[:, None] * (wave - window.center)[None, :]
    with np.errstate(invalid="ignore", divide="ignore"):
        y = np.asarray(flux[:, fit], dtype=float) / cont
        iv = np.asarray(ivar[:, fit], dtype=float) * cont * cont
    g = good[:, fit] & ok[:, None] & (cont > 0)
    iv = np.where(g, iv, 0.0)
    y = np.where(g, y, np.nan)
    none_good = ~np.any(good[:, fit | blue | red], axis=1)
    flags[none_good] |= F.NOT_COVERED
    flags[~none_good & ~ok] |= F.MASKED
    return wave, y, iv, g, flags


def _d02_error(a, b, c, cov, level=D02_LEVEL):
    """Linear propagation of the (a, b, c) covariance into D0.2 = 2b[ln(a/level)]^(1/c)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        L = np.log(a / level)
        d = 2.0 * b * L ** (1.0 / c)
        grad = np.stack([d / (c * L * a), d / b, -d * np.log(L) / c ** 2], axis=1)
        var = np.einsum("ni,nij,nj->n", grad, cov[:, :3, :3], grad)
        return np.where(a > level, np.sqrt(var), np.nan)


def _ew_and_error(a, b, c, cov):
    """EW = 2ab Γ(1 + 1/c) of the profile and its linearly propagated error."""
    g = gamma(1.0 + 1.0 / c)
    ew = 2.0 * a * b * g
    with np.errstate(invalid="ignore", divide="ignore"):
        grad = np.stack([ew / a, ew / b, -ew * digamma(1.0 + 1.0 / c) / c ** 2], axis=1)
        var = np.einsum("ni,nij,nj->n", grad, cov[:, :3, :3], grad)
    return ew, np.sqrt(var)


def measure_line(wavelength, flux, ivar, mask, window, rows=None,
                 max_masked_fraction=MAX_MASKED_FRACTION, fit_options=None):
    """Fit one Balmer line in every spectrum of a batch.

    Parameters
    ----------
    wavelength : ndarray, shape (npix,)
        Rest-frame vacuum wavelength grid, Å.
    flux, ivar : ndarray, shape (n, npix)
        Continuum-normalised flux and inverse variance.
    mask : ndarray of bool, shape (n, npix)
        True = bad pixel.
    window : `~bhbfinder.balmer.windows.LineWindow`
    rows : ndarray of bool, shape (n,), optional
        Only these spectra are measured; the others get ``BAD_ROW`` (default: all).
    max_masked_fraction : float
        More masked pixels than this in the fit window: ``MASKED``, no fit.
    fit_options : dict, optional
        Passed to `~bhbfinder.balmer.fit.fit_batched` (``bounds``, ``max_iter``,
        ``scale_errors``).

    Returns
    -------
    dict
        ``{quantity: ndarray (n,)}`` for every key of `QUANTITIES`; NaN where a line has no
        numbers (``flags & NO_VALUES``).
    """
    n = len(flux)
    rows = np.ones(n, bool) if rows is None else np.asarray(rows, bool)
    out = {k: np.full(n, np.nan) for k in QUANTITIES}
    out["npix"] = np.zeros(n, np.int64)
    wave, y, iv, good, flags = normalised_window(wavelength, flux, ivar, mask, window)
    flags[~rows] = F.BAD_ROW
    m = len(wave)
    masked_frac = 1.0 - good.sum(axis=1) / max(m, 1)
    flags[(flags == 0) & (masked_frac > max_masked_fraction)] |= F.MASKED
    todo = np.flatnonzero(flags == 0)
    out["npix"][:] = np.where(rows, good.sum(axis=1), 0)
    if len(todo):
        res = fit_batched(wave, y[todo], iv[todo], window.center, **(fit_options or {}))
        a, b, c, lam0 = res.params.T
        for k, name in enumerate(("a", "b", "c", "lam0")):
            out[name][todo] = res.params[:, k]
            out[name + "_err"][todo] = res.errors[:, k]
        out["chi2"][todo] = res.chi2
        out["d02"][todo] = d02_from_params(a, b, c)
        out["d02_err"][todo] = _d02_error(a, b, c, res.covariance)
        out["fm"][todo] = fm_from_params(a)
        out["fm_err"][todo] = res.errors[:, 0]
        out["ew"][todo], out["ew_err"][todo] = _ew_and_error(a, b, c, res.covariance)
        d02_data, fm_data = measure_d02_fm(wave, y[todo], good[todo], lam0)
        out["d02_data"][todo] = d02_data
        out["fm_data"][todo] = fm_data
        f = np.zeros(len(todo), np.int32)
        f[~res.converged] |= F.NOT_CONVERGED
        f[res.at_bound] |= F.AT_BOUND
        f[(a < 0) | (fm_data > 1.0)] |= F.EMISSION
        flags[todo] |= f
    out["flags"] = flags
    return out


def measure_cak(wavelength, flux, ivar, mask, window=CAK_WINDOW, rows=None,
                max_masked_fraction=MAX_MASKED_FRACTION):
    """Ca II K equivalent width (KP-style index, Beers et al. 1999) of every spectrum.

    EW = ∫ (1 − F/F_c) dλ over ``window.fit_range`` (the K12 band), with ``F_c`` the straight
    continuum through the side bands; masked pixels are left out and the integral rescaled to
    the full band.

    Returns
    -------
    dict
        ``ew`` (Å), ``ew_err`` (Å) and ``flags`` arrays of length n.
    """
    wave, y, iv, good, flags = _band_pixels(wavelength, flux, ivar, mask, window, rows)
    m = len(wave)
    ngood = good.sum(axis=1)
    flags[(flags == 0) & (1.0 - ngood / max(m, 1) > max_masked_fraction)] |= F.MASKED
    width = window.fit_range[1] - window.fit_range[0]
    with np.errstate(invalid="ignore", divide="ignore"):
        depth = np.where(good, 1.0 - y, 0.0).sum(axis=1) / ngood
        var = np.where(good, 1.0 / np.where(good, iv, 1.0), 0.0).sum(axis=1) / ngood ** 2
    return _ew_result(depth * width, np.sqrt(var) * width, flags)


def _band_pixels(wavelength, flux, ivar, mask, window, rows):
    """`normalised_window` with rows not asked for flagged ``BAD_ROW``."""
    rows = np.ones(len(flux), bool) if rows is None else np.asarray(rows, bool)
    wave, y, iv, good, flags = normalised_window(wavelength, flux, ivar, mask, window)
    flags[~rows] = F.BAD_ROW
    return wave, y, iv, good, flags


def _ew_result(ew, ew_err, flags):
    bad = (flags & F.NO_VALUES) != 0
    return {"ew": np.where(bad, np.nan, ew), "ew_err": np.where(bad, np.nan, ew_err),
            "flags": flags}


def measure_band_ew(wavelength, flux, ivar, mask, window, rows=None,
                    max_masked_fraction=MAX_MASKED_FRACTION):
    """Equivalent width of a narrow line: ``Σ (1 − F/F_c) Δλ`` over the pixels of
    ``window.fit_range``, each weighted by its own width.

    For a band only a few pixels wide a mean depth times the band width is off by the share of
    a pixel the band edges cut (up to ~15 % for 7 Å at LAMOST's 1 Å pixels); summing pixel
    widths is not. ``F_c`` is the straight continuum through the side bands; a masked pixel
    of the band takes the value interpolated between its good neighbours (a narrow line's
    depth varies too much across it for a band mean to stand in).

    Returns
    -------
    dict
        ``ew`` (Å), ``ew_err`` (Å) and ``flags`` arrays of length n.
    """
    wave, y, iv, good, flags = _band_pixels(wavelength, flux, ivar, mask, window, rows)
    dlam = np.gradient(wave) if len(wave) > 1 else np.ones(len(wave))
    total = dlam.sum()
    covered = np.where(good, dlam[None, :], 0.0).sum(axis=1)
    flags[(flags == 0) & (1.0 - covered / max(total, 1e-12) > max_masked_fraction)] |= \
        F.MASKED
    y = np.array(y, dtype=float)
    for i in np.flatnonzero((flags == 0) & ~good.all(axis=1)):
        g = good[i]
        y[i, ~g] = np.interp(wave[~g], wave[g], y[i, g])
    with np.errstate(invalid="ignore", divide="ignore"):
        ew = ((1.0 - y) * dlam[None, :]).sum(axis=1)
        var = np.where(good, dlam[None, :] ** 2 / np.where(good, iv, 1.0), 0.0).sum(axis=1)
        ew_err = np.sqrt(var * total / covered)
    return _ew_result(ew, ew_err, flags)
