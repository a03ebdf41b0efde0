"""Continuum normalisation of a batch on a shared grid: a weighted, clipped Legendre fit.

The continuum of each spectrum is a low-order Legendre polynomial in :math:`\\log\\lambda`, fitted
by weighted linear least squares to the pixels that are not absorption lines. Everything is one
batched solve: the normal equations of all spectra are built with two matrix products and solved
together with `numpy.linalg.solve`.

Why this behaves the same at S/N 5 and S/N 200
    A least-squares fit is linear in the data, so noise averages out instead of biasing it, as
    it does for running medians or upper quantiles (the median of a noisy absorption-line region
    is pulled by the noise; an upper quantile rises with the noise). Two further choices keep it
    unbiased:

    - the weights are the inverse of the *locally averaged* variance (running mean over
      ``variance_window`` pixels), not each pixel's own ivar: when ivar is estimated from the
      noisy flux (Poisson-like), pixel-by-pixel weighting favours downward fluctuations and
      biases the continuum low by about 1/(S/N)² (4 % at S/N 5);
    - absorption is rejected on the residual *averaged over* ``clip_window`` pixels (Balmer
      wings are tens of Å wide), in units of its own noise but never below ``clip_floor``
      of the continuum, so a chance dip of single noisy pixels is never removed and the same
      features are rejected at every S/N above a few.

Why it is robust to deep, wide Balmer lines
    Fixed masks (`DEFAULT_LINE_MASKS`, rest-frame vacuum) remove the cores and inner wings of
    the Balmer lines and Ca II H&K before the first fit; the clipping then removes whatever
    wing is left below the fit. The polynomial is of low order (5 over 3800–5000 Å), so it
    bridges the masked regions instead of following the lines into them. For white dwarfs, whose
    lines are wider than any mask, the result is a smooth pseudo-continuum through the line
    peaks; the lines stay in the normalised spectrum, which is what the classifier needs.

Upward outliers (cosmic rays, emission spikes) above ``clip_high`` σ are excluded from the fit
(but not masked in the output: see `bhbfinder.spectra.clean` for that).
"""

from dataclasses import asdict, dataclass

import numpy as np

from ..errors import ConfigurationError
from .lines import LINES_VACUUM

__all__ = ["ContinuumConfig", "DEFAULT_LINE_MASKS", "line_mask", "window_sum", "running_mean",
           "fit_continuum", "normalize"]

#: Fixed masks (name, vacuum centre Å, half width Å) excluded from every continuum fit.
DEFAULT_LINE_MASKS = (
    ("H10", 3798.98, 12.0),
    ("H9", 3836.47, 15.0),
    ("H8", LINES_VACUUM["H8"], 20.0),
    ("CaII_K", LINES_VACUUM["CaII_K"], 12.0),
    ("Hepsilon", LINES_VACUUM["Hepsilon"], 30.0),
    ("Hdelta", LINES_VACUUM["Hdelta"], 50.0),
    ("Hgamma", LINES_VACUUM["Hgamma"], 55.0),
    ("Hbeta", LINES_VACUUM["Hbeta"], 60.0),
    ("Halpha", LINES_VACUUM["Halpha"], 60.0),
)


@dataclass(frozen=True)
class ContinuumConfig:
    """Settings of the continuum fit (stored with the preprocessing of every model).

    Parameters
    ----------
    degree : int
        Legendre degree over the grid (5 suits 3800–5000 Å; use ~10 for 3700–9000 Å).
    iterations : int
        Fit–reject cycles after the first fit.
    clip_low : float
        Reject where the residual averaged over ``clip_window`` pixels is below ``-clip_low``
        times its noise (or ``clip_floor``, whichever is larger).
    clip_high : float
        Reject single pixels more than this many σ above the fit.
    clip_window : int
        Pixels averaged for the low-side rejection (odd).
    clip_floor : float
        Minimum rejection depth, as a fraction of the continuum.
    variance_window : int
        Pixels in the running mean of the variance that gives the weights (odd).
    min_pixels : int
        Fewer unrejected good pixels than this and the fit fails for that spectrum.
    line_masks : tuple of (str, float, float)
        Fixed masks: name, vacuum centre (Å), half width (Å).
    """

    degree: int = 5
    iterations: int = 3
    clip_low: float = 3.0
    clip_high: float = 5.0
    clip_window: int = 15
    clip_floor: float = 0.01
    variance_window: int = 51
    min_pixels: int = 100
    line_masks: tuple = DEFAULT_LINE_MASKS

    def __post_init__(self):
        masks = tuple((str(n), float(c), float(h)) for n, c, h in self.line_masks)
        object.__setattr__(self, "line_masks", masks)
        if self.degree < 0 or self.iterations < 0:
            raise ConfigurationError("continuum degree and iterations must be >= 0")
        for key in ("clip_window", "variance_window"):
            if int(getattr(self, key)) < 1:
                raise ConfigurationError(f"continuum {key} must be >= 1")

    def to_dict(self):
        """Plain dict (lists instead of tuples) for ASDF / JSON."""
        data = asdict(self)
        data["line_masks"] = [list(m) for m in self.line_masks]
        return data

    @classmethod
    def from_dict(cls, data):
        """Inverse of `to_dict`."""
        data = dict(data)
        if "line_masks" in data:
            data["line_masks"] = tuple(tuple(m) for m in data["line_masks"])
        try:
            return cls(**data)
        except TypeError as exc:
            raise ConfigurationError(f"bad continuum settings {data!r}: {exc}") from exc


