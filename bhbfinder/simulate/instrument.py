"""The instrument model: templates degraded to the LAMOST resolution, shifted and sampled on the
LAMOST grid, flux-calibration distortion, noise, masks and cosmic rays, interstellar Ca II
(steps 1-6 of `bhbfinder.simulate.simulator`)."""

import warnings

import numpy as np
from scipy.ndimage import gaussian_filter1d

from ..spectra.lines import C_KMS, air_to_vacuum
from .config import (
    _CACHE_MAX_TEMPLATES,
    _FWHM_TO_SIGMA,
    _JITTER_CLIP,
    _LN10,
    LAMOST_LOG10_START,
    LAMOST_LOG10_STEP,
    LAMOST_NPIX,
    LAMOST_RESOLVING_POWER,
    MASK_BITS,
    SKY_LINES_AIR,
    SNR_BANDS,
    THROUGHPUT_ANCHORS,
    WORK_LOG10_STEP,
    _draw,
    _work_log10,
    lamost_wavelength,
)

__all__ = ["degrade_templates"]


def _convolve_variable(flux, sigma_pix, max_sigma=None):
    """Gaussian convolution with a per-pixel (or per-row) sigma in pixels, NaN-aware.

    ``flux`` (n, P); ``sigma_pix`` broadcastable to (n, P). Gather form: output pixel i is the
    weighted mean of its neighbours with the Gaussian of sigma_pix[i].
    """
    flux = np.asarray(flux, dtype=np.float64)
    sig = np.asarray(sigma_pix, dtype=float)
    smax = float(np.max(sig)) if max_sigma is None else max_sigma
    if smax < 0.05:
        return flux.astype(np.float32, copy=True)
    valid = np.isfinite(flux)
    all_valid = bool(valid.all())
    f = flux if all_valid else np.where(valid, flux, 0.0)
    v = valid.astype(np.float64)
    if np.ptp(sig) < 1e-6 * smax:
        # one sigma for everything: the C implementation (truncated at 4 sigma like below)
        num = gaussian_filter1d(f, smax, axis=1, mode="nearest", truncate=4.0)
        if all_valid:
            return num.astype(np.float32)
        den = gaussian_filter1d(v, smax, axis=1, mode="nearest", truncate=4.0)
        wsum = 1.0
    else:
        sigma = np.broadcast_to(sig, flux.shape) if sig.ndim == 2 and sig.shape[0] > 1 \
            else np.broadcast_to(sig, (1, flux.shape[1]))
        half = int(np.ceil(4.0 * smax))
        fp = np.pad(f * v, ((0, 0), (half, half)), mode="edge")
        vp = np.pad(v, ((0, 0), (half, half)), mode="edge")
        ks = np.arange(-half, half + 1)
        wts = _pixel_kernel(sigma, ks)
        wsum = np.sum(wts, axis=0)
        num = np.zeros_like(f)
        den = np.zeros_like(f)
        npx = f.shape[1]
        for k, w in zip(ks, wts, strict=False):
            w = w / wsum
            num += w * fp[:, half + k:half + k + npx]
            if not all_valid:
                den += w * vp[:, half + k:half + k + npx]
        if all_valid:
            return num.astype(np.float32)
        wsum = 1.0
    with np.errstate(invalid="ignore", divide="ignore"):
        out = num / den
    out[(den / wsum) < 0.5] = np.nan
    return out.astype(np.float32)


def _pixel_kernel(sigma, offsets):
    """Weights at integer ``offsets`` of a kernel whose variance is ``sigma**2`` (pixels²),
    also for sub-pixel widths, where a sampled Gaussian falls well short of its variance.

    A sampled Gaussian for ``sigma >= 0.7`` (its discrete variance is then within 0.5 % of
    ``sigma**2``); below, the three-tap kernel ``[sigma**2/2, 1 - sigma**2, sigma**2/2]``,
    whose variance is exactly ``sigma**2``.
    """
    s2 = np.asarray(sigma, float) ** 2
    wide = s2 >= 0.49
    inv2s2 = 0.5 / np.maximum(s2, 1e-6)
    out = []
    for k in offsets:
        tap = np.where(k == 0, 1.0 - s2, 0.5 * s2) if abs(k) <= 1 else 0.0
        out.append(np.where(wide, np.exp(-(k * k) * inv2s2), tap))
    return out


