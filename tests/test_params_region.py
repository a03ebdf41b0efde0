"""The label-grid posterior behind ``p_bhb_region`` (bhbfinder.params.region)."""

import numpy as np
import pytest

from bhbfinder.batch import PreparedBatch, meta_table
from bhbfinder.errors import ConfigurationError
from bhbfinder.params.region import LabelGridPosterior
from bhbfinder.stages.params import PARAMS_COLUMNS, ParamsStage
from bhbfinder.verdict.features import FEATURE_NAMES, feature_matrix, in_bhb_region

from ._params_helpers import toy_model, toy_spectra

#: A coarse grid over the toy model's domain (7000-11000 K, log g 2.5-4.5, [Fe/H] -2.5-0).
GRID = {"teff": np.linspace(7000, 11000, 21), "logg": np.linspace(2.5, 4.5, 17),
        "feh": np.linspace(-2.5, 0.0, 11)}


@pytest.fixture(scope="module")
def model():
    return toy_model(120, seed=1)


def _noisy(model, labels, snr, seed=0):
    rng = np.random.default_rng(seed)
    flux = toy_spectra(np.atleast_2d(labels), model.meta["wavelength"])
    flux = flux + rng.normal(0, 1 / snr, flux.shape)
    return flux, np.full_like(flux, snr**2)


def test_chi2_is_the_weighted_sum_of_squares(model):
    post = LabelGridPosterior(model, grid=GRID)
    flux, ivar = _noisy(model, [[8000, 3.0, -1.5], [9500, 4.0, -0.2]], 40)
    mask = np.zeros(flux.shape, bool)
    mask[0, 10:30] = True
    chi2, n_good = post.chi2(flux, ivar, mask)
    assert chi2.shape == (len(post.labels), 2)
    assert list(n_good) == [flux.shape[1] - 20, flux.shape[1]]
    var = 1 / ivar + model.model_error_[:model.n_pixels] ** 2
    for g in (0, 777, len(post.labels) - 1):
        model_flux = model.predict_spectra(post.labels[g])[0]
        direct = ((flux - model_flux) ** 2 / var * ~mask).sum(axis=1)
        assert np.allclose(chi2[g], direct, rtol=1e-4)


def test_region_probability_follows_the_truth(model):
    post = LabelGridPosterior(model, grid=GRID, temper=1.0)
    inside = [[8000, 3.2, -1.6], [8500, 3.3, -2.0]]
    outside = [[9800, 4.2, -0.1], [7500, 4.3, -0.3]]
    assert in_bhb_region(*np.array(inside).T).all()
    assert not in_bhb_region(*np.array(outside).T).any()
    flux, ivar = _noisy(model, inside + outside, 100)
    p = post.region_probability(flux, ivar, in_bhb_region)
    assert (p[:2] > 0.9).all() and (p[2:] < 0.1).all()


def test_tempering_spreads_the_posterior_towards_the_prior(model):
    flux, ivar = _noisy(model, [[8000, 3.1, -1.6], [9800, 4.2, -0.1]], 60)
    prior = in_bhb_region(*LabelGridPosterior(model, grid=GRID).labels.T).mean()
    ps = [LabelGridPosterior(model, grid=GRID, temper=t).region_probability(
          flux, ivar, in_bhb_region) for t in (1.0, 30.0, 1e12)]
    # more tempering moves each spectrum's probability monotonically towards the region's
    # share of the grid, which an infinitely tempered posterior equals
    assert ps[0][0] > ps[1][0] > ps[2][0] and ps[0][1] < ps[1][1] < ps[2][1]
    assert np.allclose(ps[2], prior, atol=1e-6)


def test_region_arguments_are_checked(model):
    with pytest.raises(ConfigurationError, match="temper"):
        LabelGridPosterior(model, temper=0)
    with pytest.raises(ConfigurationError, match="outside the model's bounds"):
        LabelGridPosterior(model, grid=dict(GRID, feh=[1.5, 2.0]))
    post = LabelGridPosterior(model, grid=GRID)
    flux, ivar = _noisy(model, [[8000, 3.1, -1.6]], 60)
    with pytest.raises(ConfigurationError, match="grid points"):
        post.region_probability(flux, ivar, np.ones(3, bool))
    with pytest.raises(ConfigurationError, match="model's grid"):
        post.chi2(flux[:, :-1], ivar[:, :-1])
    ivar[:, 40:] = 0   # too few usable pixels left
    assert np.isnan(post.region_probability(flux, ivar, in_bhb_region, min_pixels=50)[0])


def test_params_stage_adds_p_bhb_region(model):
    wave = model.meta["wavelength"]
    flux, ivar = _noisy(model, [[8000, 3.1, -1.6], [9800, 4.2, -0.1], [8000, 3.1, -1.6]], 60)
    meta = meta_table([{"file": f"s{i}"} for i in range(3)], ["ok", "ok", "read failed: x"])
    batch = PreparedBatch(wave, flux.astype(np.float32), ivar.astype(np.float32),
                          np.zeros(flux.shape, bool), meta)
    table = ParamsStage(model=model).run(batch)
    assert table.colnames == list(PARAMS_COLUMNS)
    assert table["p_bhb_region"][0] > 0.5 > table["p_bhb_region"][1]
    assert table["p_bhb_region"].mask[2] and not table["p_bhb_region"].mask[0]
    assert "p_bhb_region" not in ParamsStage(model=model, region_temper=None).run(batch).colnames


