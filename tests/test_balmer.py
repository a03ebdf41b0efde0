"""Balmer-line confirmation: known answers for the profile fits, flags, criteria sets, the stage."""

import numpy as np
import pytest

from bhbfinder.balmer import (
    BalmerStage,
    CriteriaSet,
    Cut,
    derive_criteria,
    fit_batched,
    fit_scipy,
    get_criteria,
    load_criteria,
    register_criteria,
)
from bhbfinder.balmer import criteria as crit
from bhbfinder.balmer import flags as F
from bhbfinder.balmer.profile import (
    d02_from_params,
    measure_d02_fm,
    sersic_jacobian,
    sersic_profile,
)
from bhbfinder.batch import PreparedBatch, meta_table
from bhbfinder.errors import ConfigurationError
from bhbfinder.spectra.lines import LINES_VACUUM

# the nominal LAMOST log-linear grid (Luo et al. 2015, RAA 15, 1095)
GRID = 10 ** (3.5682 + 1e-4 * np.arange(3909))
HD = LINES_VACUUM["Hdelta"]
WIN = np.abs(GRID - HD) <= 30.0
WAVE = GRID[WIN]

# a BHB-like star: Hδ D0.2 = 2·8·ln 4 = 22.2 Å, fm = 0.2; Hγ c = 1, b = 9 Å
BHB_LINES = {"Hdelta": (0.8, 8.0, 1.0), "Hgamma": (0.78, 9.0, 1.0), "Hbeta": (0.7, 10.0, 1.0),
             "CaII_K": (0.1, 1.5, 2.0)}
# a high-gravity A star: broad Hγ wings (b = 14 Å, c = 0.7)
ADWARF_LINES = {"Hdelta": (0.75, 12.0, 0.75), "Hgamma": (0.72, 14.0, 0.7),
                "Hbeta": (0.7, 15.0, 0.7), "CaII_K": (0.5, 2.0, 1.5)}


def _spectra(params_list, snr=100.0, seed=0, wave=GRID):
    rng = np.random.default_rng(seed)
    flux = np.ones((len(params_list), len(wave)))
    for i, lines in enumerate(params_list):
        for name, (a, b, c) in lines.items():
            flux[i] *= sersic_profile(wave, a, b, c, LINES_VACUUM[name])
    flux += rng.normal(0.0, 1.0 / snr, flux.shape)
    ivar = np.full(flux.shape, snr ** 2, np.float32)
    return flux.astype(np.float32), ivar


def _batch(flux, ivar, wave=GRID, mask=None, status=None):
    mask = np.zeros(flux.shape, bool) if mask is None else mask
    return PreparedBatch(wave, flux, ivar, mask, meta_table([{}] * len(flux), status))


# --- the profile -------------------------------------------------------------------------------

def test_profile_core_and_analytic_d02():
    a, b, c = 0.7, 8.0, 1.3
    assert sersic_profile(HD, a, b, c, HD) == pytest.approx(1 - a)
    d02 = float(d02_from_params(a, b, c))
    # the profile is at 0.8 exactly half a D0.2 from the centre
    assert sersic_profile(HD + d02 / 2, a, b, c, HD) == pytest.approx(0.8, abs=1e-12)
    assert sersic_profile(HD - d02 / 2, a, b, c, HD) == pytest.approx(0.8, abs=1e-12)
    assert np.isnan(d02_from_params(0.15, 8.0, 1.0))


@pytest.mark.parametrize("abc", [(0.8, 8.0, 1.0), (0.6, 11.0, 0.8), (0.75, 6.0, 1.4)])
def test_d02_on_noiseless_data_equals_analytic(abc):
    a, b, c = abc
    lam0 = HD + 0.37
    # fine grid: only the linear interpolation limits the agreement
    fine = np.arange(HD - 30, HD + 30, 0.05)
    y = sersic_profile(fine, a, b, c, lam0)[None, :]
    d02, fm = measure_d02_fm(fine, y, np.ones_like(y, bool), np.array([lam0]))
    assert d02[0] == pytest.approx(d02_from_params(a, b, c), abs=1e-3)
    assert fm[0] == pytest.approx(1 - a, abs=0.02)  # the cusp is cut by one 0.05 Å step
    # the LAMOST grid (0.94 Å pixels); a masked pixel at the red crossing is skipped, so the
    # interpolation spans two pixels there (error ~ h²f''/8f' ≲ 0.15 Å)
    y = sersic_profile(WAVE, a, b, c, lam0)[None, :]
    good = np.ones((2, len(WAVE)), bool)
    good[1, np.argmin(np.abs(WAVE - (lam0 + d02_from_params(a, b, c) / 2)))] = False
    d02, _ = measure_d02_fm(WAVE, np.repeat(y, 2, axis=0), good, np.full(2, lam0))
    assert d02[0] == pytest.approx(d02_from_params(a, b, c), abs=0.05)
    assert d02[1] == pytest.approx(d02_from_params(a, b, c), abs=0.15)


