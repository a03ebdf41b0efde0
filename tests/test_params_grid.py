"""The params model's wavelength range option (bhbfinder.training.params_recipe, issue 16)."""

import numpy as np
import pytest

from bhbfinder.errors import PreprocessingMismatchError
from bhbfinder.spectra.continuum import DEFAULT_LINE_MASKS
from bhbfinder.spectra.prepare import PrepareConfig
from bhbfinder.training.params_recipe import (
    PARAMS_GRIDS,
    WIDE_LINE_MASKS,
    params_prepare_config,
)


def _mask_names(config):
    return [m[0] for m in config.continuum.line_masks]


def test_default_params_preparation_is_the_package_default():
    assert params_prepare_config() == PrepareConfig()
    assert params_prepare_config("blue-3800-5000") == PrepareConfig()
    assert "Mg_b" not in _mask_names(PrepareConfig())


def test_wider_grids_reach_mg_b_and_mask_it():
    wide = params_prepare_config("3800-5600")
    w = wide.grid.wavelength
    assert w[0] == pytest.approx(3800.0) and 5595.0 < w[-1] <= 5600.0
    assert wide.grid.npix > 1.4 * PrepareConfig().grid.npix
    assert _mask_names(wide) == [m[0] for m in DEFAULT_LINE_MASKS + WIDE_LINE_MASKS]
    assert wide.continuum.degree == PrepareConfig().continuum.degree
    # everything but the grid and the continuum masks as the package default
    assert wide.rv == PrepareConfig().rv and wide.clean == PrepareConfig().clean
    blue = params_prepare_config("3700-5600", continuum_degree=7)
    assert blue.grid.wavelength[0] == pytest.approx(3700.0) and blue.continuum.degree == 7
    assert blue.grid.name != wide.grid.name
    # a model file stores the config as a dict: the grid survives the round trip
    again = PrepareConfig.from_dict(wide.to_dict())
    assert again == wide and np.array_equal(again.grid.wavelength, w)
    assert set(PARAMS_GRIDS) >= {"blue-3800-5000", "3800-5600", "3700-5600"}


@pytest.mark.realdata
def test_recipe_on_the_wider_grid_trains_and_runs_there(shared_data):
    from bhbfinder.params.emulator import SlamEmulator
    from bhbfinder.params.training import MilesTrainingConfig
    from bhbfinder.pipeline import Pipeline
    from bhbfinder.stages import DEFAULT_STAGES
    from bhbfinder.stages.params import ParamsStage
    from bhbfinder.training.heldout import FoldPlan, load_real_templates, render_stars
    from bhbfinder.training.material import params_training_material
    from bhbfinder.training.params_heldout import (
        FIELD_SIMULATION,
        params_test_stars,
        render_prepared,
    )

    from .fakestages import STAGES

    wide = params_prepare_config("3800-5600")
    library, star_ids, _ = params_training_material(
        shared_data, MilesTrainingConfig(n_realisations=1, teff_range=(7500.0, 10500.0)),
        prepare_config=wide)
    assert library.flux.shape[1] == wide.grid.npix
    assert library.wavelength.max() > 5590.0
    assert PrepareConfig.from_dict(library.prepare_config) == wide
    # what train_default_params_model does with the library (fixed kernel to keep it quick)
    model = SlamEmulator(optimize=False, length_scale=[0.6, 1.0, 2.0], alpha=0.1).fit(
        library.flux, library.ivar, library.labels, wavelength=library.wavelength,
        prepare_config=library.prepare_config)
    assert model.meta["wavelength"].max() > 5590.0
    assert model.meta["prepare_config"]["grid"]["wave_max"] == 5600.0
    assert "Mg_b" in [m[0] for m in model.meta["prepare_config"]["continuum"]["line_masks"]]

    stage = ParamsStage(model=model)
    assert stage.prepare_config == wide
    libs = load_real_templates(shared_data, sources=("miles",))
    plan = FoldPlan.build(libs, n_folds=5, seed=0)
    stars = params_test_stars(plan, (8000.0, 9500.0))[:4]
    # the stage refuses spectra prepared on the classifier's (default) grid ...
    with pytest.raises(PreprocessingMismatchError):
        stage.run(render_prepared(libs, stars, seed=1, per_star=1))
    # ... and the pipeline prepares for it: its own grid beside the classifier's default
    raw = render_stars(libs, stars, seed=1, per_star={c: 1 for c in (
        "BHB", "A", "B", "HotSD", "WD", "other")}, simulation=FIELD_SIMULATION).to_raw_batch()
    pipe = Pipeline(stages=dict(STAGES, prepare=DEFAULT_STAGES["prepare"], params=stage),
                    params_classes=None)
    table = pipe.process(raw)
    assert len(table) == len(raw) == len(stars)
    assert np.isfinite(np.asarray(table["teff"], float)).all()
    assert np.isfinite(np.asarray(table["feh"], float)).all()
    direct = stage.run(render_prepared(libs, stars, seed=1, per_star=1, prepare_config=wide))
    assert np.allclose(np.asarray(table["teff"], float), np.asarray(direct["teff"], float),
                       rtol=1e-6)


def test_default_recipe_prepares_its_library_with_the_given_grid(monkeypatch):
    from bhbfinder.training import params_recipe

    seen = {}

    def material(data_dir, config=None, prepare_config=None):
        seen["prepare_config"] = prepare_config
        raise RuntimeError("stop after the library")

    monkeypatch.setattr(params_recipe, "params_training_material", material)
    wide = params_prepare_config("3800-5600")
    with pytest.raises(RuntimeError, match="stop after"):
        params_recipe.train_default_params_model("nowhere", prepare_config=wide)
    assert seen["prepare_config"] == wide
    with pytest.raises(RuntimeError, match="stop after"):
        params_recipe.train_default_params_model("nowhere")
    assert seen["prepare_config"] is None  # the package default, as shipped