def test_verdict_reads_p_bhb_region_as_log_odds():
    X = feature_matrix({"p_bhb_region": np.array([0.5, 0.9, 0.0, np.nan])})
    j = FEATURE_NAMES.index("region_logit")
    assert np.allclose(X[:3, j], [0.0, np.log(9.0), np.log(1e-6 / (1 - 1e-6))])
    assert np.isnan(X[3, j])


def test_params_stage_rejects_a_bad_temper(model):
    with pytest.raises(ConfigurationError, match="region_temper"):
        ParamsStage(model=model, region_temper="warm")
    with pytest.raises(ConfigurationError, match="temper"):
        ParamsStage(model=model, region_temper=-1)


def test_chi2_of_a_two_kernel_model_uses_each_kernels_model_error():
    model = toy_model(160, seed=2, split_teff=(8500.0, 9500.0), split_pad=500.0)
    post = LabelGridPosterior(model, grid=GRID)
    data, ivar = _noisy(model, [[8000, 3.2, -1.6], [10000, 4.0, -0.5]], 50)
    chi2, _ = post.chi2(data, ivar)
    cool = model.kernels_["cool"].model_error_[:model.n_pixels] ** 2
    hot = model.kernels_["hot"].model_error_[:model.n_pixels] ** 2
    for teff in (7000.0, 9000.0, 11000.0):  # cool side, the blend, hot side
        g = np.flatnonzero(np.isclose(post.labels[:, 0], teff))[5]
        w = model.hot_weight(teff)
        var = 1 / ivar + (1 - w) * cool + w * hot
        direct = ((data - model.predict_spectra(post.labels[g])[0]) ** 2 / var).sum(axis=1)
        assert np.allclose(chi2[g], direct, rtol=1e-4)


def test_far_mass_known_answers(model):
    flux, ivar = _noisy(model, [[8000, 3.2, -1.6], [9600, 4.0, -0.3]], 100)
    teff = np.array([8000.0, 9600.0])
    # an infinitely tempered posterior is flat over the grid: the far mass is the share of grid
    # points more than 600 K from each Teff
    flat = LabelGridPosterior(model, grid=GRID, temper=1e12)
    _, far = flat.posterior_summary(flux, ivar, teff=teff)
    share = [np.mean(np.abs(flat.labels[:, 0] - t) > 600.0) for t in teff]
    np.testing.assert_allclose(far, share, atol=1e-6)
    # a sharp posterior about the truth has none, and the region mass of the same pass is
    # region_probability's
    sharp = LabelGridPosterior(model, grid=GRID, temper=1.0)
    p_in, far = sharp.posterior_summary(flux, ivar, region=in_bhb_region, teff=teff)
    assert (far < 0.01).all()
    np.testing.assert_array_equal(p_in, sharp.region_probability(flux, ivar, in_bhb_region))
    # a best fit placed 1000 K off: nearly all the mass is "far"
    _, far = sharp.posterior_summary(flux, ivar, teff=teff + 1000.0)
    assert (far > 0.99).all()
    assert sharp.posterior_summary(flux, ivar) == (None, None)


def test_params_stage_flags_a_second_solution(model):
    from bhbfinder.params.emulator import FLAG_SECOND_SOLUTION

    wave = model.meta["wavelength"]
    flux, ivar = _noisy(model, [[8000, 3.1, -1.6], [9800, 4.2, -0.1]], 100)
    meta = meta_table([{"file": f"s{i}"} for i in range(2)], ["ok", "ok"])
    batch = PreparedBatch(wave, flux.astype(np.float32), ivar.astype(np.float32),
                          np.zeros(flux.shape, bool), meta)
    tables = [ParamsStage(model=model, region_temper=t).run(batch) for t in (1.0, 1e12)]
    sharp, flat = (np.asarray(t["params_flags"]) for t in tables)
    assert not (sharp & FLAG_SECOND_SOLUTION).any()
    assert (flat & FLAG_SECOND_SOLUTION).all()
    # the flag is the column's mass against the threshold; the column is the posterior's
    far = [np.asarray(t["p_second_solution"]) for t in tables]
    assert (far[0] < 0.2).all() and (far[1] >= 0.2).all()
    post = LabelGridPosterior(model, temper=1e12)
    _, again = post.posterior_summary(flux, ivar, teff=np.asarray(tables[1]["teff"]))
    np.testing.assert_allclose(far[1], again, rtol=1e-6)
    # the other bits are the fit's own, whatever the posterior
    np.testing.assert_array_equal(sharp & ~FLAG_SECOND_SOLUTION, flat & ~FLAG_SECOND_SOLUTION)
