"""Held-out evaluation of the params stage (bhbfinder.training.params_heldout, params_recipe)."""

import numpy as np
import pytest
from astropy.table import Table

from bhbfinder.errors import ConfigurationError
from bhbfinder.training.params_heldout import (
    NOISELESS_IVAR_SNR,
    VARIANTS,
    coverage,
    params_scores,
    variant_simulation,
)


def _rows(found, err, truth, snr, variant="field", doubtful=None):
    n = len(found)
    t = Table({"variant": [variant] * n, "fold": np.zeros(n, int),
               "star_id": [f"S{i % 5}" for i in range(n)],
               "doubtful": np.zeros(n, bool) if doubtful is None else doubtful,
               "snr": np.asarray(snr, float), "params_flags": np.zeros(n, int)})
    for j, key in enumerate(("teff", "logg", "feh")):
        t[key] = found[:, j]
        t[key + "_err"] = err[:, j]
        t["true_" + key] = truth[:, j]
    return t


def test_scores_known_answers():
    truth = np.tile([8500.0, 3.5, -1.5], (8, 1))
    offsets = np.array([-3, -1, 0, 0, 1, 1, 2, 40.0])
    found = truth + offsets[:, None] * np.array([100.0, 0.1, 0.1])
    err = np.tile([150.0, 0.15, 0.15], (8, 1))
    t = _rows(found, err, truth, snr=[50] * 7 + [20])
    s = params_scores(t, "field", min_snr=30)
    assert s["teff"]["n"] == 7 and s["n_stars"] == 5
    assert s["teff"]["bias"] == pytest.approx(0.0)
    # |offsets| <= 1.5 in 5 of the 7 rows at S/N >= 30
    assert s["logg"]["coverage"] == pytest.approx(5 / 7)
    mad = np.median(np.abs(offsets[:7]))
    assert s["feh"]["robust_sigma"] == pytest.approx(1.4826 * 0.1 * mad)
    assert params_scores(t, "field", min_snr=0)["teff"]["n"] == 8
    assert params_scores(t, "lab")["teff"]["n"] == 0
    assert coverage([1.0, 2.0, np.nan], [0.5, 0.5, 1.0], [1.2, 3.0, 0.0]) == 0.5


def test_variants_and_unknown_names():
    sim, noiseless = variant_simulation("field")
    assert sim["snr"] == (10.0, 80.0) and not noiseless
    sim, noiseless = variant_simulation("no_resolution")
    assert noiseless and sim["blue_fwhm"] is None and sim["rv"] == (-400.0, 400.0)
    assert set(VARIANTS) >= {"field", "noiseless", "lab", "no_rv", "no_tilt"}
    with pytest.raises(ConfigurationError, match="unknown rendering"):
        variant_simulation("studio")


@pytest.mark.realdata
def test_library_of_two_miles_folders_carries_star_ids(shared_data):
    from bhbfinder.params.training import TRAINING_SPREAD, MilesTrainingConfig, miles_library

    config = MilesTrainingConfig(teff_range=(12000.0, 16000.0), n_realisations=1,
                                 more=(("miles_more", "miles_more_labels.csv"),),
                                 simulation=TRAINING_SPREAD)
    lib = miles_library(shared_data / "miles", config)
    assert len(np.unique(lib.star_ids)) == len(lib.star_ids) == len(lib.labels)
    assert all(s.startswith("MILES:") for s in lib.star_ids)
    teff = lib.labels[:, 0]
    assert np.all((teff >= 12000) & (teff <= 16000)) and np.isfinite(lib.labels).all()
    # stars from both folders: miles/ stops at 13000 K, miles_more/ starts above it
    assert (teff <= 13000).any() and (teff > 13000).any()
    assert lib.provenance["training"]["more"] == [["miles_more", "miles_more_labels.csv"]]
    assert lib.provenance["simulation"]["overrides of SimulationConfig(rv=0.0)"][
        "blue_fwhm"] == [2.0, 4.0]
    with pytest.raises(ConfigurationError, match="pair"):
        MilesTrainingConfig(more=(("miles_more",),))


