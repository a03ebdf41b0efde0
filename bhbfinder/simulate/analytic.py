"""A built-in analytic model of hot-star spectra that needs no data files.

The model is deliberately simple and fully deterministic in ``(teff, logg, feh, label)``; it is
meant for tests, the offline demo and augmentation, not for abundance work. Its ingredients:

* **Continuum**: a Planck curve at Teff.
* **Balmer lines** Hα…H18 from the Rydberg formula (vacuum), each a pseudo-Voigt optical-depth
  profile (Thompson, Cox & Hastings 1987) entering through Minnaert's saturation formula
  ``F/C = 1 - D τ / (τ + D)`` (``D`` the largest core depth), which keeps the cores pointed as
  in observed A-star Balmer lines. The Lorentzian half-width stands for **Stark (pressure)
  broadening**: it scales with the electron density, ``w ∝ n_e^(2/3)`` with ``n_e ∝ g^~0.4``,
  so the width scales as ``g^GRAVITY_EXPONENT`` (0.25; an *approximation*, chosen so that the
  Hδ D0.2 of BHB stars (log g ≈ 3.2) and A dwarfs (log g ≈ 4.2) at 8500 K come out near 17 Å
  and 31 Å, inside and above the BHB range 17–28.5 Å of Xue et al. 2008). This is what makes
  BHB stars narrower-lined than A dwarfs at the same Teff (Clewley et al. 2002; Xue et al.
  2008). Above log g 5 the
  slope flattens
  (`GRAVITY_EXPONENT_HIGH`), so DA white dwarfs get lines a few times wider than A dwarfs
  rather than an extrapolated 10×. Lines of higher series members widen as ``(n_u² − 4) λ²``
  and overlap towards the Balmer limit, as in real stars (Inglis & Teller 1939). Lower gravity
  also deepens the core slightly (``CORE_DEPTH``).
* **Line strength vs Teff**: a log-normal bell peaking near 9500 K with a floor on the hot side,
  so Balmer lines are weaker in B stars and hot subdwarfs and fade in F/G/K stars.
* **He I / He II** lines for hot stars (He-poor in hot subdwarfs).
* **Ca II H & K** growing with 10^[Fe/H] and falling with Teff (Ca II ionises above ~9000 K): the
  Ca K index separates metal-rich A dwarfs from halo BHB stars (Ju et al. 2024).
* **Metal lines**: strong named lines (Ca I 4227, Mg b, Na D, Fe I, the G band) plus a fixed,
  seeded forest of weak lines, all scaling with 10^[Fe/H] and with a steep Teff dependence, so
  F/G/K stars (label ``"other"``) show a metal-line spectrum and hot stars almost none.

All wavelengths are vacuum Å; the spectra are intrinsic (infinite resolution): the simulator
convolves them to the instrument's resolution.
"""

import numpy as np
from astropy.table import Table

from ..errors import ConfigurationError
from ..spectra.lines import C_KMS, air_to_vacuum
from .classes import CLASSES, culpan_kiel_limits
from .templates import TemplateLibrary, _label_table, _planck

__all__ = [
    "balmer_wavelength",
    "analytic_spectrum",
    "sample_parameters",
    "analytic_templates",
    "analytic_wavelength",
    "AnalyticLibrary",
    "PARAMETER_BOXES",
    "GRAVITY_EXPONENT",
    "GRAVITY_EXPONENT_HIGH",
    "DEFAULT_VSINI",
]

#: Rydberg constant for hydrogen, cm⁻¹ (vacuum wavenumbers).
RYDBERG_H = 109677.58

#: Stark width ∝ g**GRAVITY_EXPONENT up to log g 5 (approximation, see the module docstring).
GRAVITY_EXPONENT = 0.25
#: ... and ∝ g**GRAVITY_EXPONENT_HIGH above log g 5 (white dwarfs, hot subdwarfs).
GRAVITY_EXPONENT_HIGH = 0.12
#: Reference gravity of the widths below.
LOGG_REF = 4.0

