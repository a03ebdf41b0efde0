"""The Gaia colour–magnitude check and distances of BHB candidates.

CMD region
    Culpan et al. (2024): with ``x = BP − RP`` and the
    absolute magnitude ``G_abs = G + 5 log10(ϖ / mas) − 10``, a star lies in the BHB region when
    ``−0.4 < x < 0.5``, ``G_abs`` is brighter than the sixth-order upper curve and fainter
    than the cubic lower curve (`CMD_UPPER_COEFFS`, `CMD_LOWER_COEFFS`). The test needs a good
    parallax: it is *masked* (not testable) where ``parallax_over_error ≤ 5``, the same cut the
    region was defined with.

Distances
    ``"parallax"``: ``d = 1 / ϖ`` where ``parallax_over_error > 5`` (a fractional error below
    20 %, where the inverse parallax is a fair estimator: Bailer-Jones 2015, PASP 127, 994);
    error ``σ_ϖ / ϖ²``.
    ``"bhb_absmag"``: the BHB absolute magnitude–colour relation of Deason, Belokurov & Evans
    (2011, MNRAS 416, 2903), ``M_g = 0.434 − 0.169x + 2.319x² + 20.449x³ + 94.517x⁴`` with
    ``x = (g − r)0`` in [−0.25, 0], applied to the dereddened SDSS ``g0`` when the catalogue has
    ``g0`` and ``gr0`` columns.
    ``"bhb_absmag_gaia"``: otherwise, from Gaia G with a constant BHB absolute magnitude
    ``M_G = 0.5 ± 0.3`` (`BHB_ABS_G`; A-type BHB stars sit near G_abs ≈ +0.5;
    the scatter is a default, not a fitted value). No extinction correction is applied unless an
    ``A_G`` column is named; BP − RP is *not* converted to g − r because the published Gaia–SDSS
    relations (Riello et al. 2021, A&A 649, A3, Table C.2) are only valid for BP − RP > 0.3
    (g − G) and > 0 (r − G), redder than most BHB stars.
    ``""``: no distance (no parallax, no photometry).
"""

import astropy.units as u
import numpy as np
from astropy.table import MaskedColumn, Table

from ..errors import ConfigurationError

__all__ = [
    "CMD_COLOUR_RANGE",
    "CMD_UPPER_COEFFS",
    "CMD_LOWER_COEFFS",
    "MIN_PARALLAX_OVER_ERROR",
    "DEASON2011_COEFFS",
    "DEASON2011_COLOUR_RANGE",
    "DEASON2011_SIGMA",
    "BHB_ABS_G",
    "absolute_magnitude",
    "cmd_upper",
    "cmd_lower",
    "in_bhb_cmd_region",
    "deason2011_abs_g",
    "distance_from_absmag",
    "bhb_distances",
    "cmd_columns",
    "plot_cmd",
]

#: BP − RP range of the BHB region (Culpan et al. 2024).
CMD_COLOUR_RANGE = (-0.4, 0.5)
#: Upper (bright) boundary of the region: G_abs < Σ c_k x^k, highest power first.
CMD_UPPER_COEFFS = (138.07, -153.85, -40.727, 73.368, -7.4054, -9.5575, 3.8459)
#: Lower (faint) boundary: G_abs > Σ c_k x^k, highest power first.
CMD_LOWER_COEFFS = (-3.2382, 7.1259, -3.583, -0.2)
#: Parallax quality above which the CMD test is made and the parallax distance is used.
MIN_PARALLAX_OVER_ERROR = 5.0

#: Deason, Belokurov & Evans (2011) M_g((g − r)0) coefficients, highest power first.
DEASON2011_COEFFS = (94.517, 20.449, 2.319, -0.169, 0.434)
#: The (g − r)0 range the relation was calibrated on.
DEASON2011_COLOUR_RANGE = (-0.25, 0.0)
#: Scatter assumed for the Deason relation (mag) in the distance error (a default, not fitted).
DEASON2011_SIGMA = 0.1
#: Constant BHB absolute G magnitude and its scatter (mag), the Gaia-only fallback (defaults,
#: not fitted values).
BHB_ABS_G = (0.5, 0.3)


