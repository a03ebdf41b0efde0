"""Interstellar reddening of the colours a params model is given.

A params model trained with colours (`~bhbfinder.params.SlamEmulator`'s ``colors``) predicts
*intrinsic* colours from Teff, log g and [Fe/H]. The colours of a distant halo star are
reddened by the dust in front of it, by :math:`E(x - y) = (R_x - R_y)\\,E(B-V)`, where
:math:`R_x = A_x / E(B-V)` is the extinction coefficient of band *x*. `deredden` removes a
given :math:`E(B-V)` and adds its uncertainty to each colour's variance, so a star with
uncertain reddening leans less on its colours; with no reddening known, give a large
``ebv_err`` (the colours then carry little weight) rather than none.

Coefficients (`EXTINCTION_COEFFICIENTS`), for :math:`E(B-V)` on the scale of the Schlegel,
Finkbeiner & Davis (1998, SFD) maps:

* SDSS *ugriz*: Schlafly & Finkbeiner (2011, ApJ 737, 103), Table 6, :math:`R_V = 3.1`
  (4.239, 3.303, 2.285, 1.698, 1.263), which include their 14 % recalibration of SFD;
* Gaia *G*, *BP*, *RP*: Casagrande & VandenBerg (2018, MNRAS 479, L102), Table 2 (2.740,
  3.374, 2.035), for the same scale.

The coefficients of broad bands depend a little on the star's spectrum; those above are for
the stars of their papers (FGK stars for Gaia) and are approximations for hot stars. Pass your
own ``coefficients`` for other bands or a better calibration.

The approximation made: each colour's reddening error is added to that colour's variance
alone, so the correlation the common :math:`E(B-V)` gives several colours is ignored (exact
for one colour).
"""

import re

import numpy as np

from ..errors import ConfigurationError

__all__ = ["EXTINCTION_COEFFICIENTS", "color_bands", "reddening_coefficient", "deredden"]

#: :math:`A_x / E(B-V)` per band (SFD-scale :math:`E(B-V)`; see the module docstring).
EXTINCTION_COEFFICIENTS = {
    "u": 4.239, "g": 3.303, "r": 2.285, "i": 1.698, "z": 1.263,
    "G": 2.740, "BP": 3.374, "RP": 2.035,
}

_GAIA = {"g": "G", "bp": "BP", "rp": "RP"}
_SPLIT = re.compile(r"\s*[-_]\s*")


def color_bands(name):
    """The two bands of a colour name: ``"g_r"`` → ``("g", "r")``.

    Names are two band names joined by ``_`` or ``-``. Where either band is Gaia's BP or RP
    (any case), a ``g``/``G`` in the name is Gaia's G: ``"bp_rp"`` → ``("BP", "RP")``,
    ``"g_rp"`` → ``("G", "RP")``; otherwise bands are taken as written (``"u-g"`` is SDSS).

    Raises
    ------
    ConfigurationError
        If the name is not two bands.
    """
    parts = _SPLIT.split(str(name).strip())
    if len(parts) != 2 or not all(parts):
        raise ConfigurationError(
            f"colour name {name!r}: expected two band names joined by '_' or '-' "
            "(e.g. 'g_r', 'bp_rp', 'g_rp')")
    if any(p.lower() in ("bp", "rp") for p in parts):
        parts = [_GAIA.get(p.lower(), p) for p in parts]
    return tuple(parts)


def reddening_coefficient(name, coefficients=None):
    """:math:`E(x - y) / E(B-V) = R_x - R_y` of the colour ``name``.

    Parameters
    ----------
    name : str
        A colour name (`color_bands`).
    coefficients : dict, optional
        ``{band: A_band / E(B-V)}`` or ``{colour name: E(colour) / E(B-V)}`` entries that
        override or extend `EXTINCTION_COEFFICIENTS`.

    Raises
    ------
    ConfigurationError
        If a band has no coefficient.

    Examples
    --------
    >>> round(reddening_coefficient("g_r"), 3)
    1.018
    >>> round(reddening_coefficient("bp_rp"), 3)
    1.339
    """
    extra = dict(coefficients or {})
    if name in extra:
        return float(extra[name])
    table = {**EXTINCTION_COEFFICIENTS, **extra}
    x, y = color_bands(name)
    missing = [b for b in (x, y) if b not in table]
    if missing:
        raise ConfigurationError(
            f"no extinction coefficient for band {', '.join(map(repr, missing))} of colour "
            f"{name!r}; known bands: {', '.join(sorted(table))}. Pass coefficients="
            f"{{'{name}': E({x}-{y})/E(B-V)}} (params stage option extinction_coefficients)")
    return float(table[x] - table[y])


def deredden(colors, names, ebv, ebv_err=0.0, color_err=None, coefficients=None):
    """Intrinsic colours and their errors from observed colours and :math:`E(B-V)`.

    Parameters
    ----------
    colors : array-like, shape (m, k)
        Observed colours (mag), in the order of ``names``.
    names : sequence of str
        The colours' names (`reddening_coefficient`).
    ebv, ebv_err : float or array-like, shape (m,)
        Reddening and its 1σ error (mag); NaN reddening leaves a row's colours unusable
        (NaN), since their intrinsic value is unknown.
    color_err : array-like, shape (m, k), optional
        The colours' own 1σ errors (default 0).
    coefficients : dict, optional
        See `reddening_coefficient`.

    Returns
    -------
    intrinsic, error : ndarray, shape (m, k)
        ``colors - R·E(B-V)`` and ``sqrt(color_err² + (R·ebv_err)²)``.

    Examples
    --------
    >>> c, e = deredden([[0.30, 1.0]], ["g_r", "bp_rp"], 0.1, 0.02, [[0.02, 0.01]])
    >>> c.round(4).tolist(), e.round(4).tolist()
    ([[0.1982, 0.8661]], [[0.0285, 0.0286]])
    """
    colors = np.atleast_2d(np.asarray(colors, dtype=float))
    names = list(names)
    if colors.shape[1] != len(names):
        raise ConfigurationError(f"deredden: {colors.shape[1]} colour columns but "
                                 f"{len(names)} names")
    r = np.array([reddening_coefficient(n, coefficients) for n in names])
    ebv = np.broadcast_to(np.asarray(ebv, dtype=float), (colors.shape[0],))[:, None]
    ebv_err = np.broadcast_to(np.asarray(ebv_err, dtype=float), (colors.shape[0],))[:, None]
    if np.any(ebv_err < 0):
        raise ConfigurationError("deredden: ebv_err must be non-negative")
    cerr = np.zeros_like(colors) if color_err is None \
        else np.broadcast_to(np.asarray(color_err, dtype=float), colors.shape)
    intrinsic = colors - r * ebv
    error = np.sqrt(cerr**2 + (r * ebv_err) ** 2)
    return intrinsic, error
