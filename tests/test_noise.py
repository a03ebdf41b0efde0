"""Reported errors checked against the pixel scatter, and rescaled where they overstate it.

Known answers: white noise whose ivar is exact or overstated by a known factor, with and without
a smooth signal (lines, continuum); the simulator's ``error_scale``; the prepare step.
"""

import dataclasses

import numpy as np
import pytest

from bhbfinder.batch import RawBatch
from bhbfinder.errors import ConfigurationError
from bhbfinder.io.base import SpectrumArrays
from bhbfinder.simulate import SimulationConfig, analytic_templates, simulate
from bhbfinder.spectra.noise import (
    SECOND_DIFFERENCE_RMS,
    NoiseConfig,
    ivar_scale,
    pixel_noise_ratio,
    second_difference,
)
from bhbfinder.spectra.prepare import PrepareConfig, check_compatible, prepare_arrays

from .test_prepare import lamost_like


def _noisy(n, m, overstate, rng, signal=None):
    model = np.full((n, m), 50.0) if signal is None else signal
    sigma = np.sqrt(model) * rng.uniform(0.5, 2.0, (n, 1))
    flux = model + sigma * rng.standard_normal((n, m))
    return flux, 1.0 / (overstate * sigma) ** 2


@pytest.mark.parametrize("overstate", [1.0, 1.3, 1.5])
def test_ratio_recovers_the_overstatement_of_white_noise(overstate):
    rng = np.random.default_rng(0)
    flux, ivar = _noisy(20, 3000, overstate, rng)
    ratio = pixel_noise_ratio(flux, ivar)
    # ~0.02 of sampling scatter on 3000 pixels (neighbouring triples share pixels)
    assert np.all(np.abs(ratio - 1.0 / overstate) < 0.06)
    assert np.mean(ratio) == pytest.approx(1.0 / overstate, abs=0.01)


def test_correlated_neighbours_with_right_errors_are_not_overstated_errors():
    # rebinning-like noise: each pixel the mean of two neighbouring white draws, so adjacent
    # pixels correlate (rho = 0.5) while the per-pixel variance, and the ivar, are right
    rng = np.random.default_rng(6)
    white = rng.standard_normal((10, 3001))
    noise = (white[:, 1:] + white[:, :-1]) / np.sqrt(2.0)
    flux, ivar = 50.0 + 3.0 * noise, np.full(noise.shape, 1.0 / 9.0)
    at_two = pixel_noise_ratio(flux, ivar)
    at_one = pixel_noise_ratio(flux, ivar, lag=1)
    assert np.mean(at_two) == pytest.approx(1.0, abs=0.03)
    assert np.mean(at_one) == pytest.approx(np.sqrt((1.5 - 1.0 + 0.0) / 1.5), abs=0.03)
    assert np.all(ivar_scale(at_two) == 1.0)
    with pytest.raises(ConfigurationError, match="lag"):
        pixel_noise_ratio(flux, ivar, lag=0)


def test_smooth_signal_does_not_count_as_noise():
    rng = np.random.default_rng(1)
    wave = np.linspace(3800.0, 5600.0, 2500)  # ~0.7 A pixels: lines span many pixels
    cont = 100.0 * (1.0 + 0.3 * (wave - 4700.0) / 900.0)
    lines = 1.0 - sum(0.6 * np.exp(-0.5 * ((wave - c) / 6.0) ** 2)
                      for c in (3971.2, 4102.9, 4341.7, 4862.7))
    flux, ivar = _noisy(10, wave.size, 1.0, rng, signal=np.tile(cont * lines, (10, 1)))
    ratio = pixel_noise_ratio(flux, ivar)
    assert np.all(np.abs(ratio - 1.0) < 0.08)
    assert np.mean(ratio) == pytest.approx(1.0, abs=0.02)


