"""The ``params`` stage (bhbfinder.stages.params)."""

import astropy.units as u
import numpy as np
import pytest

from bhbfinder.batch import PreparedBatch, meta_table
from bhbfinder.errors import ConfigurationError, PreprocessingMismatchError
from bhbfinder.params.emulator import SlamEmulator
from bhbfinder.stages.params import PARAMS_COLUMNS, ParamsStage

from ._params_helpers import toy_grid, toy_labels, toy_model, toy_spectra


@pytest.fixture(scope="module")
def model():
    return toy_model(90, seed=0)


def _batch(wave, labels, statuses):
    flux = toy_spectra(labels, wave).astype(np.float32)
    ivar = np.full_like(flux, 1e4)
    meta = meta_table([{"file": f"s{i}"} for i in range(len(labels))], statuses)
    return PreparedBatch(wave, flux, ivar, np.zeros(flux.shape, bool), meta)


def test_stage_columns_units_and_masking(model):
    wave = model.meta["wavelength"]
    truth = np.array([[8000.0, 3.2, -1.5], [9000.0, 4.0, -0.5], [9500.0, 3.5, -1.0]])
    batch = _batch(wave, truth, ["ok", "read failed: bad file", "ok"])
    batch.ivar[2, :] = 0  # nothing usable left
    table = ParamsStage(model=model).run(batch)
    assert table.colnames == list(PARAMS_COLUMNS)
    assert len(table) == 3
    assert table["teff"].unit == u.K and table["logg"].unit == u.dex
    assert all(table[name].description for name in table.colnames)
    assert abs(table["teff"][0] - 8000) < 20 and abs(table["feh"][0] + 1.5) < 0.02
    assert not table["teff"].mask[0]
    assert table["teff"].mask[1] and table["params_flags"].mask[1]
    assert table["teff"].mask[2] and table["params_flags"][2] == 4


def test_stage_rejects_another_grid(model):
    wave = toy_grid(151)
    batch = _batch(wave, np.array([[8000.0, 3.2, -1.5]]), ["ok"])
    with pytest.raises(PreprocessingMismatchError, match="grid"):
        ParamsStage(model=model).run(batch)


def test_stage_from_file_and_registry(model, tmp_path):
    from bhbfinder.stages import get_stage

    path = tmp_path / "m.asdf"
    model.save(path)
    stage = get_stage("params", "slam-emulator", model=str(path))
    assert isinstance(stage, ParamsStage)
    batch = _batch(model.meta["wavelength"], np.array([[8800.0, 3.0, -2.0]]), ["ok"])
    assert abs(stage.run(batch)["logg"][0] - 3.0) < 0.01


def test_shipped_default_model_matches_default_preparation():
    from bhbfinder.spectra.prepare import PrepareConfig

    stage = ParamsStage()
    assert stage.prepare_config == PrepareConfig()
    assert np.allclose(stage.model.meta["wavelength"], PrepareConfig().grid.wavelength)
    scatter = stage.model.meta["validation"]["scatter"]
    assert set(scatter) == {"teff", "logg", "feh"} and scatter["teff"]["n"] > 50
    lo, hi = stage.model.bounds_[:, 0]
    assert lo < 6600 and hi > 12800
    # 6500 and 13000 K are inside the training domain, not at its edge
    teff = stage.model.train_labels_[:, 0]
    assert (teff < 6400).sum() >= 20 and (teff > 13500).sum() >= 5


def test_shipped_model_errors_cover_held_out_stars():
    """The validation stored in the shipped model: cross-fitted calibrated errors of held-out
    field renderings cover the published labels in 68 +- 7 % of cases, per label, where the
    formal errors alone covered 9-16 %."""
    model = ParamsStage().model
    assert model.error_model_ is not None
    scores = model.meta["validation"]["scores"]
    for key in ("field 7000-10000 K S/N>=30", "field 6000-7000 K S/N>=30",
                "noiseless 7000-10000 K S/N>=30"):
        for label in ("teff", "logg", "feh"):
            assert scores[key][label]["n"] > 200
            assert 0.61 <= scores[key][label]["coverage"] <= 0.75, (key, label)
    # one calibration per fold, each fitted without that fold's residuals
    folds = model.meta["validation"]["fold_error_models"]
    assert sorted(folds) == ["0", "1", "2", "3", "4"]
    # calibrated errors are larger than the formal ones and grow with the noise
    labels = np.array([[8500.0, 3.2, -1.5]] * 2)
    formal = np.array([[20.0, 0.05, 0.05], [200.0, 0.5, 0.5]])
    err = model.error_model_.apply(labels, formal)
    assert np.all(err > formal) and np.all(err[1] > err[0])


