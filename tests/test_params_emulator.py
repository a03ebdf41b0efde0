"""The kernel emulator and its batched inversion (bhbfinder.params.emulator)."""

import numpy as np
import pytest

from bhbfinder.errors import ConfigurationError, ModelFileError
from bhbfinder.params.emulator import (
    FLAG_EDGE,
    FLAG_FEW_PIXELS,
    SlamEmulator,
)
from bhbfinder.params.kernel import kernel_matrix, loo_invert

from ._params_helpers import toy_grid, toy_labels, toy_spectra

IVAR = 1e4


def _inner(labels):
    """Labels kept clear of the training domain's edges."""
    return np.clip(labels, [7300, 2.7, -2.3], [10700, 4.3, -0.2])


@pytest.fixture(scope="module")
def trained():
    wave = toy_grid(200)
    labels = toy_labels(120, seed=0)
    flux = toy_spectra(labels, wave)
    model = SlamEmulator().fit(flux, np.full_like(flux, IVAR), labels, wavelength=wave,
                               prepare_config={"grid": "toy", "npix": 200})
    return model, wave


def test_noiseless_emulator_spectra_give_back_their_labels(trained):
    model, _ = trained
    truth = _inner(toy_labels(40, seed=5))
    flux = model.predict_spectra(truth)
    labels, errors, flags = model.predict(flux, np.full_like(flux, IVAR))
    assert np.allclose(labels[:, 0], truth[:, 0], atol=1.0)
    assert np.allclose(labels[:, 1:], truth[:, 1:], atol=1e-3)
    assert np.all(flags == 0)
    assert np.all(errors > 0) and np.all(np.isfinite(errors))


def test_jacobian_matches_finite_differences(trained):
    model, _ = trained
    x = np.array([[8200.0, 3.3, -1.4], [9900.0, 4.1, -0.3]])
    jac = model.jacobian(x)
    steps = np.array([0.5, 1e-4, 1e-4])
    for d in range(3):
        up, down = x.copy(), x.copy()
        up[:, d] += steps[d]
        down[:, d] -= steps[d]
        numeric = (model.predict_spectra(up) - model.predict_spectra(down)) / (2 * steps[d])
        assert np.allclose(jac[:, d], numeric, rtol=1e-4, atol=1e-7 / steps[d] * 1e-2)
    assert np.abs(jac).max() > 0


def test_noisy_recovery_and_error_calibration(trained):
    model, wave = trained
    truth = _inner(toy_labels(200, seed=7))
    rng = np.random.default_rng(1)
    sigma = 0.02
    flux = toy_spectra(truth, wave) + rng.normal(0, sigma, (200, wave.size))
    labels, errors, flags = model.predict(flux, np.full_like(flux, sigma**-2))
    pull = (labels - truth) / errors
    ok = flags == 0
    assert ok.mean() > 0.8
    bias = np.median(labels[ok] - truth[ok], axis=0)
    assert np.all(np.abs(bias) < 0.3 * np.median(errors[ok], axis=0))
    assert 0.6 < np.std(pull[ok], axis=0).min() and np.std(pull[ok], axis=0).max() < 1.6


def test_save_load_round_trip(trained, tmp_path):
    model, wave = trained
    model.meta["validation"]["note"] = "toy"
    path = tmp_path / "emu.asdf"
    model.save(path)
    again = SlamEmulator.load(path)
    truth = toy_labels(10, seed=3)
    flux = toy_spectra(truth, wave) + np.random.default_rng(2).normal(0, 0.01, (10, wave.size))
    ivar = np.full_like(flux, 1e4)
    for a, b in zip(model.predict(flux, ivar), again.predict(flux, ivar), strict=True):
        assert np.array_equal(a, b, equal_nan=True)
    assert again.meta["prepare_config"] == {"grid": "toy", "npix": 200}
    assert again.meta["validation"]["note"] == "toy"
    assert np.array_equal(again.meta["wavelength"], wave)
    assert b"pickle" not in path.read_bytes()


def test_saved_output_basis_is_the_one_load_would_compute(trained, tmp_path):
    """The output basis (``rank_tol``) travels in the file, so loading needs no SVD; it is the
    basis a load without it computes, to the bit."""
    import asdf

    model, _ = trained
    path = tmp_path / "emu.asdf"
    model.save(path)
    with asdf.open(path, lazy_load=False, memmap=False) as af:
        if model._reduced is None:
            assert "output_basis" not in af.tree
            pytest.skip("the toy model needs no output basis")
        assert np.array_equal(af.tree["output_basis"], model._reduced[0])
    again = SlamEmulator.load(path)
    recomputed = SlamEmulator.load(path)
    recomputed._reduce()
    for a, b in zip(again._reduced[:4], recomputed._reduced[:4], strict=True):
        assert np.array_equal(a, b)


