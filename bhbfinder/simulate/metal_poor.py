"""Metal-poor copies of real hot stars: their metal lines weakened, their Balmer lines kept.

At 9,500–12,500 K a halo BHB star and a Population I A or B giant of the same temperature
and gravity have the same Balmer profiles; they differ in the strength of the metal lines.
The real libraries hold one BHB star that hot and no other hot metal-poor star, so a model
fitted to them cannot know what a hot metal-poor spectrum looks like. In the weak-line part
of the curve of growth an absorption line's depth is proportional to the abundance of its
element (e.g. Gray 2005, *The Observation and Analysis of Stellar Photospheres*, ch. 16), and
in stars this hot almost all metal lines are weak: a real star of metallicity [Fe/H] with its
metal-line depths multiplied by ``10**(target − [Fe/H])`` is a spectrum at the target
metallicity, with the star's own Balmer lines, rotation and resolution. The α elements of
halo stars are enhanced (``[α/Fe]`` ≈ +0.4 below [Fe/H] ≈ −1; e.g. Venn et al. 2004), so the
Mg II 4481 and Ca II K lines are scaled to ``[α/H]`` instead.

The line depths are measured against an upper envelope of the spectrum (running medians over
`ENVELOPE_WIDTH`), so the broad Balmer wings are the envelope and the narrow metal lines the
depths; the Balmer cores, the helium lines, whose strengths do not follow the metals, and the
crowded Balmer series below `BLUE_LIMIT` are left as they are.

Each copy keeps its parent's ``star_id``, so a split by star keeps a star and its copies on
one side.
"""

import numpy as np
from astropy.table import vstack
from scipy.ndimage import median_filter, uniform_filter1d

from ..errors import ConfigurationError
from ..spectra.continuum import line_mask
from .classes import classify_star
from .templates import TemplateLibrary

__all__ = ["ENVELOPE_WIDTH", "BLUE_LIMIT", "KEPT_LINES", "ALPHA_LINES", "scale_metal_lines",
           "metal_poor_copies", "with_metal_poor_copies"]

#: Width (Å) of the running medians that give the envelope the metal-line depths are measured
#: against: several resolution elements, narrower than the Balmer wings.
ENVELOPE_WIDTH = 24.0

#: Below this rest-frame vacuum wavelength (Å) nothing is scaled: the Balmer lines from H11
#: on crowd into the Balmer jump, where no envelope separates metal lines from them.
BLUE_LIMIT = 3760.0

#: Lines left unscaled (name, rest-frame vacuum centre, half-width in Å; the layout of
#: `~bhbfinder.spectra.continuum.line_mask`): the Balmer cores from Hα to H12 and the He I
#: lines.
KEPT_LINES = (
    ("Halpha", 6564.61, 18.0), ("Hbeta", 4862.68, 18.0), ("Hgamma", 4341.69, 18.0),
    ("Hdelta", 4102.89, 18.0), ("Hepsilon", 3971.20, 18.0), ("H8", 3890.16, 15.0),
    ("H9", 3836.47, 12.0), ("H10", 3798.98, 10.0), ("H11", 3771.70, 8.0), ("H12", 3751.22, 8.0),
    ("HeI_4026", 4027.33, 3.0), ("HeI_4471", 4472.73, 3.0), ("HeI_4922", 4923.30, 3.0),
    ("HeI_5876", 5877.25, 3.0), ("HeI_6678", 6680.00, 3.0),
)

#: α-element lines scaled to [α/H] (as `KEPT_LINES`): Ca II K, Mg II 4481.
ALPHA_LINES = (("CaII_K", 3934.78, 5.0), ("MgII_4481", 4482.38, 4.0))