def degrade_templates(library, rows, resolving_power=LAMOST_RESOLVING_POWER):
    """Templates ``rows`` of ``library`` on the working grid at resolving power R.

    Parameters
    ----------
    library : TemplateLibrary
    rows : array of int
    resolving_power : float

    Returns
    -------
    log10_wave : ndarray, shape (P,)
        log10 of the working grid (vacuum Å).
    flux : ndarray, shape (len(rows), P), float32
        NaN outside the template's coverage.
    """
    log_work = _work_log10()
    rows = np.asarray(rows, dtype=np.int64)
    if library.flux is not None and len(library) <= _CACHE_MAX_TEMPLATES:
        cache = library.__dict__.setdefault("_degraded", {})
        key = float(resolving_power)
        if key not in cache:
            cache.clear()
            cache[key] = _degrade(library, np.arange(len(library)), resolving_power, log_work)
        return log_work, cache[key][rows]
    return log_work, _degrade(library, rows, resolving_power, log_work)


def _degrade(library, rows, resolving_power, log_work):
    flux = np.asarray(library.template_flux(rows), dtype=np.float64)
    log_lib = np.log10(library.wavelength)
    same = log_lib.size == log_work.size and np.allclose(log_lib, log_work, atol=1e-9)
    if not same:
        pos = np.interp(log_work, log_lib, np.arange(log_lib.size), left=np.nan, right=np.nan)
        inside = np.isfinite(pos)
        p = np.where(inside, pos, 0.0)
        i0 = np.clip(np.floor(p).astype(np.int64), 0, log_lib.size - 2)
        t = p - i0
        flux = flux[:, i0] * (1 - t) + flux[:, i0 + 1] * t
        flux[:, ~inside] = np.nan
    wave = 10 ** log_work
    fwhm_t = library.fwhm_kms(wave)
    fwhm_target = C_KMS / resolving_power
    extra = np.sqrt(np.clip(fwhm_target ** 2 - fwhm_t ** 2, 0.0, None))
    dv = C_KMS * _LN10 * WORK_LOG10_STEP
    sigma_pix = extra * _FWHM_TO_SIGMA / dv
    return _convolve_variable(flux, sigma_pix[None, :])


def _throughput(wave):
    """Relative photon throughput T(λ) (anchors in `THROUGHPUT_ANCHORS`, plus the arm join)."""
    lam, t = np.array(THROUGHPUT_ANCHORS, dtype=float).T
    thr = np.exp(np.interp(np.log(wave), np.log(lam), np.log(t)))
    dichroic = 1.0 - 0.5 * np.exp(-0.5 * ((wave - 5850.0) / 60.0) ** 2)
    return thr * dichroic


def _grid_extent(rng, n, vary):
    if not vary:
        return np.zeros(n, np.int64), np.full(n, LAMOST_NPIX, np.int64)
    # most real files start at 3.5682 and lose 0-7 pixels at the red end; a few start up to
    # ~160 pixels later (e.g. 3751 pixels from 3.5840) or end earlier (3820 pixels)
    late = rng.uniform(size=n) < 0.05
    start = np.where(late, rng.integers(1, 161, n), 0)
    short = rng.uniform(size=n) < 0.05
    cut = np.where(short, rng.integers(8, 100, n), rng.integers(0, 8, n))
    end = LAMOST_NPIX - np.where(late, 0, cut)
    return start.astype(np.int64), (end - start).astype(np.int64)


def _legendre_distortion(rng, n, order, sigma, x):
    if order <= 0 or sigma <= 0:
        return np.zeros((n, x.size))
    coef = rng.normal(0.0, sigma, (n, order))
    out = np.zeros((n, x.size))
    p_prev, p = np.ones_like(x), x.copy()
    for k in range(1, order + 1):
        out += coef[:, k - 1:k] * p[None, :]
        p_prev, p = p, ((2 * k + 1) * x * p - k * p_prev) / (k + 1)
    return out


