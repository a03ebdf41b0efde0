"""Tests of bhbfinder.simulate.template_noise: the noise a template carries into its renderings."""

import numpy as np
import pytest
from astropy.table import Table

from bhbfinder.simulate import TemplateLibrary
from bhbfinder.simulate.template_noise import (
    TEMPLATE_SNR_FWHM,
    cached_template_snr,
    effective_snr,
    line_poor,
    template_snr,
    template_snr_at,
)
from bhbfinder.spectra.lines import LINES_VACUUM


def test_effective_snr_adds_the_noises_in_quadrature():
    assert effective_snr(30.0, 40.0) == pytest.approx(24.0)
    np.testing.assert_allclose(effective_snr([20.0, 20.0, 20.0], [np.nan, np.inf, 20.0]),
                               [20.0, 20.0, 20.0 / np.sqrt(2.0)])


def test_template_snr_at_interpolates_in_log_and_clips():
    values = np.array([[10.0, 40.0, 40.0, 40.0, 40.0], [np.nan] * 5])
    got = template_snr_at(values, [2.25, 9.0])
    assert got[0] == pytest.approx(20.0)      # halfway in FWHM: the geometric mean
    assert np.isnan(got[1])
    assert template_snr_at(values[:1], [1.0])[0] == pytest.approx(10.0)   # clipped to 2.0 Å


def test_line_poor_rule():
    np.testing.assert_array_equal(
        line_poor([12000.0, 9000.0, 9000.0, 6000.0, np.nan], [0.3, -1.5, 0.0, -2.0, -2.0]),
        [True, True, False, False, False])


def _hot_library(noise, seed=0):
    """Line-poor templates (flat continuum with the Balmer lines of a hot star) on a MILES-like
    grid at FWHM 2.5 Å, with white noise ``noise[i]`` per native pixel, and one cool copy."""
    wave = np.arange(3540.0, 7410.0, 0.9)
    base = np.ones_like(wave)
    for name in ("Hbeta", "Hgamma", "Hdelta", "Hepsilon"):
        base -= 0.5 * np.exp(-np.abs(wave - LINES_VACUUM[name]) / 6.0)
    rng = np.random.default_rng(seed)
    flux = np.array([base + s * rng.standard_normal(wave.size) for s in noise])
    n = len(noise)
    labels = Table({"name": [f"t{i}" for i in range(n)], "star_id": [f"test:{i}" for i in range(n)],
                    "label": ["A"] * n, "teff": [9000.0] * (n - 1) + [5000.0],
                    "logg": [3.0] * n, "feh": [-1.5] * n, "sptype": [""] * n,
                    "source": ["test"] * n})
    return TemplateLibrary(wave, flux, labels, fwhm=2.5)


def test_template_snr_measures_the_injected_noise():
    lib = _hot_library([0.0, 0.02, 0.04, 0.04])
    snr = template_snr(lib)
    assert snr.shape == (4, len(TEMPLATE_SNR_FWHM))
    assert np.all(snr[0] > 1000.0)                 # a noiseless template stays noiseless
    # twice the noise, half the S/N, at every resolution
    np.testing.assert_allclose(snr[1] / snr[2], 2.0, rtol=0.12)
    # broader renderings average the template's noise down
    assert np.all(np.diff(snr[1][1:]) > 0)
    assert np.all(np.isnan(snr[3]))                # a cool star: lines would read as noise


def test_cached_template_snr_measures_each_template_once(monkeypatch):
    import bhbfinder.simulate.template_noise as tn

    lib = _hot_library([0.0, 0.02, 0.04, 0.04])
    first = cached_template_snr(lib, [2, 1, 2])
    np.testing.assert_array_equal(first[0], first[2])
    # measured alone, the same to the last digits the renderings' 1e-7 noise leaves
    np.testing.assert_allclose(first[1], template_snr(lib, [1])[0], rtol=1e-4)
    calls = []
    monkeypatch.setattr(tn, "template_snr", lambda *a, **k: calls.append(a) or None)
    again = cached_template_snr(lib, [1, 2])       # from the cache: no new measurement
    assert calls == []
    np.testing.assert_array_equal(again, first[[1, 0]])


def test_a_noisy_real_template_is_found_and_its_renderings_count_it(shared_data):
    """M5 II 53's MILES spectrum has S/N ~10 per LAMOST pixel at its own resolution: its
    renderings are no better than that whatever their target; a bright BHB star's are as
    targeted."""
    from bhbfinder.training.heldout import FoldPlan, load_real_templates, render_stars

    libs = load_real_templates(shared_data, sources=("miles",))
    plan = FoldPlan.build(libs)
    stars = plan.stars[np.isin(plan.stars["name"], ["M5 II 53", "HD014829"])]
    lib = libs[0]
    snr = template_snr(lib, np.asarray(stars["row"], int))
    by_name = dict(zip(np.asarray(stars["name"]).astype(str), snr, strict=True))
    assert by_name["M5 II 53"][1] < 15.0                  # at 2.5 Å
    assert by_name["HD014829"][1] > 150.0
    sim = render_stars(libs, stars, seed=3)
    meta = sim.meta
    m5 = np.asarray(meta["template"]).astype(str) == "M5 II 53"
    eff, target = np.asarray(meta["snr_effective"]), np.asarray(meta["snr_target"])
    assert np.all(eff[m5] <= np.asarray(meta["snr_template"])[m5] + 1e-9)
    assert np.median(eff[m5] / target[m5]) < 0.6
    np.testing.assert_allclose(eff[~m5], target[~m5], rtol=0.05)


def test_update_truth_brings_an_old_catalogue_to_the_current_truth(shared_data):
    """A held-out catalogue written before the template noise and the audit of HD 216916:
    its S/N becomes the effective one, its doubtful flags the audit's; a second pass changes
    nothing."""
    from bhbfinder.training.folds import update_truth
    from bhbfinder.training.heldout import FoldPlan, load_real_templates

    libs = load_real_templates(shared_data)
    plan = FoldPlan.build(libs)
    ids = ["MILES:0929", "MILES:0085", "MILES:0853"]     # M5 II 53, HD 14829, HD 216916
    cat = Table({"true_star_id": ids, "true_snr": [50.0, 50.0, 50.0],
                 "true_resolving_power": [1800.0] * 3, "true_doubtful": [False] * 3})
    update_truth(cat, plan, libs)
    np.testing.assert_array_equal(cat["true_snr_target"], 50.0)
    assert cat["true_snr"][0] < 15.0
    assert cat["true_snr"][1] == pytest.approx(50.0, rel=0.03)
    assert list(cat["true_doubtful"]) == [False, False, True]
    before = np.array(cat["true_snr"])
    update_truth(cat, plan, libs)
    np.testing.assert_array_equal(cat["true_snr"], before)
