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
"""

import warnings
from dataclasses import asdict, dataclass, fields

import numpy as np
from astropy.table import Table, vstack
from scipy.ndimage import gaussian_filter1d

from ..errors import ConfigurationError
from ..io.base import META_KEYS, UNKNOWN_VALUE, SpectrumArrays
from ..spectra.lines import C_KMS, air_to_vacuum
from .classes import CLASSES, class_index
from .templates import TemplateLibrary

__all__ = [
    "LAMOST_LOG10_START",
    "LAMOST_LOG10_STEP",
    "LAMOST_NPIX",
    "LAMOST_RESOLVING_POWER",
    "MASK_BITS",
    "SNR_BANDS",
    "DEFAULT_RV_SIGMA",
    "JUNK_KINDS",
    "TRUTH_COLUMNS",
    "lamost_wavelength",
    "SimulationConfig",
    "SimulatedSpectra",
    "degrade_templates",
    "simulate_rows",
    "simulate_junk",
    "simulate",
]

#: The LAMOST low-resolution grid: log10 λ = LAMOST_LOG10_START + LAMOST_LOG10_STEP · i.
LAMOST_LOG10_START = 3.5682
LAMOST_LOG10_STEP = 1e-4
#: Pixels of the full nominal grid (real files have 3751–3909).
LAMOST_NPIX = 3909
#: LAMOST low-resolution resolving power (R ≈ 1800 at 5500 Å; Cui et al. 2012, RAA 12, 1197).
LAMOST_RESOLVING_POWER = 1800.0

#: The working grid on which templates are degraded and shifted (13.8 km/s pixels).
WORK_LOG10_RANGE = (3.55, 3.97)
WORK_LOG10_STEP = 2e-5

#: LAMOST pixel-mask bits as used here (LAMOST DR data model; **check** against the reader).
MASK_BITS = {"BADCCD": 1, "BADPROFILE": 2, "NOSKY": 4, "BRIGHTSKY": 8, "BADCENTER": 16,
             "NODATA": 32}

#: Wavelength ranges (vacuum Å) of the per-band S/N values (``snr_u`` ... ``snr_z``), close to
#: the SDSS filters the LAMOST pipeline uses.
SNR_BANDS = {"u": (3700.0, 4000.0), "g": (4000.0, 5500.0), "r": (5600.0, 6900.0),
             "i": (6900.0, 8400.0), "z": (8400.0, 9100.0)}

#: Radial-velocity dispersion (km/s) per class when ``rv="class"``: halo populations (BHB,
#: hot subdwarfs) are kinematically hot, disk A/B stars cold.
DEFAULT_RV_SIGMA = {"BHB": 120.0, "A": 40.0, "B": 30.0, "HotSD": 80.0, "WD": 40.0,
                    "other": 60.0}

#: Non-stellar negatives `simulate_junk` makes.
JUNK_KINDS = ("galaxy", "qso", "noise")

#: Relative throughput of LAMOST (Å, relative value), interpolated in log-log. Chosen so that the
#: median band S/N ratios SNRU…SNRZ / SNRG of simulated A/BHB stars match those of the 41
#: A/early-F LAMOST DR8 test spectra (0.19, 1, 1.36, 1.61, 1.04); the blue arm is much less
#: sensitive than the red one. An empirical approximation, not a measured curve.
THROUGHPUT_ANCHORS = ((3650.0, 0.015), (4000.0, 0.25), (4500.0, 0.9), (5500.0, 1.3),
                      (6300.0, 1.9), (7600.0, 3.3), (8700.0, 1.7), (9200.0, 0.7))

#: Bright night-sky lines (air Å): [O I], Na D, and the strongest OH lines in the red.
SKY_LINES_AIR = (5577.34, 5889.95, 5895.92, 6300.30, 6363.78, 6863.96, 7276.41, 7316.28,
                 7340.89, 7369.25, 7750.64, 7794.11, 7821.50, 7913.71, 7993.33, 8344.60,
                 8399.17, 8430.17, 8827.10, 8885.85, 8919.64, 8958.09)

#: Columns the simulator adds to the reader's `~bhbfinder.io.base.META_KEYS`.
TRUTH_COLUMNS = ("label", "label_index", "star_id", "template", "source", "kind", "teff",
                 "logg", "feh", "rv", "z_true", "snr_target", "resolving_power", "n_cosmic",
                 "n_masked", "start", "npix")

#: Resolution jitter is clipped to this range of R / resolving_power.
_JITTER_CLIP = (0.5, 1.5)
#: Libraries with stored flux up to this many templates keep their degraded spectra cached.
_CACHE_MAX_TEMPLATES = 4000

#: LAMOST's value for an unknown quantity (catalogue z of "Unknown" objects).

_FWHM_TO_SIGMA = 1.0 / (2.0 * np.sqrt(2.0 * np.log(2.0)))
_LN10 = np.log(10.0)


def lamost_wavelength(start=0, npix=LAMOST_NPIX):
    """Vacuum wavelengths (Å) of LAMOST pixels ``start … start + npix − 1``."""
    return 10 ** (LAMOST_LOG10_START + LAMOST_LOG10_STEP * (start + np.arange(npix)))


def _work_log10():
    lo, hi = WORK_LOG10_RANGE
    return lo + WORK_LOG10_STEP * np.arange(int(round((hi - lo) / WORK_LOG10_STEP)) + 1)


@dataclass
class SimulationConfig:
    """Everything that shapes a simulated spectrum, as named defaults.

    Ranges ``(lo, hi)`` are drawn per spectrum (``snr`` and ``flux_scale`` log-uniformly, the
    others uniformly); a single number fixes the value.

    Attributes
    ----------
    resolving_power : float
        Target R (`LAMOST_RESOLVING_POWER`).
    resolution_jitter : float
        Fractional standard deviation of R between spectra (0 = none).
    snr : float or (float, float)
        Median S/N per pixel in the g band.
    rv : "class", float or (float, float)
        Radial velocity (km/s): ``"class"`` draws from N(0, ``DEFAULT_RV_SIGMA[label]``); a
        number is the sigma of a zero-mean normal; a pair is a uniform range.
    rv_max : float
        The absolute radial velocity is clipped to this (km/s).
    rv_err_floor, rv_err_scale : float
        Catalogue RV error ``sqrt(floor² + (scale/snr)²)`` (km/s) used for ``z``/``z_err``.
    z_missing_fraction : float
        Fraction of spectra whose catalogue ``z`` is −9999 (as LAMOST "Unknown" objects).
    distortion_order : int
        Order of the Legendre polynomial of the flux-calibration distortion.
    distortion_sigma : float
        Standard deviation of each Legendre coefficient (in ln flux).
    dichroic_step : float
        Standard deviation of the multiplicative step at the arm join.
    flux_scale : float or (float, float)
        Median flux level in the g band.
    sky_fraction : float or (float, float)
        Sky/read variance floor as a fraction of the g-band flux.
    sky_line_strength : float or (float, float)
        Extra variance at bright sky lines, in units of the g-band flux.
    vary_grid : bool
        Vary the start and length of the LAMOST grid like real files.
    edge_bad_max : int
        Up to this many unusable pixels at each end.
    bad_segment_rate : float
        Mean number of bad-pixel segments per spectrum.
    bad_segment_length : (int, int)
        Length range of a bad segment (pixels).
    cosmic_rate : float
        Mean number of cosmic-ray hits per spectrum.
    cosmic_amplitude : (float, float)
        Cosmic-ray height in units of the local sigma.
    ism_cak_ew : float or (float, float)
        Equivalent width (Å) of interstellar Ca II K absorption added to stellar spectra (H at
        half of it), at the interstellar velocity ``ism_rv_sigma`` (km/s, zero-mean normal)
        rather than the star's; 0 = none. Real spectra of distant halo stars show a K line of
        a few tenths of an Å from the disk's gas, which the analytic stars lack and which
        must not be read as stellar metallicity.
    ism_rv_sigma : float
        Standard deviation of the interstellar line velocity (km/s).
    blue_fwhm : None, float or (float, float)
        Instrumental FWHM (Å) of the blue arm (λ < 5900 Å), drawn per spectrum; ``None`` keeps
        ``resolving_power`` over the whole spectrum. LAMOST's resolution differs from fibre to
        fibre and across the spectrum (FWHM ≈ 2–4 Å in the blue, i.e. R ≈ 1000–2200), and a
        classifier must not learn one value. Where the template itself is coarser than the
        target (MILES: 2.5 Å) it is left as it is.
    blue_fwhm_slope : float or (float, float)
        Relative change of the blue-arm FWHM per 1000 Å about 4500 Å, drawn per spectrum:
        ``FWHM(λ) = blue_fwhm · (1 + slope · (λ − 4500 Å) / 1000 Å)``.
    """

    resolving_power: float = LAMOST_RESOLVING_POWER
    resolution_jitter: float = 0.0
    snr: object = (10.0, 100.0)
    rv: object = "class"
    rv_max: float = 600.0
    rv_err_floor: float = 5.0
    rv_err_scale: float = 150.0
    z_missing_fraction: float = 0.0
    distortion_order: int = 3
    distortion_sigma: float = 0.1
    dichroic_step: float = 0.02
    flux_scale: object = (20.0, 2000.0)
    sky_fraction: object = (0.05, 0.5)
    sky_line_strength: object = (0.5, 5.0)
    vary_grid: bool = True
    edge_bad_max: int = 8
    bad_segment_rate: float = 0.5
    bad_segment_length: tuple = (1, 25)
    cosmic_rate: float = 1.0
    cosmic_amplitude: tuple = (5.0, 60.0)
    ism_cak_ew: object = 0.0
    ism_rv_sigma: float = 10.0
    blue_fwhm: object = None
    blue_fwhm_slope: object = 0.0

    def replace(self, **changes):
        """A copy with ``changes`` (unknown names raise `~bhbfinder.errors.ConfigurationError`)."""
        known = {f.name for f in fields(self)}
        bad = sorted(set(changes) - known)
        if bad:
            raise ConfigurationError(f"SimulationConfig: unknown option(s) {bad}; "
                                     f"options are {sorted(known)}")
        return SimulationConfig(**{**asdict(self), **changes})

    def to_dict(self):
        """Plain-Python dict (for provenance and ASDF)."""
        out = {}
        for k, v in asdict(self).items():
            out[k] = list(v) if isinstance(v, tuple) else v
        return out


def _draw(rng, spec, n, log=False):
    if isinstance(spec, (tuple, list, np.ndarray)) and np.ndim(spec) == 1 and len(spec) == 2:
        lo, hi = float(spec[0]), float(spec[1])
        if log:
            return 10 ** rng.uniform(np.log10(lo), np.log10(hi), n)
        return rng.uniform(lo, hi, n)
    return np.full(n, float(spec))


@dataclass
class SimulatedSpectra:
    """Simulated spectra on the absolute LAMOST pixel grid, with their truth.

    Every row is aligned on the full nominal grid (`lamost_wavelength` with ``start=0``);
    pixels outside ``[start, start + npix)`` are padding (``ivar = 0``, mask True).

    Attributes
    ----------
    flux, ivar : ndarray, shape (n, LAMOST_NPIX), float32
    andmask, ormask : ndarray, shape (n, LAMOST_NPIX), int16
        LAMOST pixel-mask bits (`MASK_BITS`).
    meta : `~astropy.table.Table`
        One row per spectrum: the reader's `~bhbfinder.io.base.META_KEYS` (``z`` is the
        catalogue redshift, noisy, −9999 when missing) plus `TRUTH_COLUMNS` (``label``,
        ``star_id`` of the source star, ``rv`` the true radial velocity in km/s, ...).
    """

    flux: np.ndarray
    ivar: np.ndarray
    andmask: np.ndarray
    ormask: np.ndarray
    meta: Table

    def __len__(self):
        return len(self.meta)

    @property
    def mask(self):
        """Bad pixels: ``ivar == 0`` (includes padding and andmask-flagged pixels)."""
        return self.ivar <= 0

    @property
    def labels(self):
        """Class labels, one per spectrum."""
        return np.asarray(self.meta["label"]).astype(str)

    @property
    def wavelength(self):
        """The full nominal grid, Å (every row's pixels are a slice of it)."""
        return lamost_wavelength()

    def select(self, rows):
        """A subset (boolean mask or indices), same class."""
        rows = np.asarray(rows)
        if rows.dtype == bool:
            rows = np.flatnonzero(rows)
        new = type(self).__new__(type(self))
        new.__dict__.update(self.__dict__)
        new.flux, new.ivar = self.flux[rows], self.ivar[rows]
        new.andmask, new.ormask = self.andmask[rows], self.ormask[rows]
        new.meta = self.meta[rows]
        return new

    def record(self, i):
        """Spectrum ``i`` as `~bhbfinder.io.base.SpectrumArrays` on its own pixels."""
        s, k = int(self.meta["start"][i]), int(self.meta["npix"][i])
        sl = slice(s, s + k)
        meta = _reader_meta({key: _plain(self.meta[key][i]) for key in self.meta.colnames})
        return SpectrumArrays(lamost_wavelength(s, k), self.flux[i, sl].copy(),
                              self.ivar[i, sl].copy(), (self.ivar[i, sl] <= 0), meta)

    def records(self):
        """All spectra as a list of `~bhbfinder.io.base.SpectrumArrays`."""
        return [self.record(i) for i in range(len(self))]

    def to_raw_batch(self, rows=None):
        """The spectra as a `~bhbfinder.batch.RawBatch` (the input of the ``prepare`` stage).

        Parameters
        ----------
        rows : slice, mask or indices, optional
            Only these rows (to feed large libraries in chunks).
        """
        from ..batch import RawBatch, meta_table

        sub = self if rows is None else self.select(np.arange(len(self))[rows])
        n = len(sub)
        start = np.asarray(sub.meta["start"], dtype=np.int64)
        npix = np.asarray(sub.meta["npix"], dtype=np.int64)
        m = int(npix.max()) if n else 1
        cols = np.arange(m)[None, :] + start[:, None]
        inside = np.arange(m)[None, :] < npix[:, None]
        cols = np.where(inside, cols, 0)
        wave = np.where(inside, 10 ** (LAMOST_LOG10_START + LAMOST_LOG10_STEP * cols), np.nan)
        flux = np.where(inside, np.take_along_axis(sub.flux, cols, 1), 0).astype(np.float32)
        ivar = np.where(inside, np.take_along_axis(sub.ivar, cols, 1), 0).astype(np.float32)
        metas = [_reader_meta({k: _plain(sub.meta[k][i]) for k in META_KEYS}) for i in range(n)]
        table = meta_table(metas)
        for col in TRUTH_COLUMNS:
            table[col] = sub.meta[col]
        return RawBatch(wave, flux, ivar, ivar <= 0, npix, table)

    @classmethod
    def concatenate(cls, parts):
        """Stack several `SimulatedSpectra` (in order)."""
        parts = [p for p in parts if p is not None and len(p)]
        if not parts:
            raise ConfigurationError("nothing to concatenate: no simulated spectra")
        return cls(np.concatenate([p.flux for p in parts]),
                   np.concatenate([p.ivar for p in parts]),
                   np.concatenate([p.andmask for p in parts]),
                   np.concatenate([p.ormask for p in parts]),
                   vstack([p.meta for p in parts], metadata_conflicts="silent"))


def _reader_meta(meta):
    # what the LAMOST reader returns: LAMOST's -9999 "unknown" becomes None
    for key in ("z", "z_err"):
        if meta.get(key) is not None and meta[key] == UNKNOWN_VALUE:
            meta[key] = None
    return meta


def _plain(value):
    if np.ma.is_masked(value):
        return None
    return value.item() if hasattr(value, "item") else value


# ----------------------------------------------------------------------- convolution


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


# ----------------------------------------------------------------------- instrument model


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
    flux = model + sigma * rng.standard_normal(model.shape)

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
    ivar = np.where(bad | ~inside, 0.0, 1.0 / sigma ** 2)
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


def _radec(rng, n):
    ra = rng.uniform(0.0, 360.0, n)
    dec = np.degrees(np.arcsin(rng.uniform(-0.5, 1.0, n)))   # LAMOST sees dec > -30
    return ra, dec


def _designation(ra, dec):
    out = []
    for a, d in zip(ra, dec, strict=False):
        h = a / 15.0
        hh, mm = int(h), int((h % 1) * 60)
        ss = ((h * 60) % 1) * 60
        sign = "+" if d >= 0 else "-"
        ad = abs(d)
        dd, dm = int(ad), int((ad % 1) * 60)
        ds = ((ad * 60) % 1) * 60
        out.append(f"LAMOST J{hh:02d}{mm:02d}{ss:05.2f}{sign}{dd:02d}{dm:02d}{ds:04.1f}")
    return out


def _meta(rng, n, labels, kinds, star_ids, templates, sources, teff, logg, feh, rv, z_true,
          z_cat, z_err, snr, r, snr_bands, n_cr, n_masked, start, npix, lamost_class, subclass):
    ra, dec = _radec(rng, n)
    obs0 = int(rng.integers(100_000_000, 900_000_000))
    cols = {
        "file": np.array([""] * n, dtype="U1"),
        "reader": np.array(["simulate"] * n),
        "survey": np.array(["LAMOST"] * n),
        "data_release": np.array(["simulated"] * n),
        "obsid": obs0 + np.arange(n, dtype=np.int64),
        "designation": np.array(_designation(ra, dec) if n else [], dtype="U26"),
        "ra": ra, "dec": dec, "z": z_cat, "z_err": z_err,
        "class": np.array(lamost_class, dtype="U7"),
        "subclass": np.array(subclass, dtype="U16"),
    }
    for b in "ugriz":
        cols[f"snr_{b}"] = snr_bands[b].astype(float)
    cols["mjd"] = rng.integers(55800, 60500, n).astype(np.int64)
    cols["flux_unit"] = np.array([""] * n, dtype="U1")
    cols.update({
        "label": np.array(labels, dtype="U5"), "label_index": class_index(np.asarray(labels)),
        "star_id": np.array(star_ids, dtype=str), "template": np.array(templates, dtype=str),
        "source": np.array(sources, dtype=str), "kind": np.array(kinds, dtype="U6"),
        "teff": np.asarray(teff, float), "logg": np.asarray(logg, float),
        "feh": np.asarray(feh, float), "rv": np.asarray(rv, float),
        "z_true": np.asarray(z_true, float), "snr_target": np.asarray(snr, float),
        "resolving_power": np.asarray(r, float), "n_cosmic": np.asarray(n_cr, np.int64),
        "n_masked": np.asarray(n_masked, np.int64), "start": np.asarray(start, np.int64),
        "npix": np.asarray(npix, np.int64),
    })
    table = Table(cols)
    units = {"ra": "deg", "dec": "deg", "teff": "K", "rv": "km/s"}
    for k, u in units.items():
        table[k].unit = u
    table["rv"].description = "true radial velocity (km/s); z = rv / c"
    table["z"].description = "catalogue redshift: true z plus the catalogue error; -9999 missing"
    table["label"].description = "class label, one of bhbfinder.simulate.CLASSES"
    table["star_id"].description = "source star of the spectrum (split by star on this)"
    return table


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


def _empty():
    z = np.zeros((0, LAMOST_NPIX))
    rng = np.random.default_rng(0)
    meta = _meta(rng, 0, [], [], [], [], [], [], [], [], [], [], [], [], [], [],
                 {b: np.zeros(0) for b in "ugriz"}, [], [], [], [], [], [])
    return SimulatedSpectra(z.astype(np.float32), z.astype(np.float32), z.astype(np.int16),
                            z.astype(np.int16), meta)


# ----------------------------------------------------------------------- junk

#: Rest-frame vacuum wavelengths (Å) of the emission lines used for galaxies and quasars.
_GALAXY_EMISSION = {3727.09: 1.0, 3729.88: 1.3, 4862.69: 1.0, 4960.30: 0.6, 5008.24: 1.8,
                    6549.86: 0.35, 6564.61: 3.0, 6585.27: 1.0, 6718.29: 0.5, 6732.67: 0.4}
_GALAXY_ABSORPTION = {3934.77: 0.25, 3969.59: 0.2, 4305.0: 0.12, 5176.7: 0.1, 5895.6: 0.08}
_QSO_BROAD = {1215.67: 6.0, 1549.06: 2.5, 1908.73: 1.2, 2799.12: 1.5, 4341.69: 0.4,
              4862.69: 1.0, 6564.61: 3.0}
_QSO_NARROW = {3727.09: 0.1, 5008.24: 0.3, 4960.30: 0.1}


def _junk_model(kind, rng, wave):
    """Noiseless observed-frame junk spectrum at intrinsic resolution; returns (flux, z)."""
    if kind == "galaxy":
        z = rng.uniform(0.01, 0.35)
        rest = wave / (1 + z)
        t = rng.uniform(3500.0, 8000.0)
        cont = (rest / 5500.0) ** (-1.0) / np.expm1(1.4388e8 / (rest * t)) * \
            np.expm1(1.4388e8 / (5500.0 * t))
        cont *= 1.0 - rng.uniform(0.1, 0.5) / (1.0 + np.exp((rest - 4000.0) / 30.0))
        sig_v = rng.uniform(80.0, 250.0)
        absorb = np.zeros_like(wave)
        for lam, d in _GALAXY_ABSORPTION.items():
            s = lam * sig_v / C_KMS * 2.0
            absorb += d * np.exp(-0.5 * ((rest - lam) / s) ** 2)
        emis = np.zeros_like(wave)
        ew_scale = rng.choice([0.0, rng.uniform(1.0, 40.0)], p=[0.3, 0.7])
        for lam, a in _GALAXY_EMISSION.items():
            s = lam * sig_v / C_KMS
            emis += a * ew_scale / (np.sqrt(2 * np.pi) * s) * np.exp(-0.5 * ((rest - lam) / s) ** 2)
        return cont * (1 - absorb) + emis * np.interp(5500.0, rest, cont), z
    if kind == "qso":
        z = rng.uniform(0.1, 3.0)
        rest = wave / (1 + z)
        cont = (rest / 3000.0) ** rng.uniform(-2.0, -1.0)
        fwhm = rng.uniform(2500.0, 7000.0)
        emis = np.zeros_like(wave)
        for lam, a in {**_QSO_BROAD, **_QSO_NARROW}.items():
            width = fwhm if lam in _QSO_BROAD else 400.0
            s = lam * width * _FWHM_TO_SIGMA / C_KMS
            emis += a * 40.0 * rng.uniform(0.5, 1.5) / (np.sqrt(2 * np.pi) * s) * \
                np.exp(-0.5 * ((rest - lam) / s) ** 2) * np.interp(lam, rest, cont)
        if z > 2.0:   # Lyman-alpha forest blueward of Lyα
            forest = rest < 1215.67
            cont = np.where(forest, cont * rng.uniform(0.4, 0.8), cont)
        return cont + emis, z
    if kind == "noise":
        # empty fibre / failed extraction: a flat pedestal with sky residuals
        level = rng.uniform(0.2, 1.0)
        return np.full_like(wave, level) + 0.05 * np.sin(wave / rng.uniform(50, 400)), UNKNOWN_VALUE
    raise ConfigurationError(f"unknown junk kind {kind!r}; use one of {JUNK_KINDS}")


def simulate_junk(kinds, rng, config=None):
    """Non-stellar negatives (label ``"other"``): galaxies, quasars and noise.

    Parameters
    ----------
    kinds : sequence of str
        One of `JUNK_KINDS` per spectrum.
    rng : numpy.random.Generator or int
    config : SimulationConfig, optional
        Instrument model (``rv``/``z_missing_fraction`` do not apply; galaxy/QSO ``z`` is
        their redshift, noise spectra get ``z = -9999``).

    Returns
    -------
    SimulatedSpectra
    """
    config = config or SimulationConfig()
    rng = np.random.default_rng(rng) if not isinstance(rng, np.random.Generator) else rng
    kinds = [str(k) for k in kinds]
    n = len(kinds)
    if n == 0:
        return _empty()
    work_log = _work_log10()
    wave = 10 ** work_log
    models, zs = [], []
    for k in kinds:
        m, z = _junk_model(k, rng, wave)
        models.append(m)
        zs.append(z)
    zs = np.array(zs)
    r = _resolution(rng, n, config)
    dv = C_KMS * _LN10 * WORK_LOG10_STEP
    work = _convolve_variable(np.array(models), (C_KMS / r[:, None]) * _FWHM_TO_SIGMA / dv)
    model = _sample_shifted(work_log, work, np.zeros(n))
    snr = _draw(rng, config.snr, n, log=True)
    snr = np.where(np.array(kinds) == "noise", np.minimum(snr, rng.uniform(0.3, 5.0, n)), snr)
    start, npix = _grid_extent(rng, n, config.vary_grid)
    flux, ivar, andm, orm, snr_b, n_cr, n_masked = _instrument(rng, model, zs, snr, start, npix,
                                                                config)
    z_err = np.where(zs == UNKNOWN_VALUE, UNKNOWN_VALUE, 1e-4)
    nan = np.full(n, np.nan)
    rv = np.where(zs == UNKNOWN_VALUE, np.nan, zs * C_KMS)
    meta = _meta(rng, n, ["other"] * n, kinds, [f"junk:{k}:{i}" for i, k in enumerate(kinds)],
                 kinds, ["junk"] * n, nan, nan, nan, rv, np.where(zs == UNKNOWN_VALUE, np.nan, zs),
                 zs, z_err, snr, r, snr_b, n_cr, n_masked, start, npix,
                 [{"galaxy": "GALAXY", "qso": "QSO", "noise": "Unknown"}[k] for k in kinds],
                 [{"galaxy": "", "qso": "", "noise": "Non"}[k] for k in kinds])
    return SimulatedSpectra(flux, ivar, andm, orm, meta)


# ----------------------------------------------------------------------- convenience


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