#: Hγ Lorentzian half-width (Å) at log g = LOGG_REF.
HGAMMA_WIDTH = 1.05
#: Peak Balmer optical depth of Hγ at the strength maximum (sets the curve of growth).
HGAMMA_TAU = 60.0
#: Teff (K) of the Balmer strength maximum and the bell's log-widths (cool side, hot side).
BALMER_TEFF_PEAK = 9500.0
BALMER_LOGT_WIDTH = (0.085, 0.15)
#: Floor of the strength on the hot side (hot subdwarfs and B stars keep visible lines).
BALMER_HOT_FLOOR = 0.05
#: How the Balmer depth saturates: "minnaert" (depth = D·τ/(τ + D), default) or
#: "exponential" (depth = D·(1 − e^−τ), flat-bottomed cores).
BALMER_SATURATION = "minnaert"
#: The Balmer optical depth is computed on every this-many-th pixel and interpolated.
BALMER_SUBSAMPLE = 4
#: Highest Balmer upper level modelled.
BALMER_NMAX = 18
#: Largest core depth D(log g) = CORE_DEPTH[0] + CORE_DEPTH[1] * (LOGG_REF - log g), clipped.
CORE_DEPTH = (0.76, 0.04, 0.55, 0.88)

#: Absorption oscillator strengths f(2 → n) of the Balmer series (Wiese & Fuhr 2009);
#: beyond n = 10 they fall as n⁻³.
_BALMER_F = {3: 0.6407, 4: 0.1193, 5: 0.04467, 6: 0.02209, 7: 0.01270, 8: 0.008036,
             9: 0.005429, 10: 0.003851}

#: He lines, air Å (NIST) → converted to vacuum; relative strengths.
_HEI_AIR = {4026.19: 0.8, 4387.93: 0.4, 4471.48: 1.0, 4921.93: 0.5, 5875.62: 1.0, 6678.15: 0.6}
_HEII_AIR = {4685.70: 1.0, 5411.52: 0.4}
#: Ca II K and H, vacuum Å (Morton 2003, ApJS 149, 205), relative strengths.
_CAII = {3934.77: 1.0, 3969.59: 0.55}
#: Named metal lines, air Å → vacuum; relative strengths (Ca I, Fe I, Mg b, Na D, Mg I, Fe I).
_METAL_AIR = {4226.73: 1.2, 4045.81: 0.6, 4383.54: 0.6, 4404.75: 0.4, 5167.32: 0.8,
              5172.68: 0.9, 5183.60: 1.0, 5269.54: 0.5, 5328.04: 0.4, 5889.95: 1.0,
              5895.92: 0.8, 6162.17: 0.3, 8498.02: 0.5, 8542.09: 0.9, 8662.14: 0.7}
#: The G band (CH) as a cluster of lines over 4290–4320 Å (air).
_GBAND_AIR = np.linspace(4290.0, 4320.0, 12)

#: Seed and size of the fixed weak-line forest (identical in every process).
FOREST_SEED = 20260101
FOREST_LINES = 500
FOREST_RANGE = (3600.0, 9300.0)

#: Projected rotation (km/s) used when none is given, per class.
DEFAULT_VSINI = {"BHB": 15.0, "A": 100.0, "B": 120.0, "HotSD": 5.0, "WD": 0.0, "other": 8.0}

#: Largest core depth of the He, Ca and metal lines.
METAL_CORE_DEPTH = 0.9

#: Microturbulence + macroturbulence floor for metal-line widths, km/s (Gaussian sigma).
METAL_SIGMA_FLOOR = 6.0