def test_masked_padded_and_short_spectra():
    rng = np.random.default_rng(2)
    flux, ivar = _noisy(3, 1000, 1.5, rng)
    mask = np.zeros(flux.shape, bool)
    mask[0, 200:600] = True              # 600 good pixels left, in two runs
    flux[1, 600:] = 1e6                  # padding beyond npix: must be ignored
    ratio = pixel_noise_ratio(flux, ivar, mask=mask, npix=[1000, 600, 1000])
    assert ratio[0] == pytest.approx(1 / 1.5, abs=0.08)
    assert ratio[1] == pytest.approx(1 / 1.5, abs=0.05)
    assert np.isnan(pixel_noise_ratio(flux[:1, :50], ivar[:1, :50]))[0]
    single = pixel_noise_ratio(flux[2], ivar[2])
    assert isinstance(single, float) and single == pytest.approx(1 / 1.5, abs=0.05)


def test_ivar_scale_is_continuous_and_leaves_exact_errors_alone():
    config = NoiseConfig()
    lo, hi = config.ramp
    s = np.linspace(0.5, 1.2, 701)
    factor = ivar_scale(s, config)
    assert np.all(factor[s >= hi] == 1.0)
    assert np.allclose(factor[s <= lo], 1.0 / s[s <= lo] ** 2)
    assert np.max(np.abs(np.diff(factor))) < 0.02          # no jump anywhere on the ramp
    assert np.all(np.diff(factor) <= 1e-12)                # the lower the ratio, the more
    assert ivar_scale([0.3, np.nan], config).tolist() == [1.0, 1.0]  # not noise; unmeasured
    assert ivar_scale([0.7], NoiseConfig(enabled=False)).tolist() == [1.0]


@pytest.mark.parametrize("kwargs", [{"ramp": (0.95, 0.9)}, {"floor": 0.95},
                                    {"ramp": (0.9, 1.2)}, {"nonsense": 1}])
def test_noise_config_refuses_bad_settings(kwargs):
    with pytest.raises((ConfigurationError, TypeError)):
        NoiseConfig.from_dict(kwargs) if "nonsense" in kwargs else NoiseConfig(**kwargs)


def test_noise_config_round_trip_and_old_model_files():
    config = PrepareConfig(noise={"ramp": [0.85, 0.9]})
    assert PrepareConfig.from_dict(config.to_dict()) == config
    old = PrepareConfig().to_dict()
    del old["noise"]   # a model file written before the rescaling
    check_compatible(old, PrepareConfig())
    assert PrepareConfig.from_dict(old).noise == NoiseConfig()


def _with_overstated_errors(raw, factor):
    records = []
    for i in range(len(raw)):
        k = int(raw.npix[i])
        records.append(SpectrumArrays(raw.wavelength[i, :k], raw.flux[i, :k],
                                      raw.ivar[i, :k] / factor**2, raw.mask[i, :k],
                                      {"file": f"over-{i}.fits", "z": 0.0, "z_err": 1e-5}))
    return RawBatch.from_records(records)


def test_prepare_rescales_overstated_errors_and_leaves_exact_ones():
    rng = np.random.default_rng(3)
    raw = lamost_like(4, rng, snr=20.0, z=np.zeros(4))
    over = _with_overstated_errors(raw, 1.5)
    off = PrepareConfig(noise={"enabled": False})
    exact_on, exact_off = prepare_arrays(raw), prepare_arrays(raw, off)
    assert np.all(np.asarray(exact_on.meta["ivar_scale"]) == 1.0)
    np.testing.assert_array_equal(exact_on.ivar, exact_off.ivar)
    assert np.allclose(exact_on.meta["noise_ratio"], 1.0, atol=0.05)

    fixed, kept = prepare_arrays(over), prepare_arrays(over, off)
    ratio = np.asarray(fixed.meta["noise_ratio"])
    assert np.allclose(ratio, 1 / 1.5, atol=0.04)
    factor = np.asarray(fixed.meta["ivar_scale"])
    assert np.allclose(factor, 1.0 / ratio**2)
    good = exact_on.ivar > 0
    # rescaled, the overstated spectra carry the exact spectra's weights again (to the
    # precision of the measured ratio), where left alone they carry 1/2.25 of them
    assert np.median(fixed.ivar[good] / exact_on.ivar[good]) == pytest.approx(1.0, abs=0.1)
    assert np.median(kept.ivar[good] / exact_on.ivar[good]) == pytest.approx(1 / 2.25, rel=0.01)
    # the same spectra; only the continuum's clipping and the cleaning see other weights
    np.testing.assert_allclose(fixed.flux, kept.flux, atol=0.02)
    assert np.all(np.isnan(np.asarray(kept.meta["noise_ratio"])))