def test_jacobian_matches_finite_differences():
    p = np.array([0.7, 8.0, 0.9, HD + 0.2])
    _, jac = sersic_jacobian(WAVE, *p)
    for k in range(4):
        h = np.zeros(4)
        h[k] = 1e-6 * max(abs(p[k]), 1.0)
        num = (sersic_profile(WAVE, *(p + h), eps=0.02) - sersic_profile(WAVE, *(p - h), eps=0.02)
               ) / (2 * h[k])
        np.testing.assert_allclose(jac[0, :, k], num, rtol=1e-4, atol=1e-7)


# --- fits: known answers -----------------------------------------------------------------------

TRUE = {"a": 0.7, "b": 8.0, "c": 1.0, "lam0": HD + 0.3}


@pytest.mark.parametrize("snr, tol_bc", [(20, 0.03), (50, 0.02), (200, 0.005)])
def test_batched_fit_recovers_known_profile(snr, tol_bc):
    # 400 seeded realisations: the mean of b and c has a standard error of ~0.2 % (S/N 50), so
    # a 2 % tolerance tests the bias; the pull distribution tests the quoted errors
    n = 400
    rng = np.random.default_rng(snr)
    model = sersic_profile(WAVE, *TRUE.values())
    y = model[None, :] + rng.normal(0, 1 / snr, (n, len(WAVE)))
    res = fit_batched(WAVE, y, np.full(y.shape, float(snr) ** 2), HD)
    assert res.converged.mean() > 0.99
    mean = res.params.mean(axis=0)
    assert mean[1] == pytest.approx(TRUE["b"], rel=tol_bc)
    assert mean[2] == pytest.approx(TRUE["c"], rel=tol_bc)
    assert mean[0] == pytest.approx(TRUE["a"], rel=tol_bc)
    assert mean[3] == pytest.approx(TRUE["lam0"], abs=0.05)
    pulls = (res.params - np.array(list(TRUE.values()))) / res.errors
    assert np.all((np.std(pulls, axis=0) > 0.8) & (np.std(pulls, axis=0) < 1.25))
    assert np.median(res.chi2) == pytest.approx(1.0, abs=0.1)


def test_single_realisation_at_snr50_within_its_errors():
    rng = np.random.default_rng(7)
    y = sersic_profile(WAVE, 0.6, 10.0, 1.2, HD - 0.5) + rng.normal(0, 0.02, len(WAVE))
    res = fit_batched(WAVE, y[None, :], np.full((1, len(WAVE)), 2500.0), HD)
    assert res.converged[0] and not res.at_bound[0]
    assert np.all(np.abs(res.params[0] - [0.6, 10.0, 1.2, HD - 0.5]) < 3 * res.errors[0])


@pytest.mark.parametrize("snr", [20, 50])
def test_batched_and_scipy_agree(snr):
    n = 40
    rng = np.random.default_rng(100 + snr)
    truth = np.column_stack([rng.uniform(0.5, 0.8, n), rng.uniform(6, 13, n),
                             rng.uniform(0.7, 1.4, n), HD + rng.uniform(-1, 1, n)])
    y = sersic_profile(WAVE, *truth.T) + rng.normal(0, 1 / snr, (n, len(WAVE)))
    iv = np.full(y.shape, float(snr) ** 2)
    batched = fit_batched(WAVE, y, iv, HD)
    ref = np.array([fit_scipy(WAVE, y[i], iv[i], HD).params[0] for i in range(n)])
    ok = batched.converged & ~batched.at_bound
    assert ok.mean() > 0.95
    rel = np.abs(batched.params[ok] - ref[ok]) / np.abs(ref[ok])
    assert rel.max() < 0.01
    ref_err = fit_scipy(WAVE, y[0], iv[0], HD).errors[0]
    np.testing.assert_allclose(batched.errors[0], ref_err, rtol=0.01)


def test_weights_ignore_zero_ivar_pixels():
    y = sersic_profile(WAVE, 0.7, 8.0, 1.0, HD)[None, :].copy()
    iv = np.full(y.shape, 1e4)
    y[0, 10:14] = 50.0  # garbage where ivar is 0
    iv[0, 10:14] = 0.0
    res = fit_batched(WAVE, y, iv, HD)
    np.testing.assert_allclose(res.params[0], [0.7, 8.0, 1.0, HD], rtol=1e-3)
    assert res.npix[0] == len(WAVE) - 4


# --- the stage: flags, not numbers -------------------------------------------------------------