def _band_median(values, wave_row_mask):
    v = np.where(wave_row_mask, values, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)   # a band with no valid pixel → NaN
        return np.nanmedian(v, axis=1)


def _instrument(rng, model, z, snr, start, npix, config, r_jitter_sigma=None):
    """Apply steps 3-6 to noiseless observed-frame ``model`` (n, LAMOST_NPIX)."""
    n = model.shape[0]
    wave = lamost_wavelength()
    cols = np.arange(LAMOST_NPIX)[None, :]
    inside = (cols >= start[:, None]) & (cols < (start + npix)[:, None])
    andmask = np.zeros(model.shape, np.int16)
    ormask = np.zeros(model.shape, np.int16)

    if r_jitter_sigma is not None:
        sig = r_jitter_sigma if r_jitter_sigma.ndim == 2 else r_jitter_sigma[:, None]
        model = _convolve_variable(model, sig).astype(np.float64)

    no_data = ~np.isfinite(model) & inside
    model = np.where(np.isfinite(model), model, 0.0)

    # flux calibration distortion and arm-join step, then the flux scale
    x = 2.0 * (np.log10(wave) - np.log10(wave[0])) / (np.log10(wave[-1]) - np.log10(wave[0])) - 1
    ln_d = _legendre_distortion(rng, n, config.distortion_order, config.distortion_sigma, x)
    step = rng.normal(0.0, config.dichroic_step, n) if config.dichroic_step > 0 else np.zeros(n)
    ln_d += step[:, None] / (1.0 + np.exp(-(wave[None, :] - 5900.0) / 15.0))
    model = model * np.exp(ln_d)
    g = (wave >= SNR_BANDS["g"][0]) & (wave <= SNR_BANDS["g"][1])
    gmask = g[None, :] & inside & ~no_data
    fg = _band_median(model, gmask)
    fg = np.where(np.isfinite(fg) & (fg > 0), fg, np.nanmax(np.abs(model), axis=1) + 1e-30)
    scale = _draw(rng, config.flux_scale, n, log=True) / fg
    model = model * scale[:, None]
    fg = fg * scale

    # noise model
    sky = _draw(rng, config.sky_fraction, n)
    thr = _throughput(wave)[None, :]
    # photons per pixel ∝ F λ² T (photon energy ∝ 1/λ, log-λ pixel width ∝ λ); variance in
    # flux units ∝ (F + sky) / (λ² T)
    lam2 = (wave[None, :] / 5000.0) ** 2
    unit_var = (np.clip(model, 0.0, None) + sky[:, None] * fg[:, None]) / (thr * lam2)
    sky_amp = _draw(rng, config.sky_line_strength, n)
    sky_profile = np.zeros(LAMOST_NPIX)
    for lam in air_to_vacuum(np.array(SKY_LINES_AIR)):
        sky_profile += np.exp(-0.5 * ((wave - lam) / (lam * 1.2 / 2.3548 / 1800.0 * 1.0)) ** 2)
    unit_var = unit_var + (sky_amp[:, None] * fg[:, None]) * sky_profile[None, :]
    ormask |= np.where(sky_profile[None, :] * sky_amp[:, None] > 1.0, MASK_BITS["BRIGHTSKY"], 0)
    ratio = _band_median(model / np.sqrt(unit_var), gmask)
    k = (ratio / snr) ** 2
    sigma = np.sqrt(k[:, None] * unit_var)
    noise = rng.standard_normal(model.shape)
    if np.any(np.asarray(config.noise_correlation, float) != 0):
        # neighbouring pixels correlated by rho (as rebinning makes them), variance unchanged:
        # (e_i + c e_(i-1)) / sqrt(1 + c²) has lag-1 correlation c / (1 + c²) = rho
        rho = _draw(rng, config.noise_correlation, n)[:, None]
        c = 2.0 * rho / (1.0 + np.sqrt(np.clip(1.0 - 4.0 * rho**2, 0.0, None)))
        noise = (noise + c * np.roll(noise, 1, axis=1)) / np.sqrt(1.0 + c**2)
    flux = model + sigma * noise

    # per-band expected S/N (what the header's SNRU...SNRZ report)
    snr_bands = {}
    for band, (lo, hi) in SNR_BANDS.items():
        m = ((wave >= lo) & (wave <= hi))[None, :] & inside & ~no_data
        with np.errstate(invalid="ignore"):
            snr_bands[band] = np.nan_to_num(_band_median(model / sigma, m), nan=0.0)

    # cosmic rays: positive spikes, not flagged
    n_cr = rng.poisson(config.cosmic_rate, n) if config.cosmic_rate > 0 else np.zeros(n, int)
    for i in np.flatnonzero(n_cr):
        pos = rng.integers(start[i], start[i] + npix[i], n_cr[i])
        width = rng.integers(1, 3, n_cr[i])
        amp = rng.uniform(*config.cosmic_amplitude, n_cr[i])
        for p, w, a in zip(pos, width, amp, strict=False):
            flux[i, p:p + w] += a * sigma[i, p:p + w]

    # bad pixels: no coverage, unusable ends, bad segments (often near the arm join)
    bad = no_data.copy()
    andmask[no_data] |= MASK_BITS["NODATA"]
    if config.edge_bad_max > 0:
        e0 = rng.integers(0, config.edge_bad_max + 1, n)
        e1 = rng.integers(0, config.edge_bad_max + 1, n)
        edge = inside & ((cols < (start + e0)[:, None]) | (cols >= (start + npix - e1)[:, None]))
        bad |= edge
        andmask[edge] |= MASK_BITS["NODATA"]
    n_seg = rng.poisson(config.bad_segment_rate, n) if config.bad_segment_rate > 0 else \
        np.zeros(n, int)
    join = int(np.searchsorted(wave, 5900.0))
    for i in np.flatnonzero(n_seg):
        for _ in range(n_seg[i]):
            length = int(rng.integers(config.bad_segment_length[0],
                                      config.bad_segment_length[1] + 1))
            if rng.uniform() < 0.3:
                p = int(join + rng.integers(-60, 60))
            else:
                p = int(rng.integers(start[i], start[i] + npix[i]))
            sl = slice(max(p, start[i]), min(p + length, start[i] + npix[i]))
            bad[i, sl] = True
            bit = MASK_BITS["BADCCD"] if rng.uniform() < 0.5 else MASK_BITS["BADPROFILE"]
            andmask[i, sl] |= bit
    ormask |= andmask
    # what the file reports: LAMOST's errors exceed the pixel scatter (drawn last, so that a
    # fixed scale leaves every other draw as it was)
    error_scale = _draw(rng, config.error_scale, n)
    snr_bands = {band: v / error_scale for band, v in snr_bands.items()}
    ivar = np.where(bad | ~inside, 0.0, 1.0 / (error_scale[:, None] * sigma) ** 2)
    flux = np.where(bad | ~inside, 0.0, flux)
    n_masked = (bad & inside).sum(axis=1)
    return (flux.astype(np.float32), ivar.astype(np.float32), andmask, ormask, snr_bands,
            n_cr, n_masked)


