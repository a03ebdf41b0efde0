"""Calibrated label errors (bhbfinder.params.uncertainty) and their use by the emulator."""

import numpy as np
import pytest

from bhbfinder.errors import ConfigurationError, ModelFileError
from bhbfinder.params.emulator import SlamEmulator
from bhbfinder.params.uncertainty import ErrorModel, fit_error_model

from ._params_helpers import toy_grid, toy_labels, toy_spectra

EDGES = (8000.0, 10000.0)
TRUE_SCALE = np.array([3.0, 1.5, 2.0])
TRUE_FLOOR = np.array([[80.0, 150.0, 300.0], [0.10, 0.20, 0.15], [0.30, 0.10, 0.20]])


def _cases(n, seed):
    """Residuals drawn with a known error law: sigma^2 = (s formal)^2 + floor(Teff bin)^2."""
    rng = np.random.default_rng(seed)
    truth = np.column_stack([rng.uniform(7000, 11500, n), rng.uniform(2.5, 4.5, n),
                             rng.uniform(-2.5, 0.0, n)])
    snr = 10 ** rng.uniform(1.0, np.log10(80.0), n)
    formal = np.column_stack([3000.0, 3.0, 3.0]) / snr[:, None] * rng.uniform(0.5, 1.5, (n, 3))
    bins = np.searchsorted(EDGES, truth[:, 0], side="right")
    sigma = np.sqrt((TRUE_SCALE * formal) ** 2 + TRUE_FLOOR[:, bins].T ** 2)
    found = truth + sigma * rng.standard_normal((n, 3))
    found[:, 0] = truth[:, 0]  # fitted Teff in the same bin as the truth, so the law is exact
    found[:, 0] += np.clip(sigma[:, 0] * rng.standard_normal(n), -50, 50)
    return found, formal, truth, snr, sigma


def test_fitted_error_model_recovers_a_known_error_law_and_covers_new_cases():
    found, formal, truth, snr, _ = _cases(6000, seed=1)
    model = fit_error_model(found, formal, truth, snr, teff_edges=EDGES)
    assert np.allclose(model.scale[1:], TRUE_SCALE[1:], rtol=0.2)
    assert np.allclose(model.floor[1:], TRUE_FLOOR[1:], rtol=0.25, atol=0.02)
    # fresh cases from the same law: 68 % within 1 sigma, per label and per S/N half
    found2, formal2, truth2, snr2, sigma2 = _cases(4000, seed=2)
    err = model.apply(found2, formal2)
    for half in (snr2 < 25, snr2 >= 25):
        cover = (np.abs(found2 - truth2) <= err)[half].mean(axis=0)
        assert np.all(np.abs(cover[1:] - 0.683) < 0.04), cover
    # the formal errors alone cover far less
    assert np.all((np.abs(found2 - truth2) <= formal2).mean(axis=0)[1:] < 0.45)
    assert model.meta["n_cases"] == 6000
    assert abs(model.meta["coverage_on_fitted_cases"]["logg"] - 0.683) < 0.01


def test_error_model_round_trip_and_bad_input():
    model = ErrorModel(EDGES, [2.0, 1.0, 1.5], TRUE_FLOOR, {"note": "test"})
    again = ErrorModel.from_dict(model.to_dict())
    labels = np.array([[7500.0, 3.0, -1.0], [9000.0, 3.5, -2.0], [12000.0, 4.0, 0.0]])
    formal = np.full((3, 3), 0.01)
    assert np.allclose(again.apply(labels, formal), model.apply(labels, formal))
    # one floor per Teff bin of the fitted Teff
    assert np.allclose(model.apply(labels, np.zeros((3, 3)))[:, 0], [80.0, 150.0, 300.0])
    with pytest.raises(ConfigurationError, match="floor shape"):
        ErrorModel(EDGES, [1.0, 1.0, 1.0], np.ones((3, 2)))
    with pytest.raises(ConfigurationError, match="scales must be > 0"):
        ErrorModel(EDGES, [0.0, 1.0, 1.0], TRUE_FLOOR)
    with pytest.raises(ConfigurationError, match="expected keys"):
        ErrorModel.from_dict({"scale": [1, 1, 1]})
    with pytest.raises(ConfigurationError, match="snr"):
        fit_error_model(labels, formal, labels, np.ones(2))


