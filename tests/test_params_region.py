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


def test_normalised_posterior_adds_the_log_determinant_of_each_kernel():
    model = toy_model(160, seed=2, split_teff=(8500.0, 9500.0), split_pad=500.0)
    # model errors that count against the noise: the hot kernel's twice the cool one's
    for side, error in (("cool", 0.01), ("hot", 0.02)):
        kernel = model.kernels_[side]
        kernel.model_error_ = np.full_like(kernel.model_error_, error)
    data, ivar = _noisy(model, [[8000, 3.2, -1.6], [10000, 4.0, -0.5]], 30)
    ivar[0, :15] = 0.0                            # bad pixels count in neither term
    normalised = LabelGridPosterior(model, grid=GRID, kernel_error="normalised")
    chi2, _, det = normalised._chi2_terms(data, ivar, log_det=True)
    assert np.allclose(chi2, LabelGridPosterior(model, grid=GRID).chi2(data, ivar)[0])
    cool = model.kernels_["cool"].model_error_[:model.n_pixels] ** 2
    hot = model.kernels_["hot"].model_error_[:model.n_pixels] ** 2
    good = ivar > 0
    for teff in (7000.0, 9000.0, 11000.0):
        g = np.flatnonzero(np.isclose(normalised.labels[:, 0], teff))[3]
        w = model.hot_weight(teff)
        var = 1 / np.where(good, ivar, 1.0) + (1 - w) * cool + w * hot
        assert np.allclose(det[g], (np.log(var) * good).sum(axis=1), rtol=1e-10)
    # the posterior weighs exp(-(chi2 + det) / (2 temper reduced chi2)), normalised
    reduced = np.maximum(chi2.min(axis=0) / (good.sum(axis=1) - 3), 1.0)
    total = chi2 + det
    weight = np.exp(-(total - total.min(axis=0)) / (2 * normalised.temper * reduced))
    inside = in_bhb_region(*normalised.labels.T)
    expected = weight[inside].sum(axis=0) / weight.sum(axis=0)
    p_norm = normalised.region_probability(data, ivar, in_bhb_region, min_pixels=10)
    assert np.allclose(p_norm, expected, rtol=1e-6)
    # the larger hot-kernel error moves posterior mass to the cool side
    cool_mass = []
    for post in (LabelGridPosterior(model, grid=GRID), normalised):
        marginal = post.posterior_summary(data, ivar, return_teff_marginal=True,
                                          min_pixels=10)[-1]
        cool_mass.append(marginal[:, post.teff_axis < 9000].sum(axis=1))
    log_odds = [np.log(m / (1 - m)) for m in cool_mass]
    assert (log_odds[1] > log_odds[0] + 1.0).all()


def test_common_kernel_error_is_the_mean_variance():
    model = toy_model(160, seed=2, split_teff=(8500.0, 9500.0), split_pad=500.0)
    for side, error in (("cool", 0.01), ("hot", 0.02)):
        kernel = model.kernels_[side]
        kernel.model_error_ = np.full_like(kernel.model_error_, error)
    data, ivar = _noisy(model, [[8000, 3.2, -1.6]], 30)
    post = LabelGridPosterior(model, grid=GRID, kernel_error="common")
    chi2, _ = post.chi2(data, ivar)
    var = 1 / ivar + 0.5 * (0.01**2 + 0.02**2)
    for teff in (7000.0, 9000.0, 11000.0):  # cool side, the blend, hot side
        g = np.flatnonzero(np.isclose(post.labels[:, 0], teff))[5]
        direct = ((data - model.predict_spectra(post.labels[g])[0]) ** 2 / var).sum(axis=1)
        assert np.allclose(chi2[g], direct, rtol=1e-4)