def test_shipped_params_model_carries_its_output_basis():
    from bhbfinder.stages.params import default_model_path

    model = SlamEmulator.load(default_model_path())
    assert model._reduced is not None
    basis = model._reduced[0]
    assert basis.shape[1] == model.weights_.shape[1] and basis.shape[0] < basis.shape[1]
    assert np.allclose(basis @ basis.T, np.eye(len(basis)), atol=1e-10)  # orthonormal rows


def test_load_rejects_other_files(tmp_path):
    import asdf

    with pytest.raises(ModelFileError, match="no such model file"):
        SlamEmulator.load(tmp_path / "missing.asdf")
    path = tmp_path / "other.asdf"
    asdf.AsdfFile({"format": "something-else"}).write_to(path)
    with pytest.raises(ModelFileError, match="not a SLAM-emulator model"):
        SlamEmulator.load(path)


def test_flags_few_pixels_and_edge(trained):
    model, wave = trained
    flux = toy_spectra(np.array([[9000.0, 3.5, -1.0], [13500.0, 3.5, -1.0]]), wave)
    ivar = np.full_like(flux, IVAR)
    ivar = np.vstack([ivar, np.zeros((1, wave.size))])
    flux = np.vstack([flux, flux[:1]])
    labels, errors, flags = model.predict(flux, ivar)
    assert flags[0] == 0
    assert flags[1] & FLAG_EDGE  # hotter than anything in the training set
    assert labels[1, 0] > model.train_labels_[:, 0].max()
    assert labels[1, 0] <= model.bounds_[1, 0] + 1e-6
    assert flags[2] == FLAG_FEW_PIXELS and np.isnan(labels[2]).all()


def test_colours_tighten_the_temperature():
    wave = toy_grid(120)
    labels = toy_labels(100, seed=11)
    colors = np.column_stack([-0.2 + (10000 - labels[:, 0]) / 8000, 0.1 * labels[:, 2]])
    flux = toy_spectra(labels, wave)
    model = SlamEmulator().fit(flux, np.full_like(flux, IVAR), labels, colors=colors,
                               color_names=["bp_rp", "g_rp"])
    assert model.color_names_ == ["bp_rp", "g_rp"]
    truth = np.array([[8500.0, 3.4, -1.2]])
    noisy = toy_spectra(truth, wave) + np.random.default_rng(0).normal(0, 0.05, wave.size)
    ivar = np.full_like(noisy, 400.0)
    _, err_plain, _ = model.predict(noisy, ivar)
    tcol = np.array([[-0.2 + 1500 / 8000, -0.12]])
    lab, err_col, _ = model.predict(noisy, ivar, colors=tcol, color_ivar=np.full((1, 2), 1e4))
    assert err_col[0, 0] < 0.7 * err_plain[0, 0]
    assert abs(lab[0, 0] - 8500) < 3 * err_col[0, 0]


def test_bad_training_pixels_are_filled():
    wave = toy_grid(150)
    labels = toy_labels(80, seed=4)
    flux = toy_spectra(labels, wave)
    ivar = np.full_like(flux, IVAR)
    ivar[::7, 40:60] = 0
    flux[::7, 40:60] = np.nan
    model = SlamEmulator().fit(flux, ivar, labels)
    truth = toy_spectra(labels[::7], wave)
    assert np.abs(model.predict_spectra(labels[::7]) - truth).max() < 0.01


def test_bad_arguments_raise():
    with pytest.raises(ConfigurationError, match="labels must have shape"):
        SlamEmulator().fit(np.ones((5, 10)), np.ones((5, 10)), np.ones((5, 2)))
    with pytest.raises(ConfigurationError, match="not fitted"):
        SlamEmulator().predict(np.ones((1, 10)), np.ones((1, 10)))
    with pytest.raises(ConfigurationError, match="no parameter"):
        SlamEmulator().set_params(gamma=3)