#: Parameter boxes the analytic stars are drawn from, per class (BHB: the Kiel box of Culpan et
#: al. 2024 with the metallicities of Xue et al. 2008).
#: ``teff`` log-uniform; ``logg`` uniform (BHB: inside the Culpan box); ``feh`` normal
#: (mean, sigma) clipped to the range; ``vsini`` uniform. The A class mixes disk A dwarfs, halo
#: blue stragglers (``halo_fraction``) and evolved metal-rich A stars inside the BHB Kiel box
#: (``evolved_fraction``: subgiants and giants such as HD 123299, which `classify_star` labels
#: ``"A"`` because [Fe/H] > -0.9; only metallicity tells them from BHB stars).
PARAMETER_BOXES = {
    "BHB": {"teff": (7000.0, 12000.0), "logg": "culpan", "feh": (-1.9, 0.5, -3.0, -0.9),
            "vsini": (0.0, 40.0)},
    "A": {"teff": (7000.0, 10500.0), "logg": (3.7, 4.6), "feh": (0.0, 0.25, -0.8, 0.5),
          "halo_fraction": 0.3, "halo_feh": (-1.6, 0.5, -3.0, -0.8), "vsini": (10.0, 250.0),
          "evolved_fraction": 0.25, "evolved_teff": (7300.0, 10500.0),
          "evolved_feh": (-0.2, 0.3, -0.8, 0.5), "evolved_vsini": (5.0, 80.0)},
    "B": {"teff": (10500.0, 30000.0), "logg": (3.5, 4.5), "feh": (0.0, 0.2, -0.6, 0.4),
          "vsini": (20.0, 300.0)},
    "HotSD": {"teff": (20000.0, 40000.0), "logg": (5.0, 6.2), "feh": (-0.5, 0.5, -2.0, 0.5),
              "vsini": (0.0, 20.0)},
    "WD": {"teff": (8000.0, 35000.0), "logg": (7.5, 8.6), "feh": (0.0, 0.0, 0.0, 0.0),
           "vsini": (0.0, 0.0)},
    "other": {"teff": (4200.0, 7200.0), "logg": (1.5, 4.8), "feh": (-0.6, 0.7, -3.0, 0.5),
              "vsini": (0.0, 20.0)},
}

#: The intrinsic wavelength grid of analytic templates: log-uniform, Δlog10 λ = 2e-5
#: (13.8 km/s), 3548–9333 Å.
ANALYTIC_LOG10_RANGE = (3.55, 3.97)
ANALYTIC_LOG10_STEP = 2e-5


def balmer_wavelength(n_upper):
    """Vacuum wavelength (Å) of the Balmer line 2 → ``n_upper`` (Rydberg formula)."""
    n = np.asarray(n_upper, dtype=float)
    return 1e8 / (RYDBERG_H * (0.25 - 1.0 / n ** 2))


def _balmer_f(n):
    return _BALMER_F.get(n, _BALMER_F[10] * (10.0 / n) ** 3)


def _gravity_factor(logg):
    g = np.asarray(logg, dtype=float)
    low = np.minimum(g, 5.0) - LOGG_REF
    high = np.maximum(g - 5.0, 0.0)
    return 10 ** (GRAVITY_EXPONENT * low + GRAVITY_EXPONENT_HIGH * high)


def _bell(teff, peak, widths):
    x = np.log10(np.asarray(teff, dtype=float) / peak)
    w = np.where(x < 0, widths[0], widths[1])
    return np.exp(-0.5 * (x / w) ** 2)


def _pseudo_voigt(dx, sigma, gamma):
    """Peak-normalised pseudo-Voigt of Gaussian ``sigma`` and Lorentzian HWHM ``gamma``."""
    fg = 2.3548200450309493 * sigma
    fl = 2.0 * gamma
    f = (fg ** 5 + 2.69269 * fg ** 4 * fl + 2.42843 * fg ** 3 * fl ** 2
         + 4.47163 * fg ** 2 * fl ** 3 + 0.07842 * fg * fl ** 4 + fl ** 5) ** 0.2
    r = fl / f
    eta = 1.36603 * r - 0.47719 * r ** 2 + 0.11116 * r ** 3
    hw = f / 2.0
    lor = 1.0 / (1.0 + (dx / hw) ** 2)
    gau = np.exp(-np.log(2.0) * (dx / hw) ** 2)
    return eta * lor + (1.0 - eta) * gau