def test_stage_confirms_bhb_and_rejects_a_dwarf():
    flux, ivar = _spectra([BHB_LINES, ADWARF_LINES], snr=80)
    table = BalmerStage(criteria="xue2008").run(_batch(flux, ivar))
    assert list(table["balmer_confirmed"]) == [True, False]
    assert table["balmer_reason"][0] == ""
    assert "hgamma_b" in table["balmer_reason"][1] and "hgamma_c" in table["balmer_reason"][1]
    assert table["hdelta_d02"][0] == pytest.approx(22.18, abs=1.0)
    assert table["hdelta_fm"][0] == pytest.approx(0.2, abs=0.03)
    assert table["hgamma_b"].unit == "Angstrom" and table["hgamma_b"].description
    assert np.all(table["hdelta_flags"] == 0)
    # Ca II K: EW of a Sérsic line is 2ab·Γ(1 + 1/c); the A star fails the screen
    assert table["cak_ew"][0] == pytest.approx(0.1 * 3.0 * 0.8862, abs=0.15)
    cak = BalmerStage(criteria="cak-screen").run(_batch(flux, ivar))
    assert table["cak_ew"][1] > 1.0
    assert list(cak["balmer_confirmed"]) == [True, True]  # 1.5 Å < 3 Å default
    strict = CriteriaSet("strict-k", (Cut("cak_ew", None, 0.6, "Angstrom"),))
    assert list(BalmerStage(criteria=strict).run(_batch(flux, ivar))["balmer_confirmed"]) == \
        [True, False]


def test_uncovered_masked_and_bad_rows_give_flags_not_numbers():
    # a grid that stops short of Hβ
    wave = GRID[GRID < 4600]
    flux, ivar = _spectra([BHB_LINES] * 4, snr=80, wave=wave)
    mask = np.zeros(flux.shape, bool)
    mask[1, np.abs(wave - HD) < 12] = True                              # Hδ core masked
    mask[2, (wave > 4000) & (wave < 4250)] = True                       # all of Hδ's window
    table = BalmerStage(criteria="xue2008").run(
        _batch(flux, ivar, wave, mask, status=["ok", "ok", "ok", "file unreadable"]))
    assert np.all(table["hbeta_flags"][:3] == F.NOT_COVERED)
    assert np.all(table["hbeta_b"].mask)
    assert table["hdelta_flags"][1] == F.MASKED and table["hdelta_a"].mask[1]
    assert table["hdelta_flags"][2] & F.NOT_COVERED and table["hdelta_d02"].mask[2]
    assert table["hdelta_flags"][3] == F.BAD_ROW and table["hgamma_b"].mask[3]
    # the good lines of the same rows still carry numbers
    assert not table["hgamma_b"].mask[1] and table["hgamma_flags"][1] == 0
    assert list(table["balmer_confirmed"]) == [True, False, False, False]
    assert table["balmer_reason"][1] == \
        "hdelta: masked (too many bad pixels in the line window to fit it)"
    assert table["balmer_reason"][3] == "not prepared: file unreadable"
    assert F.decode_flags(table["hdelta_flags"][1]) == "masked"


def test_emission_line_is_flagged():
    flux, ivar = _spectra([BHB_LINES], snr=80)
    flux = flux.astype(float)
    # take the Hγ absorption out and put an emission line in its place
    flux[0] = flux[0] / sersic_profile(GRID, 0.78, 9.0, 1.0, LINES_VACUUM["Hgamma"])
    flux[0] += 0.6 * np.exp(-0.5 * ((GRID - LINES_VACUUM["Hgamma"]) / 2.0) ** 2)
    table = BalmerStage(criteria="xue2008").run(_batch(flux.astype(np.float32), ivar))
    assert table["hgamma_flags"][0] & F.EMISSION
    assert not table["balmer_confirmed"][0]
    assert "hgamma: emission" in table["balmer_reason"][0]


def test_stage_is_registered_as_plugin():
    from bhbfinder.stages import get_stage, get_stage_info

    info = get_stage_info("balmer")
    assert info.name == "sersic" and info.plugin.startswith("builtin:")
    stage = get_stage("balmer", criteria="xue2008-hgamma", lines=("Hgamma",))
    assert isinstance(stage, BalmerStage) and stage.lines == ("Hgamma",)


def test_stage_rejects_bad_arguments():
    with pytest.raises(ConfigurationError, match="unknown criteria set"):
        BalmerStage(criteria="nope")
    with pytest.raises(ConfigurationError, match="no window for line"):
        BalmerStage(lines=("Hzeta",))
    flux, ivar = _spectra([BHB_LINES])
    with pytest.raises(ConfigurationError, match="do not match"):
        BalmerStage().run(_batch(flux[:, :-1], ivar[:, :-1], GRID))