def _resolution(rng, n, config):
    r = np.full(n, float(config.resolving_power))
    if config.resolution_jitter > 0:
        r = r * np.clip(1.0 + config.resolution_jitter * rng.standard_normal(n), *_JITTER_CLIP)
    return r


def _jitter_sigma(r, r_base):
    """Extra Gaussian sigma (output pixels) taking R_base to each R."""
    fwhm = np.sqrt(np.clip((C_KMS / r) ** 2 - (C_KMS / r_base) ** 2, 0.0, None))
    return fwhm * _FWHM_TO_SIGMA / (C_KMS * _LN10 * LAMOST_LOG10_STEP)


#: Wavelength (Å) of the blue/red arm join; `SimulationConfig.blue_fwhm` applies below it.
_ARM_JOIN = 5900.0


def _min_blue_fwhm(config):
    lo = float(np.min(np.atleast_1d(np.asarray(config.blue_fwhm, float))))
    slope = float(np.max(np.abs(np.atleast_1d(np.asarray(config.blue_fwhm_slope, float)))))
    return max(lo * (1.0 - slope * 1.4), 0.5)   # (5900 - 4500) / 1000 = 1.4


def _blue_arm_sigma(rng, n, config, library, r_base):
    """Per-pixel extra Gaussian sigma (output pixels, shape (n, LAMOST_NPIX)) that takes the
    blue arm from its degraded resolution to the drawn `SimulationConfig.blue_fwhm`.

    The degraded resolution is the coarser of the base R and the template's own FWHM."""
    wave = lamost_wavelength()
    fwhm_a = _draw(rng, config.blue_fwhm, n)
    slope = _draw(rng, config.blue_fwhm_slope, n)
    target = fwhm_a[:, None] * (1.0 + slope[:, None] * (wave[None, :] - 4500.0) / 1000.0)
    target_kms = C_KMS * np.clip(target, 0.1, None) / wave[None, :]
    have = np.maximum(library.fwhm_kms(wave), C_KMS / r_base)[None, :]
    extra = np.sqrt(np.clip(target_kms ** 2 - have ** 2, 0.0, None))
    extra[:, wave >= _ARM_JOIN] = 0.0
    # the FWHM reached at 4500 Å: the drawn one, or the template's own where it is coarser
    # (MILES, 2.5 Å, cannot be rendered sharper)
    have_4500 = float(np.maximum(library.fwhm_kms(np.array([4500.0]))[0], C_KMS / r_base))
    fwhm_4500 = np.maximum(fwhm_a, have_4500 * 4500.0 / C_KMS)
    return extra * _FWHM_TO_SIGMA / (C_KMS * _LN10 * LAMOST_LOG10_STEP), fwhm_4500


