"""Line centres and the air/vacuum conversion.

Vacuum centres in Å. LAMOST and SDSS wavelengths are in vacuum; MILES and most
literature line lists are in air.
"""

import numpy as np

__all__ = ["C_KMS", "LINES_VACUUM", "BALMER", "air_to_vacuum", "vacuum_to_air"]

#: Speed of light, km/s.
C_KMS = 299792.458

#: Vacuum line centres, Å.
LINES_VACUUM = {
    "Halpha": 6564.61,
    "Hbeta": 4862.69,
    "Hgamma": 4341.69,
    "Hdelta": 4102.90,
    "Hepsilon": 3971.19,
    "H8": 3890.15,
    "H9": 3836.47,
    "H10": 3798.98,
    "CaII_K": 3934.77,
    "CaII_H": 3969.59,
    # the Mg II 4481 doublet (air 4481.13 + 4481.33, blended at low resolution: 4481.23)
    "MgII_4481": 4482.49,
}

#: The Balmer lines, redmost first.
BALMER = ("Halpha", "Hbeta", "Hgamma", "Hdelta", "Hepsilon", "H8")


def _refractive_index(wave_air):
    # Morton (2000, ApJS 130, 403), as used by SDSS and VALD; s in inverse micron
    s = 1e4 / np.asarray(wave_air, dtype=float)
    s2 = s * s
    return 1 + 8.336624212083e-5 + 0.02408926869968 / (130.1065924522 - s2) \
        + 1.599740894897e-4 / (38.92568793293 - s2)


def air_to_vacuum(wave_air):
    """Air wavelengths (Å) to vacuum, Morton (2000).

    Parameters
    ----------
    wave_air : array-like
        Air wavelength in Å (valid above ~2000 Å).

    Returns
    -------
    ndarray
        Vacuum wavelength in Å.
    """
    wave_air = np.asarray(wave_air, dtype=float)
    return wave_air * _refractive_index(wave_air)


def vacuum_to_air(wave_vac, iterations=3):
    """Vacuum wavelengths (Å) to air: the inverse of `air_to_vacuum`, by fixed-point iteration.

    Three iterations reach 1e-9 Å; round trips with `air_to_vacuum` are exact to that level.
    """
    wave_vac = np.asarray(wave_vac, dtype=float)
    wave_air = wave_vac / 1.00029
    for _ in range(iterations):
        wave_air = wave_vac / _refractive_index(wave_air)
    return wave_air