def test_fast_leave_one_out_equals_refitting():
    wave = toy_grid(120)
    labels = toy_labels(60, seed=8)
    flux = toy_spectra(labels, wave)
    ivar = np.full_like(flux, IVAR)
    model = SlamEmulator(length_scale=[1.5, 1.5, 2.0], alpha=1e-3, optimize=False)
    model.fit(flux, ivar, labels)
    rows = np.array([5, 17, 33])
    rng = np.random.default_rng(4)
    obs = _inner(labels[rows])
    data = toy_spectra(obs, wave) + rng.normal(0, 0.01, (3, wave.size))
    weight = np.full_like(data, 1e4)
    ys = (flux - model.flux_mean_) / model.flux_scale_
    fast = model._from_z(loo_invert(model, data, weight, rows, ys, model.length_scale_,
                                    model.alpha_))
    for j, i in enumerate(rows):
        keep = np.arange(len(labels)) != i
        fold = SlamEmulator(length_scale=[1.5, 1.5, 2.0], alpha=1e-3, optimize=False,
                            model_error=False).fit(flux[keep], ivar[keep], labels[keep])
        # same standardisation as the full model, so that the two folds are the same function
        fold.label_mean_, fold.label_scale_ = model.label_mean_, model.label_scale_
        fold.flux_mean_, fold.flux_scale_ = model.flux_mean_, model.flux_scale_
        fold.train_z_ = model.train_z_[keep]
        kern = kernel_matrix(fold.train_z_, fold.train_z_, fold.length_scale_, 1.0, 1)[0]
        fold.weights_ = np.linalg.solve(kern + 1e-3 * np.eye(len(kern)), ys[keep])
        probe = np.array([[8000.0, 3.3, -1.0], obs[j]])
        fold_flux = fold.predict_spectra(probe)
        z = model._to_z(probe)
        kfull = kernel_matrix(z, model.train_z_, model.length_scale_, 1.0, 1)[0]
        cinv = np.linalg.inv(kernel_matrix(model.train_z_, model.train_z_, model.length_scale_,
                                           1.0, 1)[0] + 1e-3 * np.eye(len(labels)))
        amat = cinv @ ys
        a_i = amat - np.outer(cinv[:, i], amat[i]) / cinv[i, i]
        assert np.allclose(model.flux_mean_ + model.flux_scale_ * (kfull @ a_i), fold_flux,
                           atol=1e-8)
        fold._z_bounds, fold._z_range = model._z_bounds, model._z_range
        fold.train_flux_ = fold._predict_z(fold.train_z_)
        refit = fold.predict(data[j:j + 1], weight[j:j + 1])[0][0]
        assert np.allclose(fast[j], refit, rtol=1e-4, atol=1e-4)


def test_label_objective_and_robust_star_noise():
    wave = toy_grid(100)
    labels = toy_labels(70, seed=9)
    flux = toy_spectra(labels, wave)
    wrong = labels.copy()
    wrong[3] = [10500.0, 2.6, -0.1]  # one star with labels that do not match its spectrum
    model = SlamEmulator(robust_clip=1.5, objective="labels").fit(
        flux, np.full_like(flux, IVAR), wrong)
    assert model.star_noise_[3] > 10 * np.median(model.star_noise_)
    assert np.all(np.isfinite(model.length_scale_)) and model.alpha_ > 0
    found, _, _ = model.predict(toy_spectra(np.array([[8500.0, 3.5, -1.0]]), wave),
                                np.full((1, wave.size), IVAR))
    assert abs(found[0, 0] - 8500) < 50
    with pytest.raises(ConfigurationError, match="objective"):
        SlamEmulator(objective="magic")


def test_multi_start_never_ends_at_a_higher_cost(trained):
    model, wave = trained
    truth = toy_labels(30, seed=13)
    rng = np.random.default_rng(5)
    flux = toy_spectra(truth, wave) + rng.normal(0, 0.03, (30, wave.size))
    ivar = np.full_like(flux, 0.03**-2)
    one = model.predict(flux, ivar, return_details=True)
    three = model.set_params(n_starts=3).predict(flux, ivar, return_details=True)
    model.set_params(n_starts=1)
    from bhbfinder.params.inversion import soft_l1_cost

    weight = 1.0 / (1.0 / ivar + model.model_error_**2)

    def cost(labels):  # with the forward model the inversion uses (``rank_tol``)
        model_flux = model._model_z_reduced(model._to_z(labels))[0]
        return soft_l1_cost((flux - model_flux) * np.sqrt(weight), 3.0)

    # the starts are compared on the float32 search's cost: equal within its precision
    assert np.all(cost(three.labels) <= cost(one.labels) * (1 + 1e-5))
