"""Non-stellar negatives (label ``"other"``): galaxies, quasars and pure noise, made directly in
the observed frame."""


import numpy as np

from ..errors import ConfigurationError
from ..io.base import UNKNOWN_VALUE
from ..spectra.lines import C_KMS
from .config import (
    _FWHM_TO_SIGMA,
    _LN10,
    JUNK_KINDS,
    WORK_LOG10_STEP,
    SimulationConfig,
    _draw,
    _work_log10,
)
from .instrument import _convolve_variable, _grid_extent, _instrument, _resolution, _sample_shifted
from .simulated import SimulatedSpectra, _empty, _meta

__all__ = ["simulate_junk"]


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