def test_kernel_error_modes_are_the_same_with_one_kernel(model):
    flux, ivar = _noisy(model, [[8000, 3.1, -1.6], [9800, 4.2, -0.1]], 30)
    p = [LabelGridPosterior(model, grid=GRID, temper=1.0, kernel_error=k).region_probability(
        flux, ivar, in_bhb_region) for k in ("own", "normalised", "common")]
    assert np.allclose(p[0], p[1], atol=1e-9) and np.allclose(p[0], p[2], atol=1e-9)
    with pytest.raises(ConfigurationError, match="kernel_error"):
        LabelGridPosterior(model, grid=GRID, kernel_error="mean")


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


def test_teff_prior_known_answers(model):
    flux, ivar = _noisy(model, [[8000, 3.2, -1.6], [9600, 4.0, -0.3], [8000, 3.2, -1.6]], 100)
    mean = np.array([8400.0, 10100.0, np.nan])   # the third row has no prior
    sigma = np.array([300.0, 200.0, 300.0])
    # an infinitely tempered likelihood is flat: the posterior is the prior on the grid
    flat = LabelGridPosterior(model, grid=GRID, temper=1e12)
    p_in, _, best = flat.posterior_summary(flux, ivar, region=in_bhb_region,
                                           teff_prior=(mean, sigma), return_best=True)
    inside = in_bhb_region(*flat.labels.T)
    for i in range(2):
        w = np.exp(-0.5 * ((flat.labels[:, 0] - mean[i]) / sigma[i]) ** 2)
        assert p_in[i] == pytest.approx((w * inside).sum() / w.sum(), rel=1e-6)
        nearest = GRID["teff"][np.argmin(np.abs(GRID["teff"] - mean[i]))]
        assert best[i, 0] == pytest.approx(nearest)
    assert p_in[2] == pytest.approx(inside.mean(), rel=1e-6)
    # a sharp likelihood outweighs a broad prior; a prior far from the truth moves the mass
    sharp = LabelGridPosterior(model, grid=GRID, temper=1.0)
    p_none = sharp.region_probability(flux, ivar, in_bhb_region)
    p_broad = sharp.posterior_summary(flux, ivar, in_bhb_region,
                                      teff_prior=([8000, 9600, np.nan], [3000, 3000, 1]))[0]
    np.testing.assert_allclose(p_broad, p_none, atol=0.02)
    with pytest.raises(ConfigurationError, match="teff_prior"):
        sharp.posterior_summary(flux, ivar, in_bhb_region, teff_prior=[8000.0])


def test_fit_starts_where_it_is_told(model):
    flux, ivar = _noisy(model, [[8000, 3.2, -1.6], [9600, 4.0, -0.3]], 80)
    free = model.predict(flux, ivar, return_details=True)
    start = np.array([[8100.0, 3.3, -1.5], [np.nan, np.nan, np.nan]])
    told = model.predict(flux, ivar, return_details=True, start_labels=start)
    np.testing.assert_allclose(told.start[0], start[0])       # the given start, alone
    np.testing.assert_allclose(told.start[1], free.start[1])  # the others: the usual search
    # the same χ² minimum from either start
    np.testing.assert_allclose(told.labels, free.labels, rtol=1e-3, atol=1e-3)


