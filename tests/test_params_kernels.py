"""Separate cool and hot kernels of the params emulator (``SlamEmulator(split_teff=...)``)."""

import asdf
import numpy as np
import pytest

from bhbfinder.errors import ConfigurationError, ModelFileError
from bhbfinder.params.emulator import SlamEmulator

from ._params_helpers import toy_grid, toy_labels, toy_spectra

IVAR = 1e4
SPLIT = (8500.0, 9500.0)


@pytest.fixture(scope="module")
def toy():
    wave = toy_grid(200)
    labels = toy_labels(160, seed=1)
    flux = toy_spectra(labels, wave)
    return wave, labels, flux


@pytest.fixture(scope="module")
def split(toy):
    wave, labels, flux = toy
    model = SlamEmulator(split_teff=SPLIT, split_pad=500.0).fit(
        flux, np.full_like(flux, IVAR), labels, wavelength=wave,
        prepare_config={"grid": "toy", "npix": 200})
    return model


def test_each_side_is_fitted_on_its_own_stars(split, toy):
    _, labels, _ = toy
    cool, hot = split.kernels_["cool"], split.kernels_["hot"]
    assert cool.train_labels_[:, 0].max() <= SPLIT[1] + 500.0
    assert hot.train_labels_[:, 0].min() >= SPLIT[0] - 500.0
    assert len(cool.train_labels_) + len(hot.train_labels_) > len(labels)  # they overlap
    assert cool.kernels_ is None and hot.kernels_ is None
    assert cool.tune_teff[1] == SPLIT[1] and hot.tune_teff[0] == SPLIT[0]
    # each side tuned its own kernel
    assert not np.allclose(cool.length_scale_, hot.length_scale_)


@pytest.mark.parametrize("side, teff, other", [("hot", 10300.0, "cool"),
                                               ("cool", 7600.0, "hot")])
def test_a_spectrum_is_inferred_through_the_kernel_of_its_side(split, side, teff, other):
    """Known answer: a spectrum made by one side's kernel comes back exactly only through that
    kernel; the other side's kernel alone reads it differently."""
    truth = np.array([[teff, 3.4, -1.2], [teff + 150.0, 4.0, -0.6]])
    flux = split.predict_spectra(truth, kernel=side)
    ivar = np.full_like(flux, IVAR)
    res = split.predict(flux, ivar, return_details=True)
    assert np.allclose(res.labels[:, 0], truth[:, 0], atol=0.5)
    assert np.allclose(res.labels[:, 1:], truth[:, 1:], atol=1e-3)
    assert np.all(res.hot_weight == (1.0 if side == "hot" else 0.0))
    assert np.all(res.flags == 0)
    assert np.all(np.isfinite(res.label_err)) and np.all(res.label_err > 0)
    wrong = split.kernels_[other].predict(flux, ivar)[0]
    off = np.abs(wrong - truth) / [1.0, 1e-3, 1e-3]
    assert off.max() > 10.0  # the other kernel is a different model there


def test_blend_zone_mixes_both_fits(split):
    truth = np.array([[9000.0, 3.6, -1.0]])
    flux = split.predict_spectra(truth)  # the blended model
    ivar = np.full_like(flux, IVAR)
    res = split.predict(flux, ivar, return_details=True)
    assert 0.0 < res.hot_weight[0] < 1.0
    cool = split.kernels_["cool"].predict(flux, ivar, return_details=True)
    hot = split.kernels_["hot"].predict(flux, ivar, return_details=True)
    lo = np.minimum(cool.labels, hot.labels) - 1e-6 * np.abs(truth)
    hi = np.maximum(cool.labels, hot.labels) + 1e-6 * np.abs(truth)
    assert np.all((res.labels >= lo) & (res.labels <= hi))
    # the mixture's formal variance is at least the smaller of the two fits'
    assert np.all(res.formal_err >= np.minimum(cool.formal_err, hot.formal_err) * (1 - 1e-6))