@pytest.mark.realdata
def test_default_stage_on_prepared_miles_stars(shared_data):
    from bhbfinder.simulate import SimulationConfig, load_miles, simulate_rows
    from bhbfinder.spectra.prepare import PrepareConfig, prepare

    lib = load_miles(shared_data / "miles")
    teff = np.asarray(lib.labels["teff"], float)
    rows = np.flatnonzero((teff > 7500) & (teff < 9500))[:6]
    sims = simulate_rows(lib, rows, 5, SimulationConfig(rv=0.0), rv=np.zeros(rows.size),
                         snr=np.full(rows.size, 80.0))
    prepared = prepare(sims.to_raw_batch(), PrepareConfig())
    table = ParamsStage().run(prepared)
    assert len(table) == rows.size
    ok = ~table["teff"].mask
    assert ok.sum() >= 5
    # library stars, new noise: within twice the model's recorded leave-one-out scatter
    sigma = ParamsStage().model.meta["validation"]["scatter"]["teff"]["robust_sigma"]
    found = np.asarray(table["teff"])[ok]
    assert np.median(np.abs(found - teff[rows][ok])) < 2 * sigma
    assert np.all(np.asarray(table["teff_err"])[ok] > 0)


@pytest.mark.realdata
def test_shipped_model_infers_hot_stars_through_its_hot_kernel(shared_data):
    """Known answer: the shipped model has separate cool and hot kernels (split at
    ``split_teff``); a MILES star well above the blend zone is fitted by the hot kernel alone,
    one well below by the cool kernel alone, and each lands on its own side."""
    from bhbfinder.simulate import SimulationConfig, load_miles, simulate_rows
    from bhbfinder.spectra.prepare import PrepareConfig, prepare

    model = ParamsStage().model
    assert model.kernels_ is not None
    lo, hi = model.split_teff
    lib = load_miles(shared_data / "miles")
    teff = np.asarray(lib.labels["teff"], float)
    hot = np.flatnonzero(teff > hi + 1500)[:3]
    cool = np.flatnonzero((teff > 7000) & (teff < lo - 1500))[:3]
    rows = np.r_[hot, cool]
    sims = simulate_rows(lib, rows, 7, SimulationConfig(rv=0.0), rv=np.zeros(rows.size),
                         snr=np.full(rows.size, 80.0))
    prepared = prepare(sims.to_raw_batch(), PrepareConfig())
    res = model.predict(prepared.flux, prepared.ivar, mask=prepared.mask, return_details=True)
    side = np.r_[np.ones(hot.size), np.zeros(cool.size)]
    assert np.array_equal(res.hot_weight, side)
    assert np.all(res.labels[: hot.size, 0] > hi) and np.all(res.labels[hot.size:, 0] < lo)
    # each side's labels are that kernel's fit: its own inversion (from its own start) agrees
    for name, part in (("hot", slice(0, hot.size)), ("cool", slice(hot.size, None))):
        own = model.kernels_[name].predict(prepared.flux[part], prepared.ivar[part],
                                           mask=prepared.mask[part])[0]
        assert np.all(np.abs(res.labels[part] - own) <= [150.0, 0.1, 0.1]), name


@pytest.mark.realdata
def test_default_stage_on_real_lamost_a_stars(shared_data):
    """Real DR1 A stars through read → prepare → params, against the LAMOST pipeline (LASP)."""
    from astropy.table import Table

    from bhbfinder.io.read import read_batch
    from bhbfinder.spectra.prepare import PrepareConfig, prepare

    folder = shared_data / "lamost" / "dr1"
    catalog = Table.read(folder / "my_data3_DR1_catalog_subset.csv")
    lasp = {str(row["filename"]): (row["teff"], row["logg"]) for row in catalog}
    files = sorted(p for p in folder.glob("spec-*.fits*") if p.name in lasp)[:15]
    prepared = prepare(read_batch([str(p) for p in files]), PrepareConfig())
    table = ParamsStage().run(prepared)
    ref = np.array([lasp[p.name] for p in files], float)
    good = ~np.ma.getmaskarray(table["teff"]) & (ref[:, 0] > 6500) & (ref[:, 0] < 10000)
    assert good.sum() >= 8
    dteff = np.asarray(table["teff"])[good] - ref[good, 0]
    dlogg = np.asarray(table["logg"])[good] - ref[good, 1]
    assert np.median(np.abs(dteff)) < 500
    assert np.median(np.abs(dlogg)) < 0.5


def _colour_model():
    wave = toy_grid(120)
    labels = toy_labels(90, seed=3)
    flux = toy_spectra(labels, wave)
    bp_rp = -0.2 + (10000 - labels[:, 0]) / 8000
    model = SlamEmulator().fit(flux, np.full_like(flux, 1e4), labels, colors=bp_rp[:, None],
                               color_names=["bp_rp"], wavelength=wave)
    truth = np.array([[8500.0, 3.4, -1.2]] * 4)
    batch = _batch(wave, truth, ["ok"] * 4)
    noise = np.random.default_rng(1).normal(0, 0.05, batch.flux.shape[1])
    batch.flux += noise.astype(np.float32)        # the same spectrum in every row
    batch.ivar[:] = 400.0
    return model, batch, -0.2 + 1500 / 8000