def test_simulator_error_scale_overstates_the_reported_errors_only():
    lib = analytic_templates()
    exact = simulate(lib, 12, seed=4, config=SimulationConfig(snr=(10.0, 40.0)))
    over = simulate(lib, 12, seed=4, config=SimulationConfig(snr=(10.0, 40.0), error_scale=1.5))
    np.testing.assert_array_equal(exact.flux, over.flux)
    good = exact.ivar > 0
    np.testing.assert_allclose(over.ivar[good], exact.ivar[good] / 2.25, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(over.meta["snr_g"]),
                               np.asarray(exact.meta["snr_g"]) / 1.5, rtol=1e-5)
    np.testing.assert_array_equal(over.meta["snr_target"], exact.meta["snr_target"])
    # lines add a little to the ratio (a cool star's metal lines more), never take from it
    over_ratio, exact_ratio = (pixel_noise_ratio(s.flux, s.ivar) for s in (over, exact))
    assert np.median(over_ratio) == pytest.approx(1 / 1.5, abs=0.03)
    assert np.median(exact_ratio) == pytest.approx(1.0, abs=0.06)
    assert np.all(exact_ratio > 0.93)
    assert dataclasses.asdict(SimulationConfig())["error_scale"] == 1.0


def test_simulator_noise_correlation_correlates_neighbours_only():
    lib = analytic_templates()
    config = SimulationConfig(snr=(10.0, 30.0), cosmic_rate=0.0)
    white = simulate(lib, 30, seed=7, config=config)
    correlated = simulate(lib, 30, seed=7, config=config.replace(noise_correlation=0.25))
    np.testing.assert_array_equal(white.ivar, correlated.ivar)   # per-pixel errors unchanged
    f, iv = correlated.flux.astype(float), correlated.ivar.astype(float)
    good = (iv[:, 1:] > 0) & (iv[:, :-1] > 0)
    var = 1.0 / np.where(iv > 0, iv, 1.0)
    d = (f[:, 1:] - f[:, :-1]) / np.sqrt(var[:, 1:] + var[:, :-1])
    scatter = np.median([1.4826 * np.median(np.abs(x[g] - np.median(x[g])))
                         for x, g in zip(d, good, strict=True)])
    assert 1.0 - scatter**2 == pytest.approx(0.25, abs=0.04)   # var(d) = 2σ²(1 − ρ)
    # two pixels apart the ratio does not see the correlation: nothing to rescale
    assert np.median(pixel_noise_ratio(f, iv)) == pytest.approx(1.0, abs=0.04)
    assert np.median(pixel_noise_ratio(f, iv, lag=1)) < 0.85
    with pytest.raises(ConfigurationError):
        config.replace(noise_corelation=0.25)


@pytest.mark.parametrize("lag", [1, 2, 3])
def test_second_difference_known_answers(lag):
    i = np.arange(200.0)
    # a straight line has none; a parabola a constant -L^2 (its curvature); both 2L shorter
    assert np.allclose(second_difference(3.0 + 0.5 * i, lag), 0.0)
    d = second_difference(np.stack([i**2, 2 * i**2]), lag)
    assert d.shape == (2, 200 - 2 * lag)
    assert np.allclose(d[0], -lag**2) and np.allclose(d[1], -2 * lag**2)
    # white noise of unit sigma: the documented standard deviation
    noise = np.random.default_rng(lag).normal(size=200_000)
    assert np.std(second_difference(noise, lag)) == pytest.approx(SECOND_DIFFERENCE_RMS,
                                                                  rel=0.01)
    with pytest.raises(ConfigurationError, match="lag"):
        second_difference(noise, 0)
