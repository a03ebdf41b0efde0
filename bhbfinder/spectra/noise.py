"""How well a spectrum's reported errors describe its pixel-to-pixel noise.

A spectrum's inverse variance is a claim about its noise, and every weight, error bar and
probability downstream trusts it. The claim can be checked on the spectrum itself: where the
signal is smooth over a few pixels, the second difference
:math:`d_i = f_i - (f_{i-L} + f_{i+L})/2` is noise alone, with variance
:math:`\\sigma_i^2 + (\\sigma_{i-L}^2 + \\sigma_{i+L}^2)/4` for independent pixels, so the
robust standard deviation of :math:`d_i` over that expected σ is 1 when the errors are right
(the idea of the DER_SNR estimator of Stoehr et al. 2008, applied to the reported errors
rather than in their place). The step is ``L = 2`` pixels: rebinning onto a log-λ grid
correlates neighbouring pixels, which lowers a one-pixel difference without the errors being
wrong (the SDSS spectra of the shared data read 0.77 at one pixel and 1.00 at two), while
two pixels apart the noise is independent and smooth lines (Balmer lines span tens of pixels)
still add little. Narrow metal lines do add: a cool star at high S/N reads above 1, never
below.

On the real LAMOST files of the shared data the ratio is 0.71–0.78 in the DR1, DR7 and DR10
files below S/N 60 and 0.8–1.0 for the hot stars of DR8: their reported errors are up to ~1.4
times the scatter actually present (and their neighbouring pixels are correlated besides: at
one pixel DR1 reads 0.63). Renderings of the package's simulator read 1.06 (their inverse
variance is exact unless `~bhbfinder.simulate.SimulationConfig`'s ``error_scale`` says
otherwise; their lines add the 0.06).
"""

from dataclasses import asdict, dataclass

import numpy as np

from ..errors import ConfigurationError

__all__ = ["MIN_NOISE_PIXELS", "NOISE_LAG", "SECOND_DIFFERENCE_RMS", "NoiseConfig",
           "second_difference", "pixel_noise_ratio", "ivar_scale"]

#: Fewest usable pixel triples for a ratio; fewer give NaN.
MIN_NOISE_PIXELS = 100


#: Pixels between the centre and the ends of the second difference (see the module docstring).
NOISE_LAG = 2

#: The standard deviation of `second_difference` of independent noise of unit σ:
#: √(1 + 1/4 + 1/4).
SECOND_DIFFERENCE_RMS = float(np.sqrt(1.5))


def second_difference(flux, lag=NOISE_LAG):
    """:math:`d_i = f_i - (f_{i-L} + f_{i+L})/2` along the last axis (``2 L`` values shorter):
    noise alone where the signal is smooth over ``2 L`` pixels.

    Parameters
    ----------
    flux : ndarray, shape (..., m)
    lag : int
        ``L`` (at least 1).

    Returns
    -------
    ndarray, shape (..., m - 2 lag)
    """
    lag = int(lag)
    if lag < 1:
        raise ConfigurationError(f"second_difference: lag must be >= 1, got {lag}")
    return flux[..., lag:-lag] - 0.5 * (flux[..., :-2 * lag] + flux[..., 2 * lag:])