def test_blended_jacobian_matches_finite_differences(split):
    x = np.array([[8600.0, 3.3, -1.4], [9100.0, 4.1, -0.3], [10200.0, 3.0, -2.0]])
    jac = split.jacobian(x)
    steps = np.array([0.5, 1e-4, 1e-4])
    for d in range(3):
        up, down = x.copy(), x.copy()
        up[:, d] += steps[d]
        down[:, d] -= steps[d]
        numeric = (split.predict_spectra(up) - split.predict_spectra(down)) / (2 * steps[d])
        assert np.allclose(jac[:, d], numeric, rtol=1e-4, atol=1e-6)


def test_split_model_save_load_round_trip(split, toy, tmp_path):
    wave, _, _ = toy
    path = tmp_path / "split.asdf"
    split.save(path)
    with asdf.open(path, lazy_load=False, memmap=False) as af:
        assert af.tree["format_version"] == 2
        assert set(af.tree["kernels"]) == {"cool", "hot"}
    again = SlamEmulator.load(path)
    assert again.split_teff == list(SPLIT) and again.split_pad == 500.0
    truth = toy_labels(12, seed=3)
    flux = toy_spectra(truth, wave) + np.random.default_rng(2).normal(0, 0.01, (12, wave.size))
    ivar = np.full_like(flux, IVAR)
    a = split.predict(flux, ivar, return_details=True)
    b = again.predict(flux, ivar, return_details=True)
    for key in ("labels", "label_err", "flags", "reduced_chi2", "hot_weight"):
        assert np.array_equal(getattr(a, key), getattr(b, key), equal_nan=True), key
    for name in ("cool", "hot"):
        assert np.array_equal(again.kernels_[name].weights_, split.kernels_[name].weights_)


def test_single_kernel_files_stay_version_1_and_old_files_load(toy, tmp_path):
    """A file written before the kernels existed (version 1, no split keys) still loads and
    infers exactly as the model that wrote it."""
    wave, labels, flux = toy
    single = SlamEmulator().fit(flux, np.full_like(flux, IVAR), labels, wavelength=wave)
    path = tmp_path / "single.asdf"
    single.save(path)
    with asdf.open(path, lazy_load=False, memmap=False) as af:
        tree = dict(af.tree)
    assert tree["format_version"] == 1 and "kernels" not in tree
    tree["hyperparams"] = {k: v for k, v in tree["hyperparams"].items()
                           if k not in ("split_teff", "split_pad")}
    old = tmp_path / "old.asdf"
    asdf.AsdfFile(tree).write_to(old)
    again = SlamEmulator.load(old)
    assert again.kernels_ is None and again.split_teff is None
    truth = toy_labels(8, seed=4)
    spectra = toy_spectra(truth, wave)
    ivar = np.full_like(spectra, IVAR)
    for a, b in zip(single.predict(spectra, ivar), again.predict(spectra, ivar), strict=True):
        assert np.array_equal(a, b, equal_nan=True)
    assert again.predict(spectra, ivar, return_details=True).hot_weight is None


def test_split_file_without_its_kernels_is_refused(split, tmp_path):
    path = tmp_path / "split.asdf"
    split.save(path)
    with asdf.open(path, lazy_load=False, memmap=False) as af:
        tree = dict(af.tree)
    del tree["kernels"]
    broken = tmp_path / "broken.asdf"
    asdf.AsdfFile(tree).write_to(broken)
    with pytest.raises(ModelFileError, match="kernels"):
        SlamEmulator.load(broken)
    tree["kernels"] = {"cool": {"hyperparams": {}}, "hot": {}}
    asdf.AsdfFile(tree).write_to(broken)
    with pytest.raises(ModelFileError, match="incomplete"):
        SlamEmulator.load(broken)


def test_bad_split_arguments(toy):
    wave, labels, flux = toy
    with pytest.raises(ConfigurationError, match="split_teff"):
        SlamEmulator(split_teff=(10000.0, 9000.0))
    with pytest.raises(ConfigurationError, match="hot kernel"):
        SlamEmulator(split_teff=(10900.0, 11000.0), split_pad=0.0).fit(
            flux, np.full_like(flux, IVAR), labels)
    single = SlamEmulator(optimize=False).fit(flux, np.full_like(flux, IVAR), labels)
    with pytest.raises(ConfigurationError, match="one kernel"):
        single.predict_spectra(labels[:2], kernel="hot")
    with pytest.raises(ConfigurationError, match="kernel="):
        single.predict_spectra(labels[:2], kernel="warm")