def test_params_stage_weighs_a_photometric_teff(model):
    from bhbfinder.params.emulator import FLAG_TEFF_PRIOR

    wave = model.meta["wavelength"]
    flux, ivar = _noisy(model, [[8000, 3.1, -1.6]] * 3, 60)
    meta = meta_table([{"file": f"s{i}"} for i in range(3)], ["ok"] * 3)
    meta["teff_phot"] = [8000.0, np.nan, 10600.0]
    meta["teff_phot_err"] = [250.0, 250.0, 100.0]
    batch = PreparedBatch(wave, flux.astype(np.float32), ivar.astype(np.float32),
                          np.zeros(flux.shape, bool), meta)
    table = ParamsStage(model=model).run(batch)
    flags = np.asarray(table["params_flags"])
    assert list(flags & FLAG_TEFF_PRIOR) == [FLAG_TEFF_PRIOR, 0, FLAG_TEFF_PRIOR]
    post = LabelGridPosterior(model)
    p_in = post.posterior_summary(batch.flux, batch.ivar, in_bhb_region,
                                  teff_prior=(meta["teff_phot"], meta["teff_phot_err"]))[0]
    np.testing.assert_allclose(np.asarray(table["p_bhb_region"]), p_in, rtol=1e-5, atol=1e-9)
    # a prior far off in Teff drains the region (10,600 K: the toy star's spectrum fits no
    # BHB labels there) and pulls the joint fit part of the way towards it
    assert table["p_bhb_region"][2] < 1e-3 < 0.3 < table["p_bhb_region"][1]
    teff = np.asarray(table["teff"])
    np.testing.assert_allclose(teff[:2], 8000.0, atol=250.0)
    assert teff[1] + 250.0 < teff[2] < 10600.0
    # without the column (or with teff_phot_column=None) nothing changes
    plain = ParamsStage(model=model, teff_phot_column=None).run(batch)
    assert not (np.asarray(plain["params_flags"]) & FLAG_TEFF_PRIOR).any()
    # (float32 grid products: the same to ~1e-5 whatever the batch)
    assert plain["p_bhb_region"][1] == pytest.approx(table["p_bhb_region"][1], rel=1e-5)
    with pytest.raises(ConfigurationError, match="teff_phot_error"):
        ParamsStage(model=model, teff_phot_error=0)


def test_fit_weighs_a_teff_prior(model):
    flux, ivar = _noisy(model, [[8000, 3.2, -1.6]] * 3, 80, seed=4)
    free = model.predict(flux, ivar, return_details=True)
    # a prior far tighter than the spectrum's constraint fixes Teff; one far looser changes
    # nothing; no prior (NaN) is the plain fit
    prior = (np.array([8600.0, 8600.0, np.nan]), np.array([5.0, 1e6, 100.0]))
    fit = model.predict(flux, ivar, return_details=True, teff_prior=prior)
    assert fit.labels[0, 0] == pytest.approx(8600.0, abs=15.0)
    assert fit.formal_err[0, 0] < 6.0 < free.formal_err[0, 0]
    np.testing.assert_allclose(fit.labels[1:], free.labels[1:], rtol=1e-4, atol=1e-4)
    # the other labels follow the spectrum at the prior's Teff, and the reduced χ² is the
    # spectrum's alone (the same as the fit's own χ² at those labels)
    assert fit.labels[0, 1] != pytest.approx(free.labels[0, 1], abs=1e-3)
    model_flux = model.predict_spectra(fit.labels[:1])[0]
    var = 1 / ivar[0] + model.model_error_[:model.n_pixels] ** 2
    chi2 = ((flux[0] - model_flux) ** 2 / var).sum() / (flux.shape[1] - 3)
    assert fit.reduced_chi2[0] == pytest.approx(chi2, rel=1e-3)


def test_split_kernels_fit_the_teff_prior_too():
    model = toy_model(160, seed=2, split_teff=(8500.0, 9500.0), split_pad=500.0)
    flux, ivar = _noisy(model, [[8000, 3.2, -1.6], [10000, 4.0, -0.5]], 60, seed=5)
    # each side's kernel (and the blend) fits the prior: tight priors fix Teff
    prior = (np.array([8300.0, 9000.0]), np.array([5.0, 5.0]))
    fit = model.predict(flux, ivar, return_details=True, teff_prior=prior)
    np.testing.assert_allclose(fit.labels[:, 0], prior[0], atol=20.0)
    assert 0.0 < fit.hot_weight[1] < 1.0   # 9,000 K: both kernels, blended