def _forest():
    rng = np.random.default_rng(FOREST_SEED)
    lo, hi = np.log10(FOREST_RANGE[0]), np.log10(FOREST_RANGE[1])
    wave = 10 ** rng.uniform(lo, hi, FOREST_LINES)
    strength = rng.exponential(0.25, FOREST_LINES)
    # more lines and stronger in the blue, as in real F/G/K spectra
    strength *= (4500.0 / wave) ** 1.5
    return np.sort(wave), strength[np.argsort(wave)]


_FOREST = _forest()


def _metal_lines():
    waves = [air_to_vacuum(w) for w in _METAL_AIR] + list(air_to_vacuum(_GBAND_AIR))
    strengths = list(_METAL_AIR.values()) + [0.5] * len(_GBAND_AIR)
    waves = np.concatenate([np.asarray(waves, float), _FOREST[0]])
    strengths = np.concatenate([np.asarray(strengths, float) * 3.0, _FOREST[1]])
    return waves, strengths


_METALS = _metal_lines()


def _as_labels(label, n):
    if isinstance(label, str):
        labels = np.full(n, label)
    else:
        labels = np.asarray(label).astype(str)
    bad = sorted(set(labels) - set(CLASSES))
    if bad:
        raise ConfigurationError(f"analytic_spectrum: unknown label(s) {bad}; use {CLASSES}")
    return labels


def _add_narrow_lines(tau, wave, centres, strengths, sigma_kms, gamma_a=None):
    """Add Gaussian (or pseudo-Voigt) lines to ``tau`` (n, npix) over a window per line.

    ``strengths`` (n, nlines) peak optical depths; ``sigma_kms`` (n,) Gaussian widths.
    """
    smax = float(np.max(sigma_kms))
    gmax = 0.0 if gamma_a is None else float(np.max(gamma_a))
    for j, lam in enumerate(centres):
        if not np.any(strengths[:, j] > 1e-4):
            continue
        half = lam * 6.0 * smax / C_KMS + 30.0 * gmax + 1.0
        i0, i1 = np.searchsorted(wave, [lam - half, lam + half])
        if i1 <= i0:
            continue
        dx = wave[i0:i1][None, :] - lam
        sig = (lam * sigma_kms / C_KMS)[:, None]
        if gamma_a is None:
            prof = np.exp(-0.5 * (dx / sig) ** 2)
        else:
            prof = _pseudo_voigt(dx, sig, gamma_a[:, None])
        tau[:, i0:i1] += strengths[:, j:j + 1] * prof


