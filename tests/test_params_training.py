"""Validation helpers of bhbfinder.params.training (nested leave-one-star-out)."""

import numpy as np

from bhbfinder.params.emulator import SlamEmulator
from bhbfinder.params.training import (
    MilesLibrary,
    leave_one_star_out,
    nested_leave_one_star_out,
    scatter_table,
)

from ._params_helpers import toy_grid, toy_labels, toy_spectra

IVAR = 1e4
HYPER = {"objective": "flux", "robust_clip": None}


def _library(labels, wave):
    flux = toy_spectra(labels, wave)
    return MilesLibrary(wave, flux, np.full_like(flux, IVAR), labels,
                        np.array([f"toy {i}" for i in range(len(labels))]), {}, {})


def _setup():
    wave = toy_grid(100)
    labels = toy_labels(45, seed=21)
    inner = np.flatnonzero((labels[:, 0] > 7600) & (labels[:, 0] < 10400)
                           & (labels[:, 1] > 2.8) & (labels[:, 1] < 4.2))[:6]
    rng = np.random.default_rng(5)
    obs = toy_spectra(labels, wave) + rng.normal(0, 0.01, (len(labels), wave.size))
    return wave, labels, inner, obs


def test_nested_loo_recovers_labels_and_matches_plain_folds():
    wave, labels, test, obs = _setup()
    lib = _library(labels, wave)
    ivar = np.full_like(obs, IVAR)
    found, errors, flags, tuned = nested_leave_one_star_out(lib, None, obs, ivar, test, HYPER,
                                                            n_groups=2)
    assert found.shape == (test.size, 3) and np.all(np.isfinite(found))
    stats = scatter_table(found, labels[test])
    assert stats["teff"]["std"] < 150 and stats["logg"]["std"] < 0.15
    # the groups partition the test stars; each star's answer is a plain fold with its group's
    # hyper-parameters
    rows = sorted(r for group in tuned for r in group["rows"])
    assert rows == sorted(test.tolist())
    group = tuned[0]
    fixed = dict(HYPER, length_scale=group["length_scale"], alpha=group["alpha"], optimize=False)
    star = group["rows"][0]
    again, _, _ = leave_one_star_out(lambda: SlamEmulator(**fixed), lib, obs, ivar, [star])
    assert np.allclose(again[0], found[list(test).index(star)])


def test_nested_hyperparameters_never_see_their_group():
    wave, labels, test, obs = _setup()
    ivar = np.full_like(obs, IVAR)
    _, _, _, tuned = nested_leave_one_star_out(_library(labels, wave), None, obs, ivar, test,
                                               HYPER, n_groups=2)
    # give a star of group 0 absurd log g and [Fe/H] (same Teff, so the same groups): group 0's
    # hyper-parameters must not move (tuned without it), group 1's do (it is in their tuning)
    wrong = labels.copy()
    wrong[tuned[0]["rows"][0], 1:] = [2.5, 0.0] if labels[tuned[0]["rows"][0], 1] > 3.5 \
        else [4.5, -2.5]
    _, _, _, tuned_wrong = nested_leave_one_star_out(_library(wrong, wave), None, obs, ivar,
                                                     test, HYPER, n_groups=2)
    assert np.allclose(tuned_wrong[0]["length_scale"], tuned[0]["length_scale"])
    assert np.isclose(tuned_wrong[0]["alpha"], tuned[0]["alpha"])
    assert not np.allclose(np.r_[tuned_wrong[1]["length_scale"], tuned_wrong[1]["alpha"]],
                           np.r_[tuned[1]["length_scale"], tuned[1]["alpha"]])