def _sample_shifted(work_log, work_flux, z):
    """Sample ``work_flux`` rows (rest frame) at the LAMOST pixels for redshifts ``z``."""
    log_obs = LAMOST_LOG10_START + LAMOST_LOG10_STEP * np.arange(LAMOST_NPIX)
    log_rest = log_obs[None, :] - np.log10(1.0 + z)[:, None]
    pos = (log_rest - work_log[0]) / WORK_LOG10_STEP
    inside = (pos >= 0) & (pos <= work_log.size - 1)
    p = np.clip(pos, 0, work_log.size - 1.000001)
    i0 = np.floor(p).astype(np.int64)
    t = p - i0
    out = np.take_along_axis(work_flux, i0, 1) * (1 - t) + \
        np.take_along_axis(work_flux, i0 + 1, 1) * t
    out[~inside] = np.nan
    return out


#: Vacuum wavelengths (Å) of Ca II K and H, and their optically thin strength ratio.
_ISM_CAII = {3934.78: 1.0, 3969.59: 0.5}


def _add_interstellar_caii(rng, model, resolving_power, config):
    """Multiply ``model`` (n, LAMOST_NPIX; observed frame) in place by interstellar Ca II H & K:
    Gaussian lines of the instrumental width, K equivalent width drawn from
    ``config.ism_cak_ew``, velocity from N(0, ``config.ism_rv_sigma``)."""
    wave = lamost_wavelength()
    n = model.shape[0]
    ew_k = _draw(rng, config.ism_cak_ew, n)
    v = rng.normal(0.0, config.ism_rv_sigma, n)
    for lam, rel in _ISM_CAII.items():
        centre = lam * (1.0 + v / C_KMS)
        sigma = lam / resolving_power / 2.3548
        near = np.abs(wave - lam) < 8 * sigma + 5.0
        prof = np.exp(-0.5 * ((wave[None, near] - centre[:, None]) / sigma) ** 2)
        depth = rel * ew_k / (np.sqrt(2 * np.pi) * sigma)
        model[:, near] *= 1.0 - np.minimum(depth, 0.9)[:, None] * prof
