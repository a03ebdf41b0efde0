"""Local straight-line continuum from two side bands, for a whole batch at once.

The line ``f = α + β (λ − λ_c)`` is fitted by inverse-variance-weighted least squares to the good
pixels of both side bands (closed-form 2×2 normal equations per spectrum), then once more after
clipping pixels more than `CLIP_SIGMA` from it (cosmic rays, sky residuals). Spectra with fewer
than `MIN_BAND_PIXELS` good pixels in either band get no continuum.
"""

import numpy as np

__all__ = ["CLIP_SIGMA", "MIN_BAND_PIXELS", "fit_local_continuum"]

#: Pixels this many σ from the first continuum fit are dropped before the second.
CLIP_SIGMA = 3.0

#: Good pixels needed in each side band.
MIN_BAND_PIXELS = 3


def _line_fit(x, y, w):
    s0 = w.sum(axis=1)
    s1 = (w * x).sum(axis=1)
    s2 = (w * x * x).sum(axis=1)
    sy = (w * y).sum(axis=1)
    sxy = (w * x * y).sum(axis=1)
    det = s0 * s2 - s1 * s1
    with np.errstate(invalid="ignore", divide="ignore"):
        alpha = (s2 * sy - s1 * sxy) / det
        beta = (s0 * sxy - s1 * sy) / det
    return alpha, beta


def fit_local_continuum(wave, flux, ivar, good, blue, red, center):
    """Fit a straight continuum through the side bands of every spectrum.

    Parameters
    ----------
    wave : ndarray, shape (npix,)
        The batch's wavelength grid, Å.
    flux, ivar : ndarray, shape (n, npix)
    good : ndarray of bool, shape (n, npix)
        Usable pixels.
    blue, red : ndarray of bool, shape (npix,)
        The pixels of each side band.
    center : float
        Pivot wavelength (the line centre), Å.

    Returns
    -------
    alpha, beta : ndarray, shape (n,)
        The continuum is ``alpha + beta (λ − center)``; NaN where it could not be fitted.
    ok : ndarray of bool, shape (n,)
        Enough good pixels in both bands and a positive continuum under the line.
    """
    bands = blue | red
    x = (wave[bands] - center)[None, :]
    f = np.asarray(flux[:, bands], dtype=float)
    w = np.where(good[:, bands], np.asarray(ivar[:, bands], dtype=float), 0.0)
    f = np.where(w > 0, f, 0.0)
    enough = (np.sum(good[:, blue] & (ivar[:, blue] > 0), axis=1) >= MIN_BAND_PIXELS) & \
             (np.sum(good[:, red] & (ivar[:, red] > 0), axis=1) >= MIN_BAND_PIXELS)
    alpha, beta = _line_fit(x, f, w)
    with np.errstate(invalid="ignore"):
        resid = (f - (alpha[:, None] + beta[:, None] * x)) * np.sqrt(w)
        # scale σ by the band's own scatter when the ivar underestimates it
        scale = np.sqrt(np.sum(resid ** 2, axis=1) / np.maximum(np.sum(w > 0, axis=1) - 2, 1))
        keep = np.abs(resid) <= CLIP_SIGMA * np.maximum(scale, 1.0)[:, None]
    w2 = np.where(keep, w, 0.0)
    alpha2, beta2 = _line_fit(x, f, w2)
    refit = np.isfinite(alpha2) & np.isfinite(beta2)
    alpha = np.where(refit, alpha2, alpha)
    beta = np.where(refit, beta2, beta)
    ok = enough & np.isfinite(alpha) & np.isfinite(beta) & (alpha > 0)
    return np.where(ok, alpha, np.nan), np.where(ok, beta, np.nan), ok
