"""How well a spectrum's reported errors describe its pixel-to-pixel noise.

A spectrum's inverse variance is a claim about its noise, and every weight, error bar and
probability downstream trusts it. The claim can be checked on the spectrum itself: where the
signal is smooth over three pixels, the second difference
:math:`d_i = f_i - (f_{i-1} + f_{i+1})/2` is noise alone, with variance
:math:`\\sigma_i^2 + (\\sigma_{i-1}^2 + \\sigma_{i+1}^2)/4` for independent pixels, so the
robust standard deviation of :math:`d_i` over that expected σ is 1 when the errors are right
(the idea of the DER_SNR estimator of Stoehr et al. 2008, applied to the reported errors
rather than in their place). Spectral lines narrower than a few pixels add to it; lines
are a minority of the pixels and the median absolute deviation ignores most of them, and
at LAMOST's sampling (2–3 pixels per resolution element) a strong metal-line spectrum
still reads a little above 1 at high S/N.

On the real LAMOST files of the shared data the ratio is about 0.65 in the DR1 files at every
S/N up to 60, 0.66 in the DR10 ones and 0.88 in the DR8 ones at S/N 20–60 (0.7–0.8 for their A
stars): their reported errors are about 1.1–1.55 times the scatter actually present.
Renderings of the package's simulator give 1.00 (its inverse variance is exact unless
`~bhbfinder.simulate.SimulationConfig`'s ``error_scale`` says otherwise).
"""

from dataclasses import asdict, dataclass

import numpy as np

from ..errors import ConfigurationError

__all__ = ["MIN_NOISE_PIXELS", "NoiseConfig", "pixel_noise_ratio", "ivar_scale"]

#: Fewest usable pixel triples for a ratio; fewer give NaN.
MIN_NOISE_PIXELS = 100


def pixel_noise_ratio(flux, ivar, mask=None, npix=None, min_pixels=MIN_NOISE_PIXELS):
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
        Rows with fewer usable triples of neighbouring good pixels get NaN.

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
    usable = good[:, 1:-1] & good[:, :-2] & good[:, 2:]
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.abs(f[:, 1:-1] - 0.5 * (f[:, :-2] + f[:, 2:])) \
            / np.sqrt(var[:, 1:-1] + 0.25 * (var[:, :-2] + var[:, 2:]))
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
    min_pixels : int
        See `pixel_noise_ratio`.
    """

    enabled: bool = True
    ramp: tuple = (0.85, 0.9)
    floor: float = 0.5
    min_pixels: int = MIN_NOISE_PIXELS

    def __post_init__(self):
        ramp = tuple(float(v) for v in self.ramp)
        if len(ramp) != 2 or not 0 < self.floor < ramp[0] < ramp[1] <= 1:
            raise ConfigurationError(
                f"NoiseConfig needs 0 < floor < ramp[0] < ramp[1] <= 1; got floor {self.floor}, "
                f"ramp {self.ramp}")
        object.__setattr__(self, "ramp", ramp)
        object.__setattr__(self, "floor", float(self.floor))
        object.__setattr__(self, "min_pixels", int(self.min_pixels))

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