def analytic_spectrum(wavelength, teff, logg, feh, label, vsini=None):
    """Intrinsic model spectra for arrays of stellar parameters.

    Parameters
    ----------
    wavelength : array-like, shape (npix,)
        Vacuum wavelengths, Å, increasing.
    teff, logg, feh : float or array-like, shape (n,)
        Effective temperature (K), surface gravity (log cgs), metallicity (dex).
    label : str or array of str
        Class of each star (one of `~bhbfinder.simulate.CLASSES`); it only changes the model
        for ``"WD"`` (pure-hydrogen DA: no metal or He lines) and ``"HotSD"`` (He-poor).
    vsini : float or array-like, optional
        Projected rotation (km/s) broadening metal, He and Balmer cores (default
        `DEFAULT_VSINI` per class).

    Returns
    -------
    ndarray, shape (n, npix), float32
        Flux: a Planck continuum normalised to 1 at 5500 Å times the line absorption.
    """
    wave = np.asarray(wavelength, dtype=float)
    teff, logg, feh = np.broadcast_arrays(np.atleast_1d(np.asarray(teff, float)),
                                          np.atleast_1d(np.asarray(logg, float)),
                                          np.atleast_1d(np.asarray(feh, float)))
    n = teff.size
    labels = _as_labels(label, n)
    if vsini is None:
        vsini = np.array([DEFAULT_VSINI[c] for c in labels])
    vsini = np.broadcast_to(np.asarray(vsini, float), (n,))
    if np.any(~np.isfinite(teff) | (teff <= 0)) or np.any(~np.isfinite(logg)):
        raise ConfigurationError("analytic_spectrum: teff and logg must be finite (teff > 0)")
    feh = np.where(np.isfinite(feh), feh, 0.0)
    is_wd = labels == "WD"
    is_sd = labels == "HotSD"

    # thermal Doppler width of H plus rotation (rotation as a Gaussian: an approximation)
    sig_h = np.sqrt(8.254e-3 * teff / 1.008 + (vsini / 1.7) ** 2 + 2.0 ** 2)  # km/s
    sig_metal = np.sqrt(METAL_SIGMA_FLOOR ** 2 + (vsini / 1.7) ** 2)

    gfac = _gravity_factor(logg)
    strength = _bell(teff, BALMER_TEFF_PEAK, BALMER_LOGT_WIDTH)
    strength = np.where(teff > BALMER_TEFF_PEAK, np.maximum(strength, BALMER_HOT_FLOOR), strength)
    lam_g = balmer_wavelength(5)
    # the Balmer optical depth is smooth on the scale of its (Stark) widths: evaluate it on
    # every BALMER_SUBSAMPLE-th pixel and interpolate (saturated cores are flat anyway)
    coarse = wave[::BALMER_SUBSAMPLE]
    if coarse[-1] != wave[-1]:
        coarse = np.append(coarse, wave[-1])
    tau_c = np.zeros((n, coarse.size))
    for nu in range(3, BALMER_NMAX + 1):
        lam = balmer_wavelength(nu)
        ladder = (lam / lam_g) ** 2 * (nu ** 2 - 4) / 21.0
        gamma = HGAMMA_WIDTH * gfac * ladder                      # Å, (n,)
        a = HGAMMA_TAU * strength * (_balmer_f(nu) * lam) / (_balmer_f(5) * lam_g)
        sig = lam * sig_h / C_KMS
        dx = coarse[None, :] - lam
        tau_c += a[:, None] * _pseudo_voigt(dx, sig[:, None], gamma[:, None])
    pos = np.interp(wave, coarse, np.arange(coarse.size))
    i0 = np.minimum(pos.astype(np.int64), coarse.size - 2)
    t = pos - i0
    tau = tau_c[:, i0] * (1 - t) + tau_c[:, i0 + 1] * t
    depth = np.clip(CORE_DEPTH[0] + CORE_DEPTH[1] * (LOGG_REF - logg), CORE_DEPTH[2],
                    CORE_DEPTH[3])
    if BALMER_SATURATION == "minnaert":
        # Minnaert's interpolation (1/R = 1/D + 1/tau): a Lorentzian tau gives a Lorentzian
        # depth with a pointed core, as observed Balmer lines of A stars have
        flux = 1.0 - depth[:, None] * tau / (tau + depth[:, None])
    else:
        flux = 1.0 - depth[:, None] * (1.0 - np.exp(-tau))

    # helium: He I peaks near 20 kK, He II above ~35 kK; hot subdwarfs are mostly He-poor
    he_scale = np.where(is_wd, 0.0, np.where(is_sd, 0.3, 1.0))
    tau_he = np.zeros((n, wave.size))
    hei = _bell(teff, 20000.0, (0.08, 0.12)) * he_scale * 1.5
    heii = _bell(teff, 45000.0, (0.07, 0.2)) * he_scale * 1.5
    centres = np.concatenate([air_to_vacuum(list(_HEI_AIR)), air_to_vacuum(list(_HEII_AIR))])
    rel = np.array(list(_HEI_AIR.values()) + list(_HEII_AIR.values()))
    kind = np.array([0] * len(_HEI_AIR) + [1] * len(_HEII_AIR))
    s = np.where(kind[None, :] == 0, hei[:, None], heii[:, None]) * rel[None, :]
    _add_narrow_lines(tau_he, wave, centres, s, sig_h / 2.0, gamma_a=0.6 * gfac)

    # Ca II H & K: ∝ 10^[Fe/H], fading as Ca II ionises above ~9000 K
    metal_scale = np.where(is_wd, 0.0, 10 ** feh)
    ca_t = np.exp(-np.clip(teff - 6000.0, 0.0, None) / 1300.0)
    s = (40.0 * metal_scale * ca_t)[:, None] * np.array(list(_CAII.values()))[None, :]
    _add_narrow_lines(tau_he, wave, np.array(list(_CAII)), s, sig_metal,
                      gamma_a=0.25 * np.sqrt(gfac))

    # metal lines: strong below ~6000 K, nearly gone in hot stars
    met_t = np.exp(-np.clip(teff - 5000.0, -1500.0, None) / 800.0)
    s = (metal_scale * met_t)[:, None] * _METALS[1][None, :]
    _add_narrow_lines(tau_he, wave, _METALS[0], s, sig_metal)

    # narrow lines saturate at a residual flux of 1 - METAL_CORE_DEPTH (source function > 0)
    flux *= 1.0 - METAL_CORE_DEPTH * (1.0 - np.exp(-tau_he))
    cont = _planck(wave[None, :], teff[:, None]) / _planck(5500.0, teff)[:, None]
    return (cont * flux).astype(np.float32)