def test_stage_uses_colour_columns_when_the_model_has_colours():
    model, batch, intrinsic = _colour_model()
    batch.meta["bp_rp"] = np.ma.masked_array([intrinsic, 0.0, intrinsic, 0.0],
                                             mask=[False, True, False, True])
    batch.meta["bp_rp_err"] = [0.005] * 4
    table = ParamsStage(model=model).run(batch)
    # row 0 has the colour, row 1 (masked colour) has only its spectrum
    assert table["teff_err"][0] < 0.7 * table["teff_err"][1]


def test_default_stage_refuses_batches_prepared_otherwise():
    from bhbfinder.spectra.prepare import PrepareConfig

    stage = ParamsStage()
    wave = stage.model.meta["wavelength"]
    flux = np.ones((1, wave.size), np.float32)
    meta = meta_table([{"file": "x"}])
    batch = PreparedBatch(wave, flux, np.ones_like(flux), np.zeros(flux.shape, bool), meta)
    with pytest.raises(PreprocessingMismatchError, match="no preprocessing configuration"):
        stage.run(batch)
    batch.config = PrepareConfig(fill="one")
    with pytest.raises(PreprocessingMismatchError, match="fill"):
        stage.run(batch)
    batch.config = PrepareConfig()
    assert len(stage.run(batch)) == 1


def test_stage_dereddens_colours_with_the_ebv_column():
    model, batch, intrinsic = _colour_model()
    ebv = 0.2
    reddened = intrinsic + 1.339 * ebv          # E(BP-RP) / E(B-V) of Casagrande & VandenBerg
    batch.meta["bp_rp"] = [intrinsic, reddened, reddened, reddened]
    batch.meta["bp_rp_err"] = [0.005] * 4
    batch.meta["ebv"] = np.ma.masked_array([0.0, ebv, ebv, 0.0], mask=[False, False, True, False])
    batch.meta["ebv_err"] = [0.0, 0.0, 0.0, 0.0]
    table = ParamsStage(model=model).run(batch)
    teff = np.asarray(table["teff"])
    # dereddened by the column: the same fit as the intrinsic colour (same spectrum)
    assert teff[1] == pytest.approx(teff[0], abs=1.0)
    # a reddened colour taken at face value (E(B-V) = 0) reads cooler
    assert teff[3] < teff[0] - 100
    # masked reddening: the colour is not used, so the error is the spectrum's alone
    assert table["teff_err"][2] > 1.4 * table["teff_err"][0]
    # without the ebv column the colours are taken as dereddened
    table = ParamsStage(model=model, ebv_column=None).run(batch)
    assert np.asarray(table["teff"])[1] < teff[0] - 100


def test_stage_weights_colours_by_the_reddening_error():
    model, batch, intrinsic = _colour_model()
    batch.meta["bp_rp"] = [intrinsic + 1.339 * 0.1] * 3 + [np.nan]
    batch.meta["bp_rp_err"] = [0.005] * 4
    batch.meta["ebv"] = [0.1, 0.1, 0.1, 0.1]
    batch.meta["ebv_err"] = [0.0, 0.05, 5.0, 0.0]
    err = np.asarray(ParamsStage(model=model).run(batch)["teff_err"])
    assert err[0] < err[1] < err[2]
    # a reddening known to +-5 mag leaves the colour without weight: as no colour at all
    assert err[2] == pytest.approx(err[3], rel=0.02)
    # without an error column, 16 % of E(B-V) (Schlegel et al. 1998)
    batch.meta.remove_column("ebv_err")
    err16 = np.asarray(ParamsStage(model=model).run(batch)["teff_err"])
    err16b = np.asarray(ParamsStage(model=model, ebv_relative_error=0.0).run(batch)["teff_err"])
    assert err16b[0] == pytest.approx(err[0], rel=1e-6)
    assert err16[0] > err16b[0]


def test_stage_refuses_a_colour_without_an_extinction_coefficient():
    model, _, _ = _colour_model()
    model.color_names_ = ["w1_w2"]
    with pytest.raises(ConfigurationError, match="no extinction coefficient.*w1_w2"):
        ParamsStage(model=model)
    stage = ParamsStage(model=model, extinction_coefficients={"w1_w2": 0.1})
    assert stage.extinction_coefficients == {"w1_w2": 0.1}
    assert ParamsStage(model=model, ebv_column=None).ebv_column is None