def line_mask(wavelength, line_masks=DEFAULT_LINE_MASKS):
    """Boolean array, True within any fixed line mask."""
    wavelength = np.asarray(wavelength, dtype=float)
    out = np.zeros(wavelength.shape, bool)
    for _, centre, half in line_masks:
        out |= np.abs(wavelength - centre) <= half
    return out


def window_sum(values, window):
    """Sum over a centred window of ``window`` pixels along the last axis (truncated at ends)."""
    half = int(window) // 2
    csum = np.cumsum(np.asarray(values, dtype=float), axis=-1)
    npix = csum.shape[-1]
    out = csum[..., np.minimum(np.arange(npix) + half, npix - 1)]
    if npix > half + 1:
        out[..., half + 1:] -= csum[..., :npix - half - 1]
    return out


def running_mean(values, weights, window):
    """Weighted running mean along the last axis (window of ``window`` pixels, centred).

    Returns ``(mean, weight_sum)``; the mean is 0 where the window holds no weight.
    """
    values = np.asarray(values, dtype=float)
    weights = np.asarray(weights, dtype=float)
    sv = window_sum(values * weights, window)
    sw = window_sum(weights, window)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(sw > 0, sv / np.where(sw > 0, sw, 1.0), 0.0)
    return mean, sw


def _basis(wavelength, degree):
    x = np.log(wavelength)
    x = 2 * (x - x[0]) / (x[-1] - x[0]) - 1 if x.size > 1 else np.zeros_like(x)
    return np.polynomial.legendre.legvander(x, degree)


def fit_continuum(wavelength, flux, ivar, mask, config=None):
    """Fit the continuum of every spectrum of a batch on a shared grid.

    Parameters
    ----------
    wavelength : ndarray, shape (npix,)
        The shared grid, Å (rest frame for the line masks to be where the lines are).
    flux, ivar : ndarray, shape (n, npix)
    mask : ndarray of bool, shape (n, npix)
        True where a pixel is bad.
    config : `ContinuumConfig`, optional

    Returns
    -------
    continuum : ndarray, shape (n, npix)
    ok : ndarray of bool, shape (n,)
        False where too few pixels were left to fit.
    """
    config = config or ContinuumConfig()
    wavelength = np.asarray(wavelength, dtype=float)
    flux = np.asarray(flux, dtype=float)
    ivar = np.asarray(ivar, dtype=float)
    good = ~np.asarray(mask, bool) & (ivar > 0) & np.isfinite(flux)
    flux = np.where(good, flux, 0.0)
    var = np.where(good, 1.0 / np.where(good, ivar, 1.0), 0.0)
    local_var, wsum = running_mean(var, good, config.variance_window)
    weight = np.where(good & (local_var > 0), 1.0 / np.where(local_var > 0, local_var, 1.0), 0.0)

    basis = _basis(wavelength, config.degree)                     # (P, d+1)
    nb = basis.shape[1]
    outer = (basis[:, :, None] * basis[:, None, :]).reshape(len(wavelength), nb * nb)
    fixed = ~line_mask(wavelength, config.line_masks)[None, :]
    use = good & fixed

    # noise of the window-summed residual, for the low-side rejection
    noise = np.sqrt(window_sum(var, config.clip_window))
    nwin = window_sum(good, config.clip_window)
    sigma = np.sqrt(var)
    continuum = np.zeros_like(flux)
    for it in range(config.iterations + 1):
        w = weight * use
        gram = (w @ outer).reshape(-1, nb, nb)
        rhs = (w * flux) @ basis
        ridge = 1e-12 * np.trace(gram, axis1=1, axis2=2)[:, None, None] + 1e-300
        coef = np.linalg.solve(gram + ridge * np.eye(nb), rhs[..., None])[..., 0]
        continuum = coef @ basis.T
        if it == config.iterations:
            break
        resid = flux - continuum
        # low side: the window-averaged residual against its own noise, floored in depth
        sum_res = window_sum(np.where(good, resid, 0.0), config.clip_window)
        depth = np.maximum(config.clip_low * noise, config.clip_floor * nwin * np.abs(continuum))
        low = sum_res < -depth
        high = resid > config.clip_high * sigma
        new_use = good & fixed & ~low & ~high
        # never reject down to an unconstrained fit: such rows keep the previous selection
        enough = new_use.sum(axis=1) >= max(config.min_pixels, nb + 1)
        use = np.where(enough[:, None], new_use, use)

    npts = use.sum(axis=1)
    ok = (npts >= max(config.min_pixels, nb + 1)) & np.all(np.isfinite(continuum), axis=1)
    return continuum, ok


def normalize(wavelength, flux, ivar, mask, config=None):
    """Divide a batch by its fitted continuum.

    Returns
    -------
    flux_norm, ivar_norm : ndarray, shape (n, npix)
        ``flux / continuum`` and ``ivar * continuum**2`` (0 where masked).
    mask_out : ndarray of bool
        The input mask plus pixels where the continuum is not positive, and whole rows whose
        fit failed.
    continuum : ndarray
    ok : ndarray of bool, shape (n,)
    """
    continuum, ok = fit_continuum(wavelength, flux, ivar, mask, config)
    flux = np.asarray(flux, dtype=float)
    ivar = np.asarray(ivar, dtype=float)
    positive = continuum > 0
    mask_out = np.asarray(mask, bool) | ~positive | ~ok[:, None] | ~(ivar > 0)
    safe = np.where(positive, continuum, 1.0)
    flux_norm = np.where(mask_out, 0.0, flux / safe)
    ivar_norm = np.where(mask_out, 0.0, ivar * safe**2)
    return flux_norm, ivar_norm, mask_out, continuum, ok