# --- criteria sets -----------------------------------------------------------------------------

def test_xue2008_numbers():
    cset = get_criteria("xue2008")
    cuts = {c.column: (c.low, c.high) for c in cset.cuts}
    assert cuts == {"hdelta_d02": (17.0, 28.5), "hdelta_fm": (0.1, 0.3),
                    "hgamma_c": (0.75, 1.25), "hgamma_b": (7.5, 10.5)}
    assert any("Xue" in r for r in cset.references)
    both = get_criteria("xue2008+cak")
    assert both.columns == cset.columns + ("cak_ew",)


def _labelled(n=600, seed=3):
    rng = np.random.default_rng(seed)
    npos = n // 3
    c = np.concatenate([rng.uniform(0.8, 1.2, npos), rng.uniform(0.5, 1.6, n - npos)])
    b = np.concatenate([rng.uniform(8.0, 10.0, npos), rng.uniform(5.0, 16.0, n - npos)])
    labels = np.array(["BHB"] * npos + ["A"] * (n - npos))
    return {"hgamma_c": c, "hgamma_b": b}, labels


def test_derive_criteria_recovers_a_box(tmp_path):
    table, labels = _labelled()
    cset = derive_criteria(table, labels, positive="BHB", columns=("hgamma_c", "hgamma_b"),
                           name="test-derived", min_completeness=0.9)
    bounds = {c.column: (c.low, c.high) for c in cset.cuts}
    assert bounds["hgamma_c"][0] == pytest.approx(0.8, abs=0.04)
    assert bounds["hgamma_c"][1] == pytest.approx(1.2, abs=0.04)
    assert bounds["hgamma_b"][0] == pytest.approx(8.0, abs=0.2)
    assert bounds["hgamma_b"][1] == pytest.approx(10.0, abs=0.2)
    assert cset.meta["completeness"] >= 0.9
    # the negatives inside the true box are ~ 4.4 % of them: purity is high but not 1
    assert 0.85 < cset.meta["purity"] <= 1.0
    confirmed, reason = cset.evaluate(table)
    assert confirmed[labels == "BHB"].mean() >= 0.9
    assert all(r == "" for r in reason[confirmed])


@pytest.mark.parametrize("suffix", [".json", ".asdf"])
def test_criteria_save_load_register_round_trip(tmp_path, suffix):
    table, labels = _labelled()
    cset = derive_criteria(table, labels, name="roundtrip" + suffix.strip("."))
    path = cset.save(tmp_path / ("set" + suffix))
    back = load_criteria(path)
    assert back == cset
    assert back.meta["derived_from"]["n_positive"] == 200
    with pytest.raises(ConfigurationError, match="exists"):
        cset.save(path)
    assert get_criteria(str(path)) == cset
    try:
        register_criteria(back)
        assert get_criteria(back.name) is back
        with pytest.raises(ConfigurationError, match="already registered"):
            register_criteria(back)
    finally:
        crit.CRITERIA.pop(back.name, None)
    np.testing.assert_array_equal(back.evaluate(table)[0], cset.evaluate(table)[0])


def test_criteria_errors():
    with pytest.raises(ConfigurationError, match="low"):
        Cut("hgamma_b", 10.0, 8.0)
    with pytest.raises(ConfigurationError, match="needs column"):
        get_criteria("xue2008").evaluate({"hgamma_b": np.ones(2)})
    table, labels = _labelled()
    with pytest.raises(ConfigurationError, match="at least 3 positives"):
        derive_criteria(table, labels, positive="nothing")


# --- plots -------------------------------------------------------------------------------------

def test_plots_return_figures():
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    from bhbfinder.balmer.plotting import plot_criteria_plane, plot_line_fits

    flux, ivar = _spectra([BHB_LINES, ADWARF_LINES], snr=80)
    batch = _batch(flux, ivar)
    table = BalmerStage().run(batch)
    fig = plot_line_fits(batch, table, index=0)
    # every line the stage measured, the higher Balmer lines included
    assert isinstance(fig, Figure) and len(fig.axes) == len(BalmerStage().lines) == 6
    assert [ax.get_title().split()[0] for ax in fig.axes] == list(BalmerStage().lines)
    assert len(fig.axes[1].lines) == 3  # data, fitted profile, the 0.8 level
    fig = plot_criteria_plane(table, "hgamma", labels=["BHB", "A"])
    assert isinstance(fig, Figure) and len(fig.axes[0].patches) == 1
    box = fig.axes[0].patches[0]
    assert (box.get_x(), box.get_y()) == (7.5, 0.75)
    assert isinstance(plot_criteria_plane(table, "hdelta"), Figure)