def test_emulator_applies_saves_and_loads_its_error_model(tmp_path):
    wave = toy_grid(150)
    labels = toy_labels(80, seed=3)
    flux = toy_spectra(labels, wave)
    model = SlamEmulator().fit(flux, np.full_like(flux, 1e4), labels, wavelength=wave)
    obs = toy_spectra(np.array([[8500.0, 3.2, -1.5], [9500.0, 4.0, -0.5]]), wave)
    ivar = np.full_like(obs, 1e4)
    plain = model.predict(obs, ivar, return_details=True)
    assert np.allclose(plain.label_err, plain.formal_err)
    model.error_model_ = ErrorModel(EDGES, [2.0, 2.0, 2.0], TRUE_FLOOR)
    cal = model.predict(obs, ivar, return_details=True)
    assert np.allclose(cal.labels, plain.labels)
    assert np.allclose(cal.label_err, model.error_model_.apply(cal.labels, plain.formal_err))
    assert np.all(cal.label_err > plain.label_err)
    path = tmp_path / "m.asdf"
    model.save(path)
    loaded = SlamEmulator.load(path)
    assert np.allclose(loaded.predict(obs, ivar)[1], cal.label_err)
    # refitting drops a calibration made for other weights
    model.fit(flux, np.full_like(flux, 1e4), labels)
    assert model.error_model_ is None


def test_load_rejects_a_broken_error_model(tmp_path):
    import asdf

    wave = toy_grid(60)
    labels = toy_labels(30, seed=4)
    flux = toy_spectra(labels, wave)
    model = SlamEmulator(optimize=False).fit(flux, np.full_like(flux, 1e4), labels)
    model.error_model_ = ErrorModel(EDGES, [1.0, 1.0, 1.0], TRUE_FLOOR)
    path = tmp_path / "m.asdf"
    model.save(path)
    with asdf.open(path, mode="rw") as af:
        af.tree["error_model"] = {"scale": [1.0, 1.0, 1.0]}
        af.update()
    with pytest.raises(ModelFileError, match="error_model"):
        SlamEmulator.load(path)


def test_reduced_output_basis_gives_the_full_models_labels():
    wave = toy_grid(400)
    labels = toy_labels(150, seed=6)
    flux = toy_spectra(labels, wave)
    rng = np.random.default_rng(7)
    full = SlamEmulator(rank_tol=None).fit(flux, np.full_like(flux, 1e4), labels)
    reduced = SlamEmulator(rank_tol=0.01).fit(flux, np.full_like(flux, 1e4), labels)
    assert reduced._reduced is not None and reduced._reduced[0].shape[0] < 150
    truth = np.clip(toy_labels(40, seed=8), [7300, 2.7, -2.3], [10700, 4.3, -0.2])
    obs = toy_spectra(truth, wave) + rng.normal(0, 0.02, (40, wave.size))
    ivar = np.full_like(obs, 0.02**-2)
    a, ea, _ = full.predict(obs, ivar)
    b, _, _ = reduced.predict(obs, ivar)
    assert np.all(np.abs(a - b) < 0.05 * ea)


def test_tune_teff_needs_enough_stars():
    wave = toy_grid(60)
    labels = toy_labels(40, seed=9)
    flux = toy_spectra(labels, wave)
    with pytest.raises(ConfigurationError, match="tune_teff"):
        SlamEmulator(objective="labels", tune_teff=(7000.0, 7050.0)).fit(
            flux, np.full_like(flux, 1e4), labels)