@pytest.mark.realdata
def test_heldout_predictions_use_only_fold_models_that_never_saw_the_star(shared_data):
    from bhbfinder.params.training import MilesTrainingConfig, miles_library
    from bhbfinder.training.folds import train_fold_params
    from bhbfinder.training.heldout import FoldPlan, load_real_templates
    from bhbfinder.training.params_heldout import (
        heldout_params_predictions,
        params_test_stars,
        render_prepared,
    )

    libs = load_real_templates(shared_data, sources=("miles",))
    plan = FoldPlan.build(libs, n_folds=5, seed=0)
    library = miles_library(shared_data / "miles",
                            MilesTrainingConfig(n_realisations=1, teff_range=(7500, 10500)))
    trained = {}

    def fold_model(k):
        model = train_fold_params(plan, k, library, library.star_ids,
                                  hyperparams={"optimize": False, "length_scale": [0.6, 1, 2],
                                               "alpha": 0.1})
        trained[k] = set(library.star_ids[plan.training_mask(library.star_ids, k)])
        return model

    stars = params_test_stars(plan, (8000.0, 9500.0))
    res = heldout_params_predictions(plan, fold_model, libs, stars, ("field", "noiseless"),
                                     per_star=2, folds=[0, 1])
    assert set(res["fold"]) == {0, 1} and set(res["variant"]) == {"field", "noiseless"}
    for k in (0, 1):
        ids = set(np.asarray(res["star_id"][res["fold"] == k]).astype(str))
        assert ids and not ids & trained[k]
        assert ids == set(np.asarray(stars["star_id"])[plan.fold_of(stars["star_id"]) == k])
    ok = res["status"] == "ok"
    assert ok.mean() > 0.9
    assert np.all(np.isfinite(res["teff"][ok])) and np.all(res["teff_formal_err"][ok] > 0)
    field = res[(res["variant"] == "field") & ok]
    assert np.all((field["snr"] >= 10) & (field["snr"] <= 80))
    # noiseless renderings: noise-free flux with the inverse variance of S/N 50
    prepared = render_prepared(libs, stars[:2], seed=3, per_star=1, noiseless=True,
                               simulation=variant_simulation("noiseless")[0])
    snr = np.asarray(prepared.meta["snr_prepared"], float)
    assert np.all((snr > 0.5 * NOISELESS_IVAR_SNR) & (snr < 2 * NOISELESS_IVAR_SNR))
    # their errors are deliberately those of S/N 50 over a noise-free flux: not rescaled
    assert np.all(np.asarray(prepared.meta["ivar_scale"]) == 1.0)
    assert np.all(np.isnan(np.asarray(prepared.meta["noise_ratio"], float)))


@pytest.mark.realdata
def test_fold_models_get_the_calibration_fitted_without_their_fold(shared_data):
    from bhbfinder.params.training import MilesTrainingConfig, miles_library
    from bhbfinder.stages.params import ParamsStage
    from bhbfinder.training.folds import plan_digest, train_fold_params
    from bhbfinder.training.heldout import FoldPlan, load_real_templates

    shipped = ParamsStage().model.meta["validation"]
    library = miles_library(shared_data / "miles",
                            MilesTrainingConfig(n_realisations=1, teff_range=(8000, 9000)))
    fixed = {"optimize": False, "length_scale": [0.6, 1.0, 2.0], "alpha": 0.1}
    plan = FoldPlan.build(load_real_templates(shared_data), n_folds=5, seed=0)
    assert plan_digest(plan) == shipped["plan"]["digest"]
    model = train_fold_params(plan, 3, library, None, hyperparams=fixed)
    assert model.error_model_.to_dict()["floor"] == shipped["fold_error_models"]["3"]["floor"]
    # another plan (other stars per fold): no calibration rather than a leaking one
    other = FoldPlan.build(load_real_templates(shared_data, sources=("miles",)), 5, 0)
    assert train_fold_params(other, 3, library, None, hyperparams=fixed).error_model_ is None
    assert train_fold_params(plan, 3, library, None, hyperparams=fixed,
                             error_model=None).error_model_ is None
    with pytest.raises(ConfigurationError, match="error_model"):
        train_fold_params(plan, 3, library, None, hyperparams=fixed, error_model="shipped")


#: Fits the fold calibrations of the shipped plan in a fresh interpreter and prints them.
_FOLD_ERRORS_SCRIPT = """
import json, sys
from bhbfinder.training.heldout import FoldPlan, load_real_templates
from bhbfinder.training.material import params_training_material
from bhbfinder.training.params_recipe import fold_error_models
libraries = load_real_templates(sys.argv[1])
library, _, _ = params_training_material(sys.argv[1])
models = fold_error_models(FoldPlan.build(libraries, n_folds=5, seed=0), libraries, library)
print(json.dumps({str(k): {key: m.to_dict()[key] for key in ("teff_edges", "scale", "floor")}
                  for k, m in models.items()}))
"""


@pytest.mark.realdata
def test_fold_error_models_of_the_shipped_plan_are_the_shipped_ones(shared_data):
    """Fitted again for the plan the shipped model was validated on, the fold calibrations
    equal the ones it ships (what another plan gets is made the same way); ~3 min.

    In a fresh interpreter on one BLAS thread with OpenBLAS's Haswell kernels, as the shipped
    calibrations were made: the robust error fit turns last-digit differences of the
    emulator's fits into jumps of up to 7 % (a residual crossing its clipping bound), and
    those differences come with the thread count and, on a CPU with AVX-512, with OpenBLAS's
    kernel choice and the arrays' alignment, from run to run."""
    import json
    import os
    import platform
    import subprocess
    import sys

    from bhbfinder.stages.params import ParamsStage

    shipped = ParamsStage().model.meta["validation"]["fold_error_models"]
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    if platform.machine().lower() in ("x86_64", "amd64"):
        env["OPENBLAS_CORETYPE"] = "Haswell"
    out = subprocess.run([sys.executable, "-c", _FOLD_ERRORS_SCRIPT, str(shared_data)],
                         env=env, capture_output=True, text=True, check=True)
    models = json.loads(out.stdout.strip().splitlines()[-1])
    assert sorted(models) == ["0", "1", "2", "3", "4"]
    for k, model in models.items():
        for key in ("teff_edges", "scale", "floor"):
            np.testing.assert_allclose(model[key], shipped[k][key], rtol=1e-6)
