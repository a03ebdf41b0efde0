"""The simulator's instrument settings (`SimulationConfig`) and the LAMOST constants it uses."""

from dataclasses import asdict, dataclass, fields

import numpy as np

from ..errors import ConfigurationError

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
    "THROUGHPUT_ANCHORS",
    "SKY_LINES_AIR",
    "lamost_wavelength",
    "SimulationConfig",
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

#: LAMOST pixel-mask bits written to the and/or masks (the LAMOST 1D pipeline's bit names; the
#: reader treats any non-zero and-mask bit as bad, whatever its meaning).
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
    noise_correlation : float or (float, float)
        Correlation of the noise of neighbouring pixels, drawn per spectrum (at most 0.5; the
        per-pixel variance, and the inverse variance, are unchanged). Rebinning onto LAMOST's
        log-λ grid correlates neighbours: the DR1 files of the shared data show about 0.25.
        0 = independent pixels.
    error_scale : float or (float, float)
        Reported error over the noise actually added, drawn per spectrum: the inverse
        variance (and the header S/N) says ``error_scale`` times the true σ. 1 = exact. Real
        LAMOST files report errors larger than their pixel-to-pixel scatter (up to ~1.4 times
        in the fainter DR1, DR7 and DR10 files of the shared data;
        `bhbfinder.spectra.noise`).
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
    noise_correlation: object = 0.0
    error_scale: object = 1.0

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
