"""The noise a template spectrum carries into its renderings, and the S/N a rendering really has.

The instrument model adds noise for a target g-band S/N (``snr_target``) on top of the
template, as if the template were noiseless. Most real templates nearly are (MILES stars are
bright: S/N of several hundred per LAMOST pixel), but not all: the MILES spectrum of the
globular-cluster horizontal-branch star M5 II 53 has an S/N of about 12 per LAMOST pixel at
its own resolution, so a rendering of it "at S/N 60" is in truth at S/N ≈ 12 (≈ 25 at blue
FWHM 4 Å, where the broader line-spread function averages the template's noise down). Scored at its
target, such a rendering is counted among spectra it does not resemble.

`template_snr` measures a template's own noise where it can be measured: each template is
rendered without added noise onto the LAMOST grid at several blue-arm FWHM (broader
renderings average the template's noise down), and the robust scatter of the second
differences two pixels apart (`bhbfinder.spectra.noise`, after DER_SNR, Stoehr et al. 2008)
is taken in `N_CHUNKS` stretches of the g band; the template's noise is the 25th percentile
of the stretches' scatters (the quietest stretches: absorption lines only add to the
scatter). That is a noise measurement only where the quietest stretches are free of lines,
i.e. for spectra with few metal lines at R ≈ 1,800: `line_poor` templates (Teff ≥ 11,000 K,
or Teff ≥ 7,500 K and [Fe/H] < −0.5). In the spectrum of any other star (an F–M star, a
metal-rich A star) the lines fill every stretch and would read as noise, so no value is
given (NaN: the template counts as noiseless).

`effective_snr` adds the two noises in quadrature: the S/N the rendering really has, in the
same g band as ``snr_target``.
"""

import numpy as np

from ..spectra.noise import NOISE_LAG, SECOND_DIFFERENCE_RMS, second_difference
from .config import SNR_BANDS, SimulationConfig, lamost_wavelength
from .simulator import simulate_rows

__all__ = ["TEMPLATE_SNR_FWHM", "N_CHUNKS", "line_poor", "template_snr", "cached_template_snr",
           "template_snr_at", "effective_snr"]

#: Blue-arm FWHM (Å at 4500 Å) at which `template_snr` renders each template.
TEMPLATE_SNR_FWHM = (2.0, 2.5, 3.0, 3.5, 4.0)

#: Stretches of the g band in which the second-difference scatter is measured.
N_CHUNKS = 36

_QUIET_PERCENTILE = 25.0


def line_poor(teff, feh):
    """True where a star's spectrum has few metal lines at LAMOST resolution (Teff ≥ 11,000 K,
    or Teff ≥ 7,500 K with [Fe/H] < −0.5): there `template_snr` measures noise, not lines.

    Parameters
    ----------
    teff, feh : array-like
        Catalogue labels (K, dex); NaN counts as not line-poor.
    """
    teff = np.asarray(teff, float)
    feh = np.asarray(feh, float)
    with np.errstate(invalid="ignore"):
        return (teff >= 11000.0) | ((teff >= 7500.0) & (feh < -0.5))


def _noise_free_config(fwhm):
    return SimulationConfig().replace(
        snr=1e7, rv=0.0, vary_grid=False, edge_bad_max=0, bad_segment_rate=0.0,
        cosmic_rate=0.0, distortion_sigma=0.0, dichroic_step=0.0, sky_line_strength=0.0,
        ism_cak_ew=0.0, blue_fwhm=float(fwhm), blue_fwhm_slope=0.0, noise_correlation=0.0,
        error_scale=1.0, z_missing_fraction=0.0)


def _quiet_scatter_snr(flux, wave):
    """1 / (25th percentile over g-band stretches of the relative second-difference scatter)."""
    lo, hi = SNR_BANDS["g"]
    g = np.flatnonzero((wave >= lo) & (wave <= hi))
    x = np.asarray(flux, float)[:, g]
    d = second_difference(x, NOISE_LAG)
    level = x[:, NOISE_LAG:-NOISE_LAG]
    scatter = []
    for part in np.array_split(np.arange(d.shape[1]), N_CHUNKS):
        mad = np.median(np.abs(d[:, part]), axis=1)
        scatter.append(1.4826 * mad / SECOND_DIFFERENCE_RMS
                       / np.median(level[:, part], axis=1))
    quiet = np.percentile(np.stack(scatter, axis=1), _QUIET_PERCENTILE, axis=1)
    with np.errstate(divide="ignore"):
        return np.where(quiet > 0, 1.0 / quiet, np.inf)


