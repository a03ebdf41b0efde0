"""LAMOST-like low-resolution spectra from a template library.

Every simulated spectrum goes through the same steps (all vectorised over a chunk of spectra):

1. the template is brought onto a fine log-λ working grid (Δlog10 λ = 2e-5) and convolved with a
   Gaussian in velocity whose width takes the template's own resolution into account,
   ``FWHM_extra² = FWHM_LAMOST² − FWHM_template²`` (where the template is coarser than the
   target, e.g. MILES' 2.5 Å below ~4500 Å against R = 1800, it is left as it is);
2. Doppler shift ``λ_obs = λ_rest (1 + z)``, ``z = rv / c``, and sampling at the centres of the
   LAMOST pixels ``10**(3.5682 + 1e-4 i)`` (start and length varied like real files: 3751–3909
   pixels);
3. optional resolution jitter (an extra Gaussian per spectrum on the output grid);
4. a smooth multiplicative flux-calibration distortion (exponential of a low-order Legendre
   polynomial in log λ) with a small step at the blue/red arm join (dichroic, ~5900 Å), times a
   flux scale;
5. noise: ``σ² = k (F + s·F_g) / (λ² T(λ))`` (photon counts per pixel ∝ F λ² T) with ``F`` the
   noiseless flux, ``s·F_g`` a sky/read floor, ``T`` a LAMOST-like throughput (the blue arm far
   less sensitive than the red, a dip at the dichroic), inflated at bright sky lines; ``k`` is
   solved so that the median S/N over the g band equals the requested S/N. The stored
   ``ivar`` is ``1/σ²`` (the pipeline's error model, consistent with the noise drawn);
6. bad pixels (``ivar = 0``, flux 0, LAMOST ``andmask`` bits): unusable ends, random bad
   segments (more often near the dichroic), no template coverage; cosmic rays (unflagged
   spikes).

Non-stellar "junk" (galaxies, quasars, pure noise) is made directly in the observed frame.
All randomness comes from one ``numpy.random.default_rng(seed)``: the same seed and inputs
give identical arrays.

This module draws the stars and puts the pieces together (`simulate_rows`, `simulate`); the
settings and LAMOST constants are in `bhbfinder.simulate.config`, the instrument model (steps
1-6) in `bhbfinder.simulate.instrument`, the non-stellar negatives in
`bhbfinder.simulate.junk`, the `SimulatedSpectra` container in `bhbfinder.simulate.simulated`
and the writing of LAMOST files in `bhbfinder.simulate.files`. Their public names are
importable from here too.
"""

import numpy as np

from ..errors import ConfigurationError
from ..io.base import UNKNOWN_VALUE
from ..spectra.lines import C_KMS
from .classes import CLASSES
from .config import (  # noqa: F401 - public names of the split-up module, still importable here
    _JITTER_CLIP,
    DEFAULT_RV_SIGMA,
    JUNK_KINDS,
    LAMOST_LOG10_START,
    LAMOST_LOG10_STEP,
    LAMOST_NPIX,
    LAMOST_RESOLVING_POWER,
    MASK_BITS,
    SNR_BANDS,
    TRUTH_COLUMNS,
    SimulationConfig,
    _draw,
    lamost_wavelength,
)
from .instrument import (
    _ARM_JOIN,
    _add_interstellar_caii,
    _blue_arm_sigma,
    _grid_extent,
    _instrument,
    _jitter_sigma,
    _min_blue_fwhm,
    _resolution,
    _sample_shifted,
    degrade_templates,
)
from .junk import simulate_junk
from .simulated import SimulatedSpectra, _empty, _meta
from .templates import TemplateLibrary

__all__ = ["simulate_rows", "simulate"]


def _catalogue_z(rng, rv, snr, config):
    n = rv.size
    rv_err = np.sqrt(config.rv_err_floor ** 2 + (config.rv_err_scale / snr) ** 2)
    z_cat = (rv + rv_err * rng.standard_normal(n)) / C_KMS
    z_err = rv_err / C_KMS
    missing = rng.uniform(size=n) < config.z_missing_fraction
    return np.where(missing, UNKNOWN_VALUE, z_cat), np.where(missing, UNKNOWN_VALUE, z_err)


def _draw_rv(rng, labels, config):
    n = len(labels)
    spec = config.rv
    if isinstance(spec, str):
        if spec != "class":
            raise ConfigurationError(f"SimulationConfig.rv={spec!r}: use 'class', a sigma or "
                                     "a (lo, hi) range in km/s")
        sig = np.array([DEFAULT_RV_SIGMA[str(c)] for c in labels])
        rv = sig * rng.standard_normal(n)
    elif np.ndim(spec) == 1:
        rv = rng.uniform(float(spec[0]), float(spec[1]), n)
    else:
        rv = float(spec) * rng.standard_normal(n)
    return np.clip(rv, -config.rv_max, config.rv_max)


def _subclass(label, sptype, teff):
    if sptype:
        return sptype.split()[0][:16]
    return {"BHB": "A0", "A": "A5", "B": "B9", "HotSD": "O", "WD": "WD", "other": "F5"}[label]