def pixel_noise_ratio(flux, ivar, mask=None, npix=None, min_pixels=MIN_NOISE_PIXELS,
                      lag=NOISE_LAG):
    """Robust pixel-to-pixel scatter of each spectrum over what its inverse variance says.

    Parameters
    ----------
    flux, ivar : array-like, shape (n, m) or (m,)
        Spectra on their native pixels (before any resampling, which correlates neighbouring
        pixels) and their inverse variances.
    mask : array-like of bool, optional
        True where a pixel is bad (pixels with ``ivar <= 0`` or non-finite values are bad in
        any case).
    npix : array-like of int, optional
        Valid pixels of each row (the rest is padding).
    min_pixels : int
        Rows with fewer usable triples of good pixels get NaN.
    lag : int
        ``L``, the pixels between the centre and the ends of each second difference.

    Returns
    -------
    ndarray, shape (n,) (a float for one spectrum)
        1.4826 × the median absolute value of the normalised second differences: 1 where
        the errors describe the noise, below 1 where they overstate it.

    References
    ----------
    Stoehr, F., et al. 2008, ASP Conf. Ser. 394, 505 (DER_SNR).
    """
    flux = np.asarray(flux, float)
    single = flux.ndim == 1
    flux = np.atleast_2d(flux)
    ivar = np.atleast_2d(np.asarray(ivar, float))
    good = (ivar > 0) & np.isfinite(ivar) & np.isfinite(flux)
    if mask is not None:
        good &= ~np.atleast_2d(np.asarray(mask, bool))
    if npix is not None:
        good &= np.arange(flux.shape[1])[None, :] < np.asarray(npix).reshape(-1, 1)
    var = np.where(good, 1.0 / np.where(good, ivar, 1.0), 0.0)
    f = np.where(good, flux, 0.0)
    lag = int(lag)
    if lag < 1:
        raise ConfigurationError(f"pixel_noise_ratio: lag must be >= 1, got {lag}")
    mid, lo, hi = slice(lag, -lag), slice(None, -2 * lag), slice(2 * lag, None)
    usable = good[:, mid] & good[:, lo] & good[:, hi]
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.abs(second_difference(f, lag)) \
            / np.sqrt(var[:, mid] + 0.25 * (var[:, lo] + var[:, hi]))
    # the median of |r| per row, all rows at once: unusable entries sort to the end. Noise
    # and smooth signal give second differences of zero median, so no centring is needed.
    r = np.where(usable, r, np.inf)
    r.sort(axis=1)
    count = usable.sum(axis=1)
    k = np.maximum(count - 1, 0)
    median = 0.5 * (np.take_along_axis(r, (k // 2)[:, None], 1)[:, 0]
                    + np.take_along_axis(r, ((k + 1) // 2)[:, None], 1)[:, 0])
    out = np.where(count >= min_pixels, 1.4826 * median, np.nan)
    return float(out[0]) if single else out


@dataclass(frozen=True)
class NoiseConfig:
    """Settings of the inverse-variance rescaling of `~bhbfinder.spectra.prepare.PrepareConfig`.

    Where a spectrum's pixel scatter is clearly below what its errors say (`pixel_noise_ratio`
    below ``ramp[1]``), its inverse variance is multiplied by ``1 / s²``, with ``s`` the ratio
    itself below ``ramp[0]`` and blended linearly to 1 between the two, so that the rescaling
    is continuous in the ratio and exact errors are left as they are (from sampling alone they
    read 1 ± 0.03; none of the 4,058 held-out renderings of the simulator reads below 0.90).
    A ratio below ``floor`` is not noise at all (a model or a smoothed spectrum) and leaves the
    spectrum alone, as does a spectrum too short to measure.

    Parameters
    ----------
    enabled : bool
        Rescale at all.
    ramp : (float, float)
        Ratios below ``ramp[0]`` are applied in full, above ``ramp[1]`` not at all.
    floor : float
        Ratios below this leave the spectrum alone.
    min_pixels, lag : int
        See `pixel_noise_ratio`.
    """

    enabled: bool = True
    ramp: tuple = (0.85, 0.9)
    floor: float = 0.5
    min_pixels: int = MIN_NOISE_PIXELS
    lag: int = NOISE_LAG

    def __post_init__(self):
        ramp = tuple(float(v) for v in self.ramp)
        if len(ramp) != 2 or not 0 < self.floor < ramp[0] < ramp[1] <= 1:
            raise ConfigurationError(
                f"NoiseConfig needs 0 < floor < ramp[0] < ramp[1] <= 1; got floor {self.floor}, "
                f"ramp {self.ramp}")
        object.__setattr__(self, "ramp", ramp)
        object.__setattr__(self, "floor", float(self.floor))
        object.__setattr__(self, "min_pixels", int(self.min_pixels))
        object.__setattr__(self, "lag", int(self.lag))
        if self.lag < 1:
            raise ConfigurationError(f"NoiseConfig.lag must be >= 1, got {self.lag}")

    def to_dict(self):
        """Plain dict for ASDF / JSON."""
        out = asdict(self)
        out["ramp"] = list(self.ramp)
        return out

    @classmethod
    def from_dict(cls, data):
        """Inverse of `to_dict`."""
        try:
            return cls(**dict(data))
        except TypeError as exc:
            raise ConfigurationError(f"bad noise settings {data!r}: {exc}") from exc


def ivar_scale(ratio, config=None):
    """The factor the inverse variances are multiplied by, for measured `pixel_noise_ratio`
    values (1 where nothing is rescaled; NaN ratios give 1).

    Examples
    --------
    >>> ivar_scale([1.0, 0.92, 0.875, 0.8, 0.3, float("nan")]).round(3)
    array([1.   , 1.   , 1.138, 1.562, 1.   , 1.   ])
    """
    config = config or NoiseConfig()
    s = np.asarray(ratio, float)
    lo, hi = config.ramp
    weight = np.clip((hi - s) / (hi - lo), 0.0, 1.0)
    used = 1.0 - weight * (1.0 - s)
    apply = config.enabled & np.isfinite(s) & (s >= config.floor)
    return np.where(apply, 1.0 / np.where(apply, used, 1.0) ** 2, 1.0)
