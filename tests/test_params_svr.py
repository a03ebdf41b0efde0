"""The per-pixel SVR reference of SLAM (bhbfinder.params.svr_reference)."""

import numpy as np
import pytest

pytest.importorskip("sklearn")

from bhbfinder.params.svr_reference import SvrSlam  # noqa: E402

from ._params_helpers import toy_grid, toy_labels, toy_spectra  # noqa: E402


def test_svr_reference_recovers_known_labels():
    wave = toy_grid(80)
    labels = toy_labels(150, seed=0)
    flux = toy_spectra(labels, wave)
    model = SvrSlam(C=10.0, epsilon=0.01).fit(flux, np.full_like(flux, 1e4), labels)
    assert len(model.svrs_) == wave.size
    truth = np.array([[8000.0, 3.2, -1.5], [9500.0, 4.0, -0.5], [10200.0, 3.0, -2.0]])
    assert np.abs(model.predict_spectra(truth) - toy_spectra(truth, wave)).max() < 0.02
    rng = np.random.default_rng(0)
    noisy = toy_spectra(truth, wave) + rng.normal(0, 0.005, (3, wave.size))
    found, errors, flags = model.predict(noisy, np.full_like(noisy, 0.005**-2))
    assert np.all(np.abs(found[:, 0] - truth[:, 0]) < 150)
    assert np.all(np.abs(found[:, 1:] - truth[:, 1:]) < 0.15)
    assert np.all(errors > 0) and np.all(flags == 0)


def test_svr_cv_model_error_and_few_pixels():
    wave = toy_grid(30)
    labels = toy_labels(40, seed=2)
    flux = toy_spectra(labels, wave)
    model = SvrSlam(cv_folds=3, min_pixels=20).fit(flux, np.full_like(flux, 1e4), labels)
    assert np.all(model.model_error_ > 0)
    ivar = np.zeros((1, wave.size))
    found, _, flags = model.predict(flux[:1], ivar)
    assert flags[0] == 4 and np.isnan(found).all()