def simulate_rows(library, rows, rng, config=None, rv=None, snr=None, chunk=256):
    """Simulate one spectrum per entry of ``rows`` (template indices of ``library``).

    Parameters
    ----------
    library : TemplateLibrary
    rows : array of int
        Template index of each spectrum (repeats allowed).
    rng : numpy.random.Generator or int
        Random generator (or a seed).
    config : SimulationConfig, optional
    rv, snr : array-like, optional
        Fix the radial velocity (km/s) and the g-band S/N per spectrum instead of drawing them.
    chunk : int
        Spectra processed together (bounds memory).

    Returns
    -------
    SimulatedSpectra
    """
    config = config or SimulationConfig()
    rng = np.random.default_rng(rng) if not isinstance(rng, np.random.Generator) else rng
    rows = np.asarray(rows, dtype=np.int64)
    n = rows.size
    if n and (rows.min() < 0 or rows.max() >= len(library)):
        raise ConfigurationError(f"simulate_rows: template rows must be in 0..{len(library) - 1}")
    lab = library.labels
    labels = np.asarray(lab["label"]).astype(str)[rows]
    rv_all = _draw_rv(rng, labels, config) if rv is None else \
        np.broadcast_to(np.asarray(rv, float), (n,)).copy()
    snr_all = _draw(rng, config.snr, n, log=True) if snr is None else \
        np.broadcast_to(np.asarray(snr, float), (n,)).copy()
    r_all = _resolution(rng, n, config)
    start, npix = _grid_extent(rng, n, config.vary_grid)
    parts = []
    for c0 in range(0, n, chunk):
        sl = slice(c0, min(c0 + chunk, n))
        uniq, inv = np.unique(rows[sl], return_inverse=True)
        # with jitter, degrade to the sharpest R allowed and add the rest per spectrum
        r_base = config.resolving_power * (_JITTER_CLIP[1] if config.resolution_jitter > 0
                                           else 1.0)
        if config.blue_fwhm is not None:
            # sharp enough for the narrowest blue-arm FWHM drawn, at the arm's red end
            r_base = max(r_base, _ARM_JOIN / _min_blue_fwhm(config))
        work_log, work = degrade_templates(library, uniq, r_base)
        z = rv_all[sl] / C_KMS
        model = _sample_shifted(work_log, work[inv], z)
        if np.any(np.asarray(config.ism_cak_ew, float) > 0):
            _add_interstellar_caii(rng, model, r_base, config)
        jit = _jitter_sigma(r_all[sl], r_base) if config.resolution_jitter > 0 else None
        if config.blue_fwhm is not None:
            m = sl.stop - sl.start
            blue, fwhm_b = _blue_arm_sigma(rng, m, config, library, r_base)
            red = _jitter_sigma(r_all[sl], r_base)[:, None]
            jit = np.where(lamost_wavelength()[None, :] < _ARM_JOIN, blue, red)
            r_all[sl] = 4500.0 / fwhm_b   # recorded: the blue arm's R at 4500 Å reached
        out = _instrument(rng, model, z, snr_all[sl], start[sl], npix[sl], config, jit)
        flux, ivar, andm, orm, snr_b, n_cr, n_masked = out
        z_cat, z_err = _catalogue_z(rng, rv_all[sl], snr_all[sl], config)
        rr = rows[sl]
        sp = np.asarray(lab["sptype"]).astype(str)[rr]
        meta = _meta(rng, rr.size, labels[sl], ["star"] * rr.size,
                     np.asarray(lab["star_id"]).astype(str)[rr],
                     np.asarray(lab["name"]).astype(str)[rr],
                     np.asarray(lab["source"]).astype(str)[rr],
                     np.asarray(lab["teff"], float)[rr], np.asarray(lab["logg"], float)[rr],
                     np.asarray(lab["feh"], float)[rr], rv_all[sl], z, z_cat, z_err,
                     snr_all[sl], r_all[sl], snr_b, n_cr, n_masked, start[sl], npix[sl],
                     ["STAR"] * rr.size,
                     [_subclass(c, s, t) for c, s, t in zip(labels[sl], sp, rr, strict=False)])
        parts.append(SimulatedSpectra(flux, ivar, andm, orm, meta))
    if not parts:
        return _empty()
    return SimulatedSpectra.concatenate(parts)


def simulate(templates, n, seed=0, config=None, classes=None, junk_fraction=0.0, **options):
    """Simulate ``n`` spectra from one or several template libraries.

    Templates are drawn uniformly among those whose label is in ``classes``; a fraction
    ``junk_fraction`` of the spectra are non-stellar negatives (`simulate_junk`).

    Parameters
    ----------
    templates : TemplateLibrary or list of TemplateLibrary
    n : int
    seed : int
        Seed of ``numpy.random.default_rng``: the same seed gives identical arrays.
    config : SimulationConfig, optional
    classes : sequence of str, optional
        Only templates of these classes (default all).
    junk_fraction : float
    **options
        Overrides of `SimulationConfig` fields (e.g. ``snr=30``).

    Returns
    -------
    SimulatedSpectra
        In the order: each library's spectra, then junk.
    """
    config = (config or SimulationConfig()).replace(**options) if options else \
        (config or SimulationConfig())
    libs = [templates] if isinstance(templates, TemplateLibrary) else list(templates)
    classes = tuple(classes) if classes is not None else CLASSES
    rng = np.random.default_rng(seed)
    pool = []
    for li, lib in enumerate(libs):
        ok = np.flatnonzero(np.isin(np.asarray(lib.labels["label"]).astype(str), classes))
        pool += [(li, int(r)) for r in ok]
    n_junk = int(round(n * junk_fraction))
    n_star = n - n_junk
    if n_star and not pool:
        raise ConfigurationError(f"simulate: no template of classes {classes} in the libraries")
    pick = rng.integers(0, len(pool), n_star) if n_star else np.zeros(0, int)
    parts = []
    for li, lib in enumerate(libs):
        rows = np.array([pool[p][1] for p in pick if pool[p][0] == li], dtype=np.int64)
        if rows.size:
            parts.append(simulate_rows(lib, rows, rng, config))
    if n_junk:
        parts.append(simulate_junk(rng.choice(JUNK_KINDS, n_junk), rng, config))
    return SimulatedSpectra.concatenate(parts) if parts else _empty()
