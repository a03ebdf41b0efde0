"""Cosmic-ray and bad-pixel cleaning on the native pixel grid (before resampling).

A pixel is flagged (added to the mask) when it stands far *above* the mean of its neighbours:

.. math::

    f_i - \\bar f_{i} > k \\sqrt{\\sigma_i^2 + \\sigma_{\\bar f_i}^2}
    \\quad\\text{and}\\quad f_i - \\bar f_{i} > r\\,|\\bar f_{i}|,

where :math:`\\bar f_i` is the ivar-free mean of the good pixels within ``window`` pixels on
either side of :math:`i`, *excluding* :math:`i` itself, so a one- or two-pixel spike does not
hide itself. Only upward outliers are flagged: cosmic rays and hot pixels add light; absorption
lines must never be removed. The relative threshold :math:`r` keeps the real, resolved features
of high-S/N spectra (which can exceed :math:`k\\sigma` easily) from being flagged. Cleaning runs
on the native grid so a spike is removed before resampling could spread it into two pixels.
"""

from dataclasses import asdict, dataclass

import numpy as np

from ..errors import ConfigurationError

__all__ = ["CleanConfig", "flag_spikes"]


@dataclass(frozen=True)
class CleanConfig:
    """Settings of the spike cleaning.

    Parameters
    ----------
    enabled : bool
        Clean at all.
    sigma : float
        Threshold :math:`k` in combined σ.
    relative : float
        Threshold :math:`r` as a fraction of the neighbour mean.
    window : int
        Neighbours on each side used for the local mean.
    """

    enabled: bool = True
    sigma: float = 6.0
    relative: float = 0.3
    window: int = 3

    def __post_init__(self):
        if int(self.window) < 1:
            raise ConfigurationError(f"cleaning window must be >= 1, got {self.window}")

    def to_dict(self):
        """Plain dict for ASDF / JSON."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data):
        """Inverse of `to_dict`."""
        try:
            return cls(**dict(data))
        except TypeError as exc:
            raise ConfigurationError(f"bad cleaning settings {data!r}: {exc}") from exc


def flag_spikes(flux, ivar, mask, config=None):
    """Flag upward single-pixel outliers in a padded batch.

    Parameters
    ----------
    flux, ivar : ndarray, shape (n, m)
    mask : ndarray of bool, shape (n, m)
        True where a pixel is already bad (padding included).
    config : `CleanConfig`, optional

    Returns
    -------
    ndarray of bool, shape (n, m)
        The pixels newly flagged (not including ``mask``).
    """
    config = config or CleanConfig()
    flux = np.asarray(flux, dtype=float)
    ivar = np.asarray(ivar, dtype=float)
    good = ~np.asarray(mask, bool) & (ivar > 0) & np.isfinite(flux)
    if not config.enabled or flux.shape[-1] < 3:
        return np.zeros(flux.shape, bool)
    f = np.where(good, flux, 0.0)
    var = np.where(good, 1.0 / np.where(good, ivar, 1.0), 0.0)
    g = good.astype(float)
    half = int(config.window)
    # sums over the neighbours within ``half`` pixels, the centre pixel excluded
    sf, sg, sv = (_neighbour_sum(x, half) for x in (f, g, var))
    has = sg > 0
    denom = np.where(has, sg, 1.0)
    mean = sf / denom
    noise = np.sqrt(var + sv / denom**2)
    excess = f - mean
    return good & has & (excess > config.sigma * noise) & (excess > config.relative * np.abs(mean))


def _neighbour_sum(x, half):
    m = x.shape[1]
    padded = np.pad(x, ((0, 0), (half, half)))
    out = np.zeros_like(x)
    for k in range(1, half + 1):
        out += padded[:, half - k:half - k + m]
        out += padded[:, half + k:half + k + m]
    return out