def absolute_magnitude(mag, parallax_mas):
    """``M = m + 5 log10(ϖ / mas) − 10``; NaN where the parallax is not positive."""
    mag = np.asarray(mag, dtype=float)
    plx = np.asarray(parallax_mas, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(plx > 0, mag + 5.0 * np.log10(np.where(plx > 0, plx, 1.0)) - 10.0,
                        np.nan)


def cmd_upper(bp_rp):
    """The bright boundary of the BHB region at ``bp_rp``."""
    return np.polyval(CMD_UPPER_COEFFS, np.asarray(bp_rp, dtype=float))


def cmd_lower(bp_rp):
    """The faint boundary of the BHB region at ``bp_rp``."""
    return np.polyval(CMD_LOWER_COEFFS, np.asarray(bp_rp, dtype=float))


def in_bhb_cmd_region(bp_rp, phot_g_mean_mag, parallax, parallax_error,
                      min_parallax_over_error=MIN_PARALLAX_OVER_ERROR):
    """Whether each star lies in the Gaia CMD region of BHB stars.

    Parameters
    ----------
    bp_rp, phot_g_mean_mag : array-like
        Gaia BP − RP and G (mag).
    parallax, parallax_error : array-like
        mas.
    min_parallax_over_error : float
        The test is made only where ``parallax / parallax_error`` exceeds this.

    Returns
    -------
    `numpy.ma.MaskedArray` of bool
        Masked where the test cannot be made (poor or missing parallax, missing photometry).
    """
    x = np.asarray(bp_rp, dtype=float)
    plx = np.asarray(parallax, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        poe = plx / np.asarray(parallax_error, dtype=float)
    g_abs = absolute_magnitude(phot_g_mean_mag, plx)
    testable = np.isfinite(x) & np.isfinite(g_abs) & np.isfinite(poe) & \
        (poe > min_parallax_over_error)
    lo, hi = CMD_COLOUR_RANGE
    with np.errstate(invalid="ignore"):
        inside = (x > lo) & (x < hi) & (g_abs < cmd_upper(x)) & (g_abs > cmd_lower(x))
    return np.ma.array(inside & testable, mask=~testable)


def deason2011_abs_g(gr0):
    """BHB absolute SDSS g magnitude from (g − r)0 (Deason, Belokurov & Evans 2011).

    NaN outside the calibrated range `DEASON2011_COLOUR_RANGE`.
    """
    x = np.asarray(gr0, dtype=float)
    lo, hi = DEASON2011_COLOUR_RANGE
    with np.errstate(invalid="ignore"):
        valid = (x >= lo) & (x <= hi)
    return np.where(valid, np.polyval(DEASON2011_COEFFS, x), np.nan)


def distance_from_absmag(mag, abs_mag, abs_mag_sigma=0.0, mag_err=0.0):
    """Heliocentric distance (kpc) and its error from a distance modulus.

    ``d = 10^((m − M + 5) / 5)`` pc; ``σ_d = d · ln(10)/5 · sqrt(σ_m² + σ_M²)``.
    """
    mu = np.asarray(mag, dtype=float) - np.asarray(abs_mag, dtype=float)
    dist = 10.0 ** ((mu + 5.0) / 5.0) / 1000.0
    sigma = np.hypot(np.asarray(abs_mag_sigma, dtype=float), np.asarray(mag_err, dtype=float))
    return dist, dist * np.log(10.0) / 5.0 * sigma


def bhb_distances(parallax=None, parallax_error=None, phot_g_mean_mag=None, g0=None, gr0=None,
                  a_g=None, min_parallax_over_error=MIN_PARALLAX_OVER_ERROR,
                  parallax_zero_point=0.0, abs_g_gaia=BHB_ABS_G,
                  deason_sigma=DEASON2011_SIGMA):
    """Distances of BHB stars: parallax where good, else a BHB absolute magnitude.

    Parameters
    ----------
    parallax, parallax_error : array-like, optional
        Gaia parallax and error (mas); NaN where unknown.
    phot_g_mean_mag : array-like, optional
        Gaia G (mag) for the ``bhb_absmag_gaia`` fallback.
    g0, gr0 : array-like, optional
        Dereddened SDSS g and (g − r)0 for the Deason et al. (2011) relation.
    a_g : array-like, optional
        Extinction in G (mag) subtracted from G for the fallback (default none).
    min_parallax_over_error : float
        Parallax distances only above this (default 5).
    parallax_zero_point : float
        Subtracted from the parallax first (mas); 0 by default. Lindegren et al. (2021, A&A
        649, A4) find a median quasar parallax of about −0.017 mas.
    abs_g_gaia : (float, float)
        The constant BHB ``M_G`` and its scatter for the Gaia-only fallback.
    deason_sigma : float
        Scatter (mag) of the Deason relation used in the error.

    Returns
    -------
    distance, distance_err : ndarray
        kpc, NaN where none.
    method : ndarray of str
        ``"parallax"``, ``"bhb_absmag"``, ``"bhb_absmag_gaia"`` or ``""``.
    """
    arrays = [a for a in (parallax, phot_g_mean_mag, g0, gr0) if a is not None]
    if not arrays:
        raise ConfigurationError("bhb_distances needs a parallax, Gaia G, or g0 and gr0")
    n = len(np.atleast_1d(arrays[0]))

    def arr(a, fill=np.nan):
        return np.full(n, fill) if a is None else np.broadcast_to(
            np.asarray(a, dtype=float), (n,)).copy()

    plx = arr(parallax) - float(parallax_zero_point)
    eplx = arr(parallax_error)
    dist = np.full(n, np.nan)
    err = np.full(n, np.nan)
    method = np.full(n, "", dtype="U16")

    with np.errstate(divide="ignore", invalid="ignore"):
        good_plx = np.isfinite(plx) & np.isfinite(eplx) & (eplx > 0) & \
            (plx / eplx > min_parallax_over_error)
    dist[good_plx] = 1.0 / plx[good_plx]
    err[good_plx] = eplx[good_plx] / plx[good_plx] ** 2
    method[good_plx] = "parallax"

    todo = ~good_plx
    d_g, e_g = distance_from_absmag(arr(g0), deason2011_abs_g(arr(gr0)), deason_sigma)
    use = todo & np.isfinite(d_g)
    dist[use], err[use], method[use] = d_g[use], e_g[use], "bhb_absmag"

    todo &= ~use
    m_abs, m_sigma = abs_g_gaia
    d_G, e_G = distance_from_absmag(arr(phot_g_mean_mag) - arr(a_g, 0.0), m_abs, m_sigma)
    use = todo & np.isfinite(d_G)
    dist[use], err[use], method[use] = d_G[use], e_G[use], "bhb_absmag_gaia"
    return dist, err, method


def cmd_columns(table, min_parallax_over_error=MIN_PARALLAX_OVER_ERROR, g0_column="g0",
                gr0_column="gr0", a_g_column=None, parallax_zero_point=0.0):
    """The CMD and distance columns for a table holding Gaia columns.

    Parameters
    ----------
    table : `~astropy.table.Table`
        With ``phot_g_mean_mag``, ``bp_rp``, ``parallax``, ``parallax_error`` (masked or NaN
        where unknown); ``g0`` / ``gr0`` and an extinction column are used when present.

    Returns
    -------
    `~astropy.table.Table`
        ``abs_g`` (mag), ``in_bhb_cmd_region`` (masked bool), ``distance`` (kpc),
        ``distance_err`` (kpc), ``distance_method`` (str).
    """
    def get(name):
        if name is None or name not in table.colnames:
            return None
        col = table[name]
        data = np.ma.asarray(getattr(col, "value", col)).astype(float)
        return np.ma.filled(data, np.nan)

    n = len(table)
    nan = np.full(n, np.nan)
    g = get("phot_g_mean_mag")
    bp_rp = get("bp_rp")
    plx = get("parallax")
    eplx = get("parallax_error")
    g, bp_rp = (nan if g is None else g), (nan if bp_rp is None else bp_rp)
    plx, eplx = (nan if plx is None else plx), (nan if eplx is None else eplx)
    plx_c = plx - float(parallax_zero_point)

    region = in_bhb_cmd_region(bp_rp, g, plx_c, eplx, min_parallax_over_error)
    dist, err, method = bhb_distances(plx, eplx, g, get(g0_column), get(gr0_column),
                                      get(a_g_column), min_parallax_over_error,
                                      parallax_zero_point)
    out = Table()
    abs_g = absolute_magnitude(g, plx_c)
    out["abs_g"] = MaskedColumn(abs_g, mask=~np.isfinite(abs_g), unit=u.mag,
                                description="Gaia absolute G = G + 5 log10(parallax/mas) - 10")
    out["in_bhb_cmd_region"] = MaskedColumn(
        np.ma.filled(region, False), mask=np.ma.getmaskarray(region),
        description=f"in the Culpan et al. BHB region of the Gaia CMD; masked where not "
                    f"testable (parallax_over_error <= {min_parallax_over_error:g})")
    out["distance"] = MaskedColumn(dist, mask=~np.isfinite(dist), unit=u.kpc,
                                   description="heliocentric distance (see distance_method)")
    out["distance_err"] = MaskedColumn(err, mask=~np.isfinite(err), unit=u.kpc,
                                       description="1-sigma distance uncertainty")
    out["distance_method"] = method
    out["distance_method"].description = (
        "parallax (parallax_over_error > 5), bhb_absmag (Deason+2011 M_g from (g-r)0), "
        "bhb_absmag_gaia (constant BHB M_G), or empty")
    return out


def plot_cmd(bp_rp, abs_g, in_region=None, ax=None, **scatter_kwargs):
    """Plot candidates in the Gaia CMD over the BHB region.

    Parameters
    ----------
    bp_rp, abs_g : array-like
        Colour and absolute G of the stars (NaN ones are skipped).
    in_region : array-like of bool, optional
        Colours the points in / outside the region.
    ax : `matplotlib.axes.Axes`, optional
        Drawn into a new figure if not given.

    Returns
    -------
    `matplotlib.axes.Axes`
    """
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(5, 5))
    x = np.linspace(*CMD_COLOUR_RANGE, 200)
    ax.fill_between(x, cmd_lower(x), cmd_upper(x), color="tab:blue", alpha=0.15,
                    label="BHB region (Culpan et al.)")
    ax.plot(x, cmd_upper(x), color="tab:blue", lw=1)
    ax.plot(x, cmd_lower(x), color="tab:blue", lw=1)
    bp_rp = np.ma.filled(np.ma.asarray(bp_rp, dtype=float), np.nan)
    abs_g = np.ma.filled(np.ma.asarray(abs_g, dtype=float), np.nan)
    kwargs = {"s": 8, **scatter_kwargs}
    if in_region is None:
        ax.scatter(bp_rp, abs_g, color="k", label="candidates", **kwargs)
    else:
        inside = np.asarray(np.ma.filled(np.ma.asarray(in_region), False), dtype=bool)
        ax.scatter(bp_rp[inside], abs_g[inside], color="tab:blue", label="in region", **kwargs)
        ax.scatter(bp_rp[~inside], abs_g[~inside], color="tab:red", label="outside / untested",
                   **kwargs)
    ax.set_xlabel(r"$G_{\rm BP} - G_{\rm RP}$ (mag)")
    ax.set_ylabel(r"$G_{\rm abs}$ (mag)")
    if not ax.yaxis_inverted():
        ax.invert_yaxis()
    ax.legend(loc="best", fontsize="small")
    return ax
