"""Named log-linear wavelength grids that models are trained and run on.

Every model sees spectra resampled onto one *model grid*: pixels equally spaced in
:math:`\\log_{10}\\lambda` (rest-frame vacuum Å), like the LAMOST and SDSS native grids, so a
radial-velocity shift is a translation by a constant number of pixels. A grid is data
(`ModelGrid`: name, range, step) that is stored in every model file and compared on load.

The default, ``"blue-3800-5000"``, keeps the Balmer-rich blue part of the spectrum:

- Hβ 4862.69, Hγ 4341.69, Hδ 4102.90, Hε 3971.19 and H8 3890.15 Å, whose widths and depths
  separate BHB stars from A dwarfs, B stars, hot subdwarfs and white dwarfs (Wang et al. 2026),
  and Ca II K 3934.77 Å, which separates metal-poor halo stars from metal-rich A dwarfs
  (Ju et al. 2024);
- it ends well before the LAMOST blue/red dichroic join near 5700–5900 Å, where flux
  calibration is worst, and starts above the noisy 3690–3800 Å end of the blue arm;
- at Δlog10 λ = 1e-4 (the LAMOST native step, 69 km/s per pixel) it has 1192 pixels, about
  a third of a full LAMOST spectrum, which keeps the MSFA-Net classifier cheap enough to train
  on two CPU cores in well under an hour.

``"lamost-full"`` covers the whole usable LAMOST range (3700–9000 Å, 3861 pixels) for models that
want the red side (Hα, Ca triplet, Mg b); ``"rv-3850-5600"`` is the window the built-in
radial-velocity cross-correlation uses (Balmer lines plus the Mg b triplet for cool stars).
"""

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from ..errors import ConfigurationError
from .lines import C_KMS

__all__ = ["ModelGrid", "GRIDS", "DEFAULT_GRID", "get_grid", "register_grid"]


@dataclass(frozen=True)
class ModelGrid:
    """A log-linear wavelength grid: ``10**(log10(wave_min) + dloglam * i)``, ``i < npix``.

    Parameters
    ----------
    name : str
        Short identifier (stored in model files).
    wave_min, wave_max : float
        First pixel centre and upper limit of the last pixel centre, vacuum Å.
    dloglam : float
        Step in :math:`\\log_{10}\\lambda` (1e-4 is 69.0 km/s per pixel).

    Examples
    --------
    >>> grid = ModelGrid("demo", 4000.0, 4100.0, 1e-4)
    >>> grid.npix
    108
    >>> ModelGrid.from_dict(grid.to_dict()) == grid
    True
    """

    name: str
    wave_min: float
    wave_max: float
    dloglam: float = 1e-4

    def __post_init__(self):
        for key in ("wave_min", "wave_max", "dloglam"):
            object.__setattr__(self, key, float(getattr(self, key)))
        if not (0 < self.wave_min < self.wave_max):
            raise ConfigurationError(
                f"grid {self.name!r}: need 0 < wave_min < wave_max, got "
                f"{self.wave_min}–{self.wave_max} Å")
        if not (0 < self.dloglam < 0.1):
            raise ConfigurationError(
                f"grid {self.name!r}: dloglam must be in (0, 0.1), got {self.dloglam}")

    @property
    def loglam0(self):
        """log10 of the first pixel centre."""
        return float(np.log10(self.wave_min))

    @property
    def npix(self):
        """Number of pixels."""
        span = np.log10(self.wave_max) - self.loglam0
        return int(np.floor(span / self.dloglam + 1e-9)) + 1

    @cached_property
    def loglam(self):
        """log10 of the pixel centres, shape ``(npix,)``."""
        return self.loglam0 + self.dloglam * np.arange(self.npix)

    @cached_property
    def wavelength(self):
        """Pixel centres, vacuum Å, shape ``(npix,)``."""
        return 10.0 ** self.loglam

    @cached_property
    def edges(self):
        """Pixel edges (geometric midpoints), Å, shape ``(npix + 1,)``."""
        return 10.0 ** (self.loglam0 + self.dloglam * (np.arange(self.npix + 1) - 0.5))

    @property
    def velocity_step(self):
        """Velocity width of one pixel, km/s."""
        return float(C_KMS * (10.0 ** self.dloglam - 1.0))

    def to_dict(self):
        """Plain dict (for ASDF / JSON)."""
        return {"name": self.name, "wave_min": self.wave_min, "wave_max": self.wave_max,
                "dloglam": self.dloglam}

    @classmethod
    def from_dict(cls, data):
        """Inverse of `to_dict`."""
        try:
            return cls(str(data["name"]), data["wave_min"], data["wave_max"], data["dloglam"])
        except (KeyError, TypeError) as exc:
            raise ConfigurationError(
                f"not a model grid description: {data!r} (need name, wave_min, wave_max, "
                "dloglam)") from exc


#: The named grids; `register_grid` adds more.
GRIDS = {
    "blue-3800-5000": ModelGrid("blue-3800-5000", 3800.0, 5000.0, 1e-4),
    "lamost-full": ModelGrid("lamost-full", 3700.0, 9000.0, 1e-4),
    "rv-3850-5600": ModelGrid("rv-3850-5600", 3850.0, 5600.0, 1e-4),
}

#: The grid models use unless told otherwise (see the module docstring for why).
DEFAULT_GRID = "blue-3800-5000"


def register_grid(grid, overwrite=False):
    """Add a `ModelGrid` to `GRIDS` under its name."""
    if grid.name in GRIDS and GRIDS[grid.name] != grid and not overwrite:
        raise ConfigurationError(
            f"a different grid named {grid.name!r} is already registered; pick another name "
            "or pass overwrite=True")
    GRIDS[grid.name] = grid
    return grid


def get_grid(grid=None):
    """A `ModelGrid` from a name, a dict, a grid, or ``None`` (the default grid)."""
    if grid is None:
        grid = DEFAULT_GRID
    if isinstance(grid, ModelGrid):
        return grid
    if isinstance(grid, dict):
        return ModelGrid.from_dict(grid)
    if isinstance(grid, str):
        if grid not in GRIDS:
            raise ConfigurationError(
                f"unknown model grid {grid!r}; known grids: {', '.join(sorted(GRIDS))} "
                "(or pass a ModelGrid)")
        return GRIDS[grid]
    raise ConfigurationError(f"grid must be a name, dict or ModelGrid, not {type(grid).__name__}")