def _envelope(wavelength, flux, width=ENVELOPE_WIDTH):
    step = float(np.median(np.diff(wavelength)))
    n = max(3, int(round(width / step)) | 1)
    f = np.where(np.isfinite(flux), flux, np.nanmedian(flux))
    env = median_filter(f, n, mode="nearest")
    env = median_filter(np.maximum(f, env), n, mode="nearest")   # lifted to the upper side
    return uniform_filter1d(env, max(3, n // 4), mode="nearest")


def scale_metal_lines(wavelength, flux, delta_feh, alpha_delta=None, saturation=None):
    """A spectrum with its metal-line depths multiplied by ``10**delta_feh``.

    Parameters
    ----------
    wavelength : ndarray
        Rest-frame vacuum wavelength (Å), increasing.
    flux : ndarray
        The spectrum (any flux unit; NaN where there is no data).
    delta_feh : float
        Change of [Fe/H] (dex; negative for a more metal-poor copy).
    alpha_delta : float, optional
        Change of [α/H] for the lines of `ALPHA_LINES` (default ``delta_feh``).
    saturation : float, optional
        Treat the depths as saturating at this depth: ``d = saturation (1 − exp(−τ))``, the
        optical depth ``τ`` scaled instead (a strong line weakens less than a weak one; the
        weak-line limit is the linear scaling). Default: linear.

    Returns
    -------
    ndarray
        The copy; pixels of `KEPT_LINES`, below `BLUE_LIMIT`, above the envelope and NaN stay
        as they were.
    """
    wavelength = np.asarray(wavelength, float)
    flux = np.asarray(flux, float)
    if flux.shape != wavelength.shape:
        raise ConfigurationError(f"scale_metal_lines: flux shape {flux.shape} does not match "
                                 f"{wavelength.shape} wavelengths")
    env = _envelope(wavelength, flux)
    with np.errstate(invalid="ignore", divide="ignore"):
        depth = np.clip(1.0 - flux / env, 0.0, 1.0)
    factor = np.full(wavelength.size, 10.0 ** float(delta_feh))
    if alpha_delta is not None:
        factor[line_mask(wavelength, ALPHA_LINES)] = 10.0 ** float(alpha_delta)
    if saturation is None:
        new_depth = depth * factor
    else:
        sat = float(saturation)
        tau = -np.log1p(-np.clip(depth / sat, 0.0, 1.0 - 1e-6))
        new_depth = sat * -np.expm1(-tau * factor)
    new = env * (1.0 - new_depth)
    keep = line_mask(wavelength, KEPT_LINES) | (wavelength < BLUE_LIMIT) | ~(depth > 0) \
        | ~np.isfinite(flux)
    return np.where(keep, flux, new)


def metal_poor_copies(library, targets=(-1.2, -1.8), teff_range=(9500.0, 12500.0),
                      min_feh=-0.7, classes=("A", "B"), alpha_fe=0.4, only_classes=None,
                      saturation=None):
    """Metal-poor copies of the hot stars of a template library.

    Parameters
    ----------
    library : `~bhbfinder.simulate.TemplateLibrary`
        Real stars with ``teff``, ``logg``, ``feh`` labels.
    targets : sequence of float
        [Fe/H] of the copies; each parent gets one copy per target below its own [Fe/H] by at
        least 0.3 dex.
    teff_range : (float, float)
        Parents' Teff (K): hot enough that their metal lines are weak.
    min_feh : float
        Parents' lowest [Fe/H] (more metal-poor stars need no copy).
    classes : sequence of str
        Parents' classes (peculiar stars, class ``other``, are left out: their metal lines do
        not follow their metallicity). Stars labelled ``doubtful`` are left out.
    alpha_fe : float
        [α/Fe] of the copies (the parents are taken as [α/Fe] = 0).
    only_classes : sequence of str, optional
        Keep only the copies of these classes at their new labels (e.g. ``("BHB",)``: only
        parents whose gravity lies in the BHB box).
    saturation : float, optional
        See `scale_metal_lines` (default: linear scaling).

    Returns
    -------
    `~bhbfinder.simulate.TemplateLibrary`
        The copies on the parent's grid and resolution, labelled by
        `~bhbfinder.simulate.classify_star` at their new labels; ``star_id`` is the parent's,
        ``name`` the parent's with the target, ``source`` ``"metal-poor copy"``. Empty (no
        rows) when no star qualifies.
    """
    labels = library.labels
    teff = np.asarray(labels["teff"], float)
    logg = np.asarray(labels["logg"], float)
    feh = np.asarray(labels["feh"], float)
    cls = np.asarray(labels["label"]).astype(str)
    doubtful = np.asarray(labels["doubtful"], bool) if "doubtful" in labels.colnames \
        else np.zeros(len(labels), bool)
    with np.errstate(invalid="ignore"):
        parents = np.flatnonzero((teff >= teff_range[0]) & (teff <= teff_range[1])
                                 & (feh >= min_feh) & np.isfinite(logg)
                                 & np.isin(cls, list(classes)) & ~doubtful)
    rows, fluxes, new_feh = [], [], []
    for i in parents:
        for target in targets:
            if target > feh[i] - 0.3:
                continue
            delta = float(target - feh[i])
            fluxes.append(scale_metal_lines(library.wavelength, library.flux[i], delta,
                                            delta + alpha_fe, saturation))
            rows.append(i)
            new_feh.append(float(target))
    out = labels[np.asarray(rows, dtype=int)]
    out["feh"] = np.asarray(new_feh, float)
    out["name"] = np.asarray([f"{n} [Fe/H]{t:+.1f}" for n, t in
                              zip(np.asarray(out["name"]).astype(str), new_feh)], dtype=str)
    out["label"] = np.asarray([classify_star(t, g, f) for t, g, f in
                               zip(out["teff"], out["logg"], out["feh"])], dtype="U8")
    out["source"] = np.full(len(out), "metal-poor copy")
    flux = np.asarray(fluxes, np.float32).reshape(len(rows), library.wavelength.size)
    if only_classes is not None:
        keep = np.isin(np.asarray(out["label"]).astype(str), list(only_classes))
        out, flux = out[keep], flux[keep]
    meta = {"source": "metal-poor copy", "parents": str(library.meta.get("folder", "")),
            "method": "bhbfinder.simulate.metal_poor.metal_poor_copies",
            "targets": [float(t) for t in targets], "alpha_fe": float(alpha_fe),
            "teff_range": [float(t) for t in teff_range], "min_feh": float(min_feh),
            "only_classes": None if only_classes is None else list(only_classes),
            "saturation": saturation}
    return TemplateLibrary(library.wavelength, flux, out, fwhm=library.fwhm,
                           resolving_power=library.resolving_power, meta=meta)


def with_metal_poor_copies(library, **options):
    """``library`` and its `metal_poor_copies` in one `~bhbfinder.simulate.TemplateLibrary`."""
    copies = metal_poor_copies(library, **options)
    if not len(copies):
        return library
    labels = vstack([library.labels, copies.labels], metadata_conflicts="silent")
    return TemplateLibrary(library.wavelength, np.vstack([library.flux, copies.flux]), labels,
                           fwhm=library.fwhm, resolving_power=library.resolving_power,
                           meta=dict(library.meta, metal_poor_copies=copies.meta))