def analytic_wavelength():
    """The intrinsic grid of analytic templates (vacuum Å, Δlog10 λ = 2e-5)."""
    lo, hi = ANALYTIC_LOG10_RANGE
    n = int(round((hi - lo) / ANALYTIC_LOG10_STEP)) + 1
    return 10 ** (lo + ANALYTIC_LOG10_STEP * np.arange(n))


def _clipped_normal(rng, n, spec):
    mean, sigma, lo, hi = spec
    return np.clip(rng.normal(mean, sigma, n), lo, hi) if sigma > 0 else np.full(n, mean)


def sample_parameters(label, n, rng, boxes=None):
    """Draw ``n`` (teff, logg, feh, vsini) sets for class ``label`` from `PARAMETER_BOXES`.

    Parameters
    ----------
    label : str
        One of `~bhbfinder.simulate.CLASSES`.
    n : int
    rng : numpy.random.Generator
    boxes : dict, optional
        Overrides of `PARAMETER_BOXES` (whole class entries).

    Returns
    -------
    dict of ndarray
        ``teff``, ``logg``, ``feh``, ``vsini``.
    """
    boxes = {**PARAMETER_BOXES, **(boxes or {})}
    if label not in boxes:
        raise ConfigurationError(f"sample_parameters: no parameter box for {label!r}; "
                                 f"known: {sorted(boxes)}")
    box = boxes[label]
    lt = rng.uniform(np.log10(box["teff"][0]), np.log10(box["teff"][1]), n)
    teff = 10 ** lt
    if box["logg"] == "culpan":
        lo, hi = culpan_kiel_limits(lt, log=True)
        u = rng.uniform(0.05, 0.95, n)          # keep off the edges of the box
        logg = lo + u * (hi - lo)
    else:
        logg = rng.uniform(box["logg"][0], box["logg"][1], n)
        if label == "A":
            # A stars stay above the BHB box (blue stragglers / dwarfs, log g >= box top + 0.1)
            logg = np.maximum(logg, culpan_kiel_limits(lt, log=True)[1] + 0.1)
    feh = _clipped_normal(rng, n, box["feh"])
    if "halo_fraction" in box:
        halo = rng.uniform(size=n) < box["halo_fraction"]
        feh = np.where(halo, _clipped_normal(rng, n, box["halo_feh"]), feh)
    vsini = rng.uniform(box["vsini"][0], box["vsini"][1], n)
    if "evolved_fraction" in box:
        # evolved metal-rich stars of this class inside the BHB box (the A giants of MILES)
        evolved = rng.uniform(size=n) < box["evolved_fraction"]
        lt_e = rng.uniform(np.log10(box["evolved_teff"][0]), np.log10(box["evolved_teff"][1]), n)
        lo, hi = culpan_kiel_limits(lt_e, log=True)
        teff = np.where(evolved, 10 ** lt_e, teff)
        logg = np.where(evolved, lo + rng.uniform(0.05, 0.95, n) * (hi - lo), logg)
        feh = np.where(evolved, _clipped_normal(rng, n, box["evolved_feh"]), feh)
        vsini = np.where(evolved, rng.uniform(*box["evolved_vsini"], n), vsini)
    return {"teff": teff, "logg": logg, "feh": feh, "vsini": vsini}