def template_snr(library, rows=None, fwhm=TEMPLATE_SNR_FWHM):
    """The S/N per LAMOST pixel of the noise each template carries, in the g band.

    Parameters
    ----------
    library : `~bhbfinder.simulate.TemplateLibrary`
    rows : array of int, optional
        Templates to measure (default all).
    fwhm : sequence of float
        Blue-arm FWHM (Å) of the renderings it is measured on.

    Returns
    -------
    ndarray, shape (len(rows), len(fwhm))
        S/N of the template's own noise in renderings of each FWHM; NaN for templates that are
        not `line_poor` (their lines would read as noise; they count as noiseless).
    """
    rows = np.arange(len(library)) if rows is None else np.asarray(rows, np.int64)
    out = np.full((rows.size, len(fwhm)), np.nan)
    labels = library.labels
    measurable = line_poor(np.asarray(labels["teff"], float)[rows],
                           np.asarray(labels["feh"], float)[rows])
    if not measurable.any():
        return out
    wave = lamost_wavelength()
    for j, width in enumerate(fwhm):
        sim = simulate_rows(library, rows[measurable], np.random.default_rng(0),
                            _noise_free_config(width))
        out[measurable, j] = _quiet_scatter_snr(sim.flux, wave)
    return out


def cached_template_snr(library, rows):
    """`template_snr` of ``rows`` of ``library`` (repeats allowed) at `TEMPLATE_SNR_FWHM`,
    each template measured once and kept on the library object.

    Returns
    -------
    ndarray, shape (len(rows), len(TEMPLATE_SNR_FWHM))
    """
    cache = library.__dict__.setdefault("_template_snr", {})
    rows = [int(r) for r in np.asarray(rows, int)]
    todo = np.array(sorted(set(rows) - set(cache)), int)
    if todo.size:
        for row, values in zip(todo, template_snr(library, todo), strict=True):
            cache[int(row)] = values
    return np.array([cache[r] for r in rows]).reshape(len(rows), len(TEMPLATE_SNR_FWHM))


def template_snr_at(values, fwhm, fwhm_grid=TEMPLATE_SNR_FWHM):
    """`template_snr` values interpolated (in log S/N) at each rendering's FWHM.

    Parameters
    ----------
    values : ndarray, shape (n, len(fwhm_grid))
        One row of `template_snr` per rendering.
    fwhm : array-like, shape (n,)
        The rendering's blue-arm FWHM (Å); clipped to the grid.
    fwhm_grid : sequence of float

    Returns
    -------
    ndarray, shape (n,)
        NaN where the template has no value.
    """
    values = np.atleast_2d(np.asarray(values, float))
    grid = np.asarray(fwhm_grid, float)
    f = np.clip(np.asarray(fwhm, float), grid[0], grid[-1])
    pos = np.interp(f, grid, np.arange(grid.size))
    i0 = np.clip(np.floor(pos).astype(int), 0, grid.size - 2)
    t = pos - i0
    rows = np.arange(len(values))
    with np.errstate(divide="ignore", invalid="ignore"):
        lo, hi = np.log(values[rows, i0]), np.log(values[rows, i0 + 1])
        return np.exp(lo * (1.0 - t) + hi * t)


def effective_snr(snr, template):
    """The S/N of a rendering: the added noise (``snr``) and the template's own (``template``)
    in quadrature; a NaN or infinite ``template`` leaves ``snr`` as it is."""
    snr = np.asarray(snr, float)
    template = np.asarray(template, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        extra = np.where(np.isfinite(template) & (template > 0), 1.0 / template ** 2, 0.0)
        return 1.0 / np.sqrt(1.0 / snr ** 2 + extra)
