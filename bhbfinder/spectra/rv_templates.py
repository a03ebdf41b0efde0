"""Built-in analytic cross-correlation templates: normalised B, BHB, A, F, G and K-type spectra.

The radial-velocity measurement (`bhbfinder.spectra.rv`) needs templates that ship with the
package and need no data file. These are continuum-normalised line spectra at LAMOST resolution
(R ≈ 1800): Balmer lines as Lorentzian wings plus a Gaussian core, and the strongest metal and
helium features as Gaussians, with depths and widths typical of each spectral type ("BHB" is a
metal-poor, low-gravity A star: deep but narrow Balmer lines, weak Ca II K). They are
deliberately simple: a cross-correlation needs the *positions* of strong features, and the
amplitude of each template is fitted. (The simulator in `bhbfinder.simulate` has its own,
richer analytic model; these stay independent of it so the RV code has no dependency on it.)

All wavelengths are vacuum Å; air values from the literature were converted with
`~bhbfinder.spectra.lines.air_to_vacuum`.
"""

import numpy as np

from .lines import LINES_VACUUM, air_to_vacuum

__all__ = ["TEMPLATE_LINES", "RESOLUTION", "template_names", "template_flux"]

#: Resolving power the templates are broadened to (LAMOST low resolution).
RESOLUTION = 1800.0

_BALMER = {
    "Hbeta": LINES_VACUUM["Hbeta"], "Hgamma": LINES_VACUUM["Hgamma"],
    "Hdelta": LINES_VACUUM["Hdelta"], "Hepsilon": LINES_VACUUM["Hepsilon"],
    "H8": LINES_VACUUM["H8"], "H9": 3836.47, "H10": 3798.98, "Halpha": LINES_VACUUM["Halpha"],
}
_METALS = {  # air wavelengths of strong features, Å
    "CaII_K": None, "CaII_H": None, "CaI_4227": 4226.73, "FeI_4046": 4045.81,
    "FeI_4384": 4383.55, "FeI_4272": 4271.76, "Gband": 4305.0, "MgI_5167": 5167.32,
    "MgI_5173": 5172.68, "MgI_5184": 5183.60, "FeI_5270": 5269.54, "FeI_5328": 5328.04,
    "HeI_4026": 4026.19, "HeI_4471": 4471.48, "HeI_4922": 4921.93, "HeII_4686": 4685.7,
    "MgII_4481": 4481.13, "NaI_5890": 5889.95, "NaI_5896": 5895.92,
}
_CENTRES = dict(_BALMER)
_CENTRES.update({k: (LINES_VACUUM[k] if v is None else float(air_to_vacuum(v)))
                 for k, v in _METALS.items()})

#: Per template: Balmer (depth, Lorentz half width Å) and other features (name, depth, σ Å).
TEMPLATE_LINES = {
    "B": {"balmer": (0.35, 4.0), "lines": [("HeI_4026", 0.10, 1.5), ("HeI_4471", 0.15, 1.5),
                                           ("HeI_4922", 0.08, 1.5), ("MgII_4481", 0.03, 1.0)]},
    "BHB": {"balmer": (0.60, 4.5), "lines": [("CaII_K", 0.08, 1.2), ("MgII_4481", 0.03, 1.0)]},
    "A": {"balmer": (0.60, 9.0), "lines": [("CaII_K", 0.15, 1.2), ("MgII_4481", 0.06, 1.0)]},
    "F": {"balmer": (0.45, 3.0), "lines": [("CaII_K", 0.55, 2.5), ("CaII_H", 0.45, 2.5),
                                           ("CaI_4227", 0.15, 1.0), ("Gband", 0.15, 4.0),
                                           ("FeI_4046", 0.10, 1.0), ("FeI_4384", 0.12, 1.0),
                                           ("MgI_5167", 0.15, 1.0), ("MgI_5173", 0.15, 1.0),
                                           ("MgI_5184", 0.18, 1.0), ("FeI_5270", 0.10, 1.0),
                                           ("NaI_5890", 0.15, 1.0), ("NaI_5896", 0.12, 1.0)]},
    "G": {"balmer": (0.30, 1.5), "lines": [("CaII_K", 0.75, 4.0), ("CaII_H", 0.70, 4.0),
                                           ("CaI_4227", 0.35, 1.2), ("Gband", 0.30, 5.0),
                                           ("FeI_4046", 0.20, 1.0), ("FeI_4384", 0.25, 1.0),
                                           ("FeI_4272", 0.20, 1.0), ("MgI_5167", 0.30, 1.2),
                                           ("MgI_5173", 0.35, 1.2), ("MgI_5184", 0.38, 1.2),
                                           ("FeI_5270", 0.20, 1.0), ("FeI_5328", 0.15, 1.0),
                                           ("NaI_5890", 0.30, 1.2), ("NaI_5896", 0.28, 1.2)]},
    "K": {"balmer": (0.15, 1.0), "lines": [("CaII_K", 0.85, 5.0), ("CaII_H", 0.80, 5.0),
                                           ("CaI_4227", 0.60, 1.5), ("Gband", 0.35, 5.0),
                                           ("FeI_4046", 0.30, 1.0), ("FeI_4384", 0.35, 1.0),
                                           ("FeI_4272", 0.30, 1.0), ("MgI_5167", 0.50, 1.5),
                                           ("MgI_5173", 0.55, 1.5), ("MgI_5184", 0.58, 1.5),
                                           ("FeI_5270", 0.30, 1.0), ("FeI_5328", 0.25, 1.0),
                                           ("NaI_5890", 0.50, 1.5), ("NaI_5896", 0.48, 1.5)]},
}


def template_names():
    """The built-in template names, hottest first."""
    return tuple(TEMPLATE_LINES)


def template_flux(name, wavelength, resolution=RESOLUTION):
    """A built-in template evaluated at ``wavelength`` (vacuum Å, rest frame).

    Parameters
    ----------
    name : str
        One of `template_names`.
    wavelength : array-like
    resolution : float
        Resolving power: every feature gets a Gaussian core of σ ≥ λ / (2.355 R).

    Returns
    -------
    ndarray
        Normalised flux (1 = continuum).
    """
    spec = TEMPLATE_LINES[name]
    wave = np.asarray(wavelength, dtype=float)
    flux = np.ones_like(wave)
    depth, gamma = spec["balmer"]
    for line in ("Halpha", "Hbeta", "Hgamma", "Hdelta", "Hepsilon", "H8", "H9", "H10"):
        c = _CENTRES[line]
        lsf = c / (2.3548 * resolution)
        x = wave - c
        # half Lorentzian wings, half Gaussian core of the instrumental width
        prof = 0.5 / (1 + (x / gamma) ** 2) + 0.5 * np.exp(-0.5 * (x / np.hypot(gamma, lsf)) ** 2)
        flux *= 1 - depth * prof
    for line, d, sigma in spec["lines"]:
        c = _CENTRES[line]
        s = np.hypot(sigma, c / (2.3548 * resolution))
        flux *= 1 - d * np.exp(-0.5 * ((wave - c) / s) ** 2)
    return flux