class AnalyticLibrary(TemplateLibrary):
    """A `TemplateLibrary` of analytic stars whose spectra are computed on demand.

    ``flux`` is ``None``; `template_flux` evaluates `analytic_spectrum` for the requested rows on
    the intrinsic grid (`analytic_wavelength`), so large libraries cost no memory until used.
    ``labels`` has the extra column ``vsini``.
    """

    def template_flux(self, index):
        index = np.asarray(index, dtype=np.int64)
        lab = self.labels
        return analytic_spectrum(self.wavelength, np.asarray(lab["teff"])[index],
                                 np.asarray(lab["logg"])[index], np.asarray(lab["feh"])[index],
                                 np.asarray(lab["label"])[index],
                                 vsini=np.asarray(lab["vsini"])[index])

    def select(self, rows):
        rows = np.arange(len(self))[rows] if np.asarray(rows).dtype == bool else \
            np.asarray(rows, dtype=np.int64)
        return AnalyticLibrary(self.wavelength, None, self.labels[rows], meta=dict(self.meta))


def analytic_templates(n_per_class=50, seed=0, classes=CLASSES, boxes=None, params=None):
    """A library of analytic stars drawn from `PARAMETER_BOXES` (or given explicitly).

    Parameters
    ----------
    n_per_class : int or dict
        Stars per class (a dict maps class → number).
    seed : int
        Seed of ``numpy.random.default_rng``; the same seed gives the same stars.
    classes : sequence of str
        Which classes (default all of `~bhbfinder.simulate.CLASSES`).
    boxes : dict, optional
        Overrides of `PARAMETER_BOXES`.
    params : table-like, optional
        Explicit stars instead: columns ``label``, ``teff``, ``logg``, ``feh`` (``vsini``
        optional); ``n_per_class``, ``seed`` and ``boxes`` are then ignored.

    Returns
    -------
    AnalyticLibrary
        ``star_id`` ``"analytic:<seed>:<label>:<k>"`` (or ``"analytic:<k>"`` for ``params``).
    """
    rows = []
    if params is not None:
        params = Table(params)
        for k, row in enumerate(params):
            label = str(row["label"])
            vs = float(row["vsini"]) if "vsini" in params.colnames else DEFAULT_VSINI[label]
            rows.append({"name": f"analytic {label} {k}", "star_id": f"analytic:{k}",
                         "label": label, "teff": float(row["teff"]), "logg": float(row["logg"]),
                         "feh": float(row["feh"]), "vsini": vs})
    else:
        rng = np.random.default_rng(seed)
        for label in classes:
            n = n_per_class.get(label, 0) if isinstance(n_per_class, dict) else int(n_per_class)
            p = sample_parameters(label, n, rng, boxes)
            for k in range(n):
                rows.append({"name": f"analytic {label} {k}",
                             "star_id": f"analytic:{seed}:{label}:{k}", "label": label,
                             "teff": p["teff"][k], "logg": p["logg"][k], "feh": p["feh"][k],
                             "vsini": p["vsini"][k]})
    for r in rows:
        r["sptype"] = ""
        r["source"] = "analytic"
    table = _label_table(rows)
    table["vsini"] = np.array([r["vsini"] for r in rows], dtype=float)
    meta = {"source": "analytic", "seed": seed, "model": "bhbfinder.simulate.analytic",
            "gravity_exponent": GRAVITY_EXPONENT}
    return AnalyticLibrary(analytic_wavelength(), None, table, meta=meta)