def test_teff_phot_in_the_table_of_files_reaches_the_params_fit(tmp_path):
    """find_bhb with the shipped models: the rows given a ``teff_phot`` (not the masked one)
    carry flag 32 and a posterior that weighs it; the others are fitted as without it."""
    from astropy.table import MaskedColumn, Table

    from bhbfinder import find_bhb
    from bhbfinder.params.emulator import FLAG_TEFF_PRIOR
    from bhbfinder.simulate import build_library, simulate_files

    library = build_library(("analytic",), n_per_class={"BHB": 2, "A": 2},
                            classes=("BHB", "A"), snr=(30, 40), seed=6)
    truth = simulate_files(tmp_path, library)
    paths = [str(tmp_path / str(f)) for f in truth["file"]]
    config = {"params": {"classes": None}}
    plain = find_bhb(Table({"path": paths}), config=config)
    given = MaskedColumn([8000.0, 10500.0, 0.0, 9000.0], mask=[False, False, True, False])
    phot = find_bhb(Table({"path": paths, "teff_phot": given}), config=config)
    for cat in (plain, phot):
        cat.sort("file")
    order = np.argsort(paths)
    has = ~np.ma.getmaskarray(given)[order]
    flags = np.asarray(phot["params_flags"])
    assert list((flags & FLAG_TEFF_PRIOR) > 0) == list(has)
    assert not (np.asarray(plain["params_flags"]) & FLAG_TEFF_PRIOR).any()
    p0, p1 = (np.asarray(c["p_bhb_region"], float) for c in (plain, phot))
    np.testing.assert_allclose(p1[~has], p0[~has], rtol=1e-5, atol=1e-9)
    assert not np.allclose(p1[has], p0[has], rtol=1e-3)


def test_teff_phot_values_that_cannot_be_used(model):
    from bhbfinder.params.emulator import FLAG_TEFF_PRIOR

    wave = model.meta["wavelength"]
    flux, ivar = _noisy(model, [[8000, 3.1, -1.6]] * 4, 60)
    meta = meta_table([{"file": f"s{i}"} for i in range(4)], ["ok"] * 4)
    # a negative error, a zero temperature, an infinite error: fitted without; the last used
    meta["teff_phot"] = [8000.0, 0.0, 8000.0, 8000.0]
    meta["teff_phot_err"] = [-100.0, 250.0, np.inf, 250.0]
    batch = PreparedBatch(wave, flux.astype(np.float32), ivar.astype(np.float32),
                          np.zeros(flux.shape, bool), meta)
    flags = np.asarray(ParamsStage(model=model).run(batch)["params_flags"])
    assert list((flags & FLAG_TEFF_PRIOR) > 0) == [False, False, False, True]
    # a column of text is refused, naming it
    meta["teff_phot"] = ["hot", "cool", "", "8000"]
    with pytest.raises(ConfigurationError, match="'teff_phot' must hold numbers"):
        ParamsStage(model=model).run(batch)


def test_teff_marginal_and_far_mass_known_answers(model):
    flux, ivar = _noisy(model, [[8000, 3.2, -1.6], [9600, 4.0, -0.3]], 30, seed=7)
    post = LabelGridPosterior(model, grid=GRID)
    teff = np.array([8100.0, 9400.0])
    _, far, marginal = post.posterior_summary(flux, ivar, teff=teff, return_teff_marginal=True)
    # the tempered posterior written out from the grid's chi2, summed at each grid Teff
    chi2, n_good = post.chi2(flux, ivar)
    best = chi2.min(axis=0)
    w = np.exp(-(chi2 - best) / (2 * post.temper * np.maximum(best / (n_good - 3), 1.0)))
    w /= w.sum(axis=0)
    direct = np.array([[w[post.labels[:, 0] == t, i].sum() for t in post.teff_axis]
                       for i in range(2)])
    np.testing.assert_allclose(marginal, direct, rtol=1e-9, atol=1e-15)
    far_direct = [w[np.abs(post.labels[:, 0] - teff[i]) > 600.0, i].sum() for i in range(2)]
    np.testing.assert_allclose(far, far_direct, rtol=1e-9, atol=1e-15)
    np.testing.assert_allclose(post.far_mass(marginal, teff), far, rtol=1e-12)
    assert np.isnan(post.far_mass(marginal, [np.nan, 9400.0])[0])
