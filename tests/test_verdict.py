"""The verdict: features, the logistic model, cross-fitting, calibration, the stage."""

import numpy as np
import pytest
from astropy.table import MaskedColumn, Table

from bhbfinder.errors import BHBFinderWarning, ConfigurationError, ModelFileError
from bhbfinder.simulate import culpan_kiel_limits
from bhbfinder.training.heldout import average_precision
from bhbfinder.verdict import (
    FEATURE_NAMES,
    VerdictModel,
    choose_threshold,
    cross_fit,
    feature_matrix,
    reliability_table,
)
from bhbfinder.verdict.features import ERROR_FLOORS

from ._verdict_helpers import verdict_rows


def _col(name):
    return FEATURE_NAMES.index(name)


def test_features_known_answers():
    lo, hi = culpan_kiel_limits(8000.0)
    mid = 0.5 * (lo + hi)
    table = Table({"teff": [8000.0, 8000.0, 10000.0], "logg": [mid, hi + 0.3, 4.2],
                   "logg_err": [0.0, 0.2, 0.1], "feh": [-1.6, -1.6, 0.0],
                   "feh_err": [0.0, 0.0, 0.2],
                   "p_bhb_stage1": [0.5, 0.9, 0.1],
                   "p_bhb_stage2": MaskedColumn([0.5, 0.0, 0.0], mask=[False, True, True])})
    X = feature_matrix(table)
    s = ERROR_FLOORS["logg"]
    assert X[0, _col("box_lo")] == pytest.approx((mid - lo) / s)
    assert X[0, _col("box_hi")] == pytest.approx((hi - mid) / s)
    assert X[1, _col("box_hi")] == pytest.approx(-0.3 / np.hypot(0.2, s))
    assert X[0, _col("log_p_box")] > X[1, _col("log_p_box")]
    assert X[0, _col("feh_z")] == pytest.approx(0.8 / ERROR_FLOORS["feh"])
    assert X[2, _col("feh_z")] == pytest.approx(-0.8 / np.hypot(0.2, ERROR_FLOORS["feh"]))
    assert X[0, _col("teff_kk")] == pytest.approx(-1.0)
    assert X[0, _col("logit_s1")] == pytest.approx(0.0)
    assert np.isnan(X[1, _col("logit_s2")])          # masked: missing
    assert np.isnan(X[:, _col("hdelta_d02")]).all()  # no Balmer columns: missing


def test_metallicity_and_temperature_evidence_saturates():
    """log_p_feh and log_p_teff are log probabilities given the error (floors included): 0 far
    on the BHB side, ln 0.5 at the boundary, and they fall without limit on the other side,
    so an extreme [Fe/H] adds nothing over a moderate one."""
    from scipy.special import log_ndtr

    from bhbfinder.verdict.features import BHB_TEFF_MIN, BOX_FEH_MAX

    table = Table({"teff": [9000.0, BHB_TEFF_MIN, 6600.0, 9000.0, np.nan],
                   "teff_err": [100.0, 0.0, 100.0, 100.0, 100.0],
                   "logg": [3.3] * 5, "feh": [-2.5, BOX_FEH_MAX, -1.5, -0.3, -1.5],
                   "feh_err": [0.1, 0.3, 0.2, 0.2, 0.1]})
    X = feature_matrix(table)
    f, t = X[:, _col("log_p_feh")], X[:, _col("log_p_teff")]
    assert f[0] == pytest.approx(0.0, abs=1e-6)          # 11 sigma below -0.8
    assert f[2] == pytest.approx(0.0, abs=0.01)           # 2.8 sigma: hardly less
    assert f[1] == pytest.approx(np.log(0.5))             # at the boundary
    s_f = np.hypot(0.2, ERROR_FLOORS["feh"])
    assert f[3] == pytest.approx(log_ndtr((BOX_FEH_MAX + 0.3) / s_f))
    assert t[1] == pytest.approx(np.log(0.5))
    s_t = np.hypot(100.0, ERROR_FLOORS["teff"])
    assert t[2] == pytest.approx(log_ndtr((6600.0 - BHB_TEFF_MIN) / s_t))
    assert t[2] < np.log(0.02) and t[0] == pytest.approx(0.0, abs=1e-6)
    assert np.isnan(t[4]) and np.isfinite(f[4])           # no Teff: missing, not zero


def test_bhb_region_is_the_class_rule():
    """``in_bhb_region`` (the region ``p_bhb_region`` integrates over) agrees with the library's
    class rule on stars without an HB spectral type, the cool end at 7,000 K included, where
    the box's formula alone would go on."""
    from bhbfinder.simulate import classify_star
    from bhbfinder.verdict.features import in_bhb_region

    teff = np.array([6600.0, 6900.0, 7100.0, 8500.0, 8500.0, 11000.0])
    lo, hi = culpan_kiel_limits(teff)
    logg = 0.5 * (lo + hi)
    feh = np.array([-1.5, -1.5, -1.5, -1.5, -0.5, -2.0])
    region = in_bhb_region(teff, logg, feh)
    assert region.tolist() == [False, False, True, True, False, True]
    assert region.tolist() == [classify_star(t, g, f) == "BHB"
                               for t, g, f in zip(teff, logg, feh, strict=True)]


def _synthetic(n=4000, seed=0):
    return verdict_rows(n, seed, "additive")


def test_model_recovers_a_known_logistic_law_and_is_calibrated():
    X, y = _synthetic()
    model = VerdictModel(features=("box_lo", "feh_z"), l2=0.01).fit(X, y)
    w = model.weights()
    scale = np.nanstd(X[:, [_col("box_lo"), _col("feh_z")]], axis=0)
    assert w["box_lo"] / scale[0] == pytest.approx(2.0, rel=0.1)
    assert w["feh_z"] / scale[1] == pytest.approx(1.5, rel=0.1)
    Xt, yt = _synthetic(seed=1)
    for row in reliability_table(model.predict_proba(Xt), yt):
        assert abs(row["observed"] - row["mean_p"]) < 4 * row["sigma"] + 0.01, row


def test_class_weight_keeps_probabilities_calibrated():
    X, y = _synthetic(seed=2)
    plain = VerdictModel(features=("box_lo", "feh_z"), l2=0.01).fit(X, y)
    weighted = VerdictModel(features=("box_lo", "feh_z"), l2=0.01, class_weight=5.0).fit(X, y)
    assert np.mean(weighted.predict_proba(X)) == pytest.approx(np.mean(plain.predict_proba(X)),
                                                               abs=0.02)


def test_missing_features_pull_neither_way():
    X, y = _synthetic()
    model = VerdictModel(features=("box_lo", "feh_z"), l2=0.01).fit(X, y)
    row = np.full((1, len(FEATURE_NAMES)), np.nan)
    expected = 1 / (1 + np.exp(-model.intercept_))
    assert model.predict_proba(row)[0] == pytest.approx(expected)


def test_save_load_round_trip(tmp_path):
    X, y = _synthetic()
    model = VerdictModel(features=("box_lo", "feh_z"), l2=0.5).fit(X, y)
    model.threshold_ = 0.73
    model.meta = {"note": "test", "numbers": [1, 2]}
    model.save(tmp_path / "v.asdf")
    back = VerdictModel.load(tmp_path / "v.asdf")
    np.testing.assert_array_equal(back.predict_proba(X), model.predict_proba(X))
    assert back.threshold_ == 0.73 and back.meta["numbers"] == [1, 2]
    assert back.features == ("box_lo", "feh_z")


def _interacting(n=6000, seed=0):
    """A law in which one feature counts only through the other: logit = 3 a b."""
    return verdict_rows(n, seed, "product")


def test_interactions_learn_a_law_that_lives_in_a_product():
    X, y = _interacting()
    Xt, yt = _interacting(seed=1)
    names = ("box_lo", "feh_z")
    plain = VerdictModel(features=names, l2=0.01).fit(X, y)
    both = VerdictModel(features=names, l2=0.01, interactions=True).fit(X, y)
    # the plain model cannot rank by a product of its features; the interaction model can
    assert average_precision(plain.predict_proba(Xt), yt) < 0.6
    assert average_precision(both.predict_proba(Xt), yt) > 0.85
    w = both.weights()
    assert list(w) == ["box_lo", "feh_z", "box_lo*feh_z"]
    assert abs(w["box_lo*feh_z"]) > 5 * max(abs(w["box_lo"]), abs(w["feh_z"]))
    for row in reliability_table(both.predict_proba(Xt), yt):
        assert abs(row["observed"] - row["mean_p"]) < 4 * row["sigma"] + 0.02, row


def test_interactions_survive_a_save_load_round_trip(tmp_path):
    X, y = _interacting()
    model = VerdictModel(features=("box_lo", "feh_z", "cak"), l2=1.0, interactions=True)
    model.fit(X, y).save(tmp_path / "v.asdf")
    back = VerdictModel.load(tmp_path / "v.asdf")
    assert back.interactions and back.get_params() == model.get_params()
    np.testing.assert_array_equal(back.predict_proba(X), model.predict_proba(X))
    assert len(back.coef_) == 3 + 3


def test_load_errors_name_the_file(tmp_path):
    with pytest.raises(ModelFileError, match="no such verdict model"):
        VerdictModel.load(tmp_path / "missing.asdf")
    bad = tmp_path / "bad.asdf"
    bad.write_text("not asdf")
    with pytest.raises(ModelFileError, match="bad.asdf"):
        VerdictModel.load(bad)
    with pytest.raises(ConfigurationError, match="unknown feature"):
        VerdictModel(features=("nope",))
    with pytest.raises(ConfigurationError, match="not fitted"):
        VerdictModel().predict_proba(np.zeros((1, len(FEATURE_NAMES))))


def test_choose_threshold_known_answer():
    p = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4])
    y = np.array([1, 1, 0, 1, 0, 0], bool)
    # observed: from the labels
    thr, got = choose_threshold(p, y, 0.75, method="observed")
    assert thr == 0.6 and got["precision"] == 0.75 and got["recall"] == 1.0
    thr, got = choose_threshold(p, y, 1.0, method="observed")
    assert thr == 0.8 and got["recall"] == pytest.approx(2 / 3)
    assert choose_threshold(p, ~y & (p > 2), 0.5, method="observed")[0] == 1.0
    # expected: the mean calibrated probability of the rows kept
    thr, got = choose_threshold(p, y, 0.8)
    assert thr == 0.7 and got["expected_precision"] == pytest.approx(0.8)
    assert got["precision"] == pytest.approx(2 / 3)
    assert choose_threshold(p, None, 0.95)[0] == 1.0
    with pytest.raises(ConfigurationError, match="labels"):
        choose_threshold(p, None, 0.9, method="observed")


def test_expected_threshold_meets_its_target_on_calibrated_probabilities():
    rng = np.random.default_rng(3)
    p = rng.beta(0.3, 2.0, 200_000)
    y = rng.uniform(size=p.size) < p          # calibrated by construction
    thr, got = choose_threshold(p, y, 0.9)
    assert got["precision"] == pytest.approx(0.9, abs=0.01)


def test_choose_threshold_weights_act_as_repeated_rows():
    p = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4])
    y = np.array([1, 1, 0, 1, 0, 0], bool)
    w = np.array([1, 1, 3, 1, 2, 1], float)
    reps = w.astype(int)
    for method in ("expected", "observed"):
        weighted = choose_threshold(p, y, 0.7, method=method, sample_weight=w)
        repeated = choose_threshold(np.repeat(p, reps), np.repeat(y, reps), 0.7, method=method)
        assert weighted[0] == repeated[0]
        assert weighted[1] == pytest.approx(repeated[1])


def _with_held_out_rows(X, y, model, n_folds=5):
    """``model`` with ``X, y`` as its held-out rows (all of them hot stars)."""
    X = X.copy()
    X[:, _col("teff_kk")] = -0.5                      # 8500 K: in the hot population
    model.meta = {"held_out_features": {"X": X, "names": list(FEATURE_NAMES), "y": y,
                                        "fold": np.arange(len(y)) % n_folds}}
    return model


def test_for_prevalence_is_calibrated_on_a_population_with_another_class_mix():
    """A known logistic law, fitted at one class mix; the stars of a sample with a fifth of the
    BHB stars (same features per class) get calibrated probabilities from the shifted model."""
    X, y = _synthetic(20000, seed=7)
    model = _with_held_out_rows(X, y, VerdictModel(features=("box_lo", "feh_z"), l2=0.01)
                                .fit(X, y))
    assert model.prevalence == pytest.approx(y.mean())
    rng = np.random.default_rng(8)
    Xn, yn = _synthetic(40000, seed=9)
    keep = ~yn | (rng.uniform(size=yn.size) < 0.2)
    Xn, yn = Xn[keep], yn[keep]
    moved = model.for_prevalence(yn.mean())
    assert moved.prevalence == pytest.approx(yn.mean())
    assert moved.meta["prevalence"]["fitted"] == pytest.approx(y.mean())
    shift = np.log(yn.mean() / (1 - yn.mean())) - np.log(y.mean() / (1 - y.mean()))
    np.testing.assert_allclose(moved.decision_function(Xn),
                               model.decision_function(Xn) + shift, atol=1e-9)
    for row in reliability_table(moved.predict_proba(Xn), yn):
        assert abs(row["observed"] - row["mean_p"]) < 4 * row["sigma"] + 0.01, row
    # the old model overstates the odds in that sample
    assert model.predict_proba(Xn).mean() > yn.mean() + 0.03
    # the new threshold keeps the precision target there, at less recall
    assert moved.threshold_ > model.threshold_ or model.threshold_ == 1.0
    called = moved.predict(Xn)
    assert yn[called].mean() == pytest.approx(moved.precision_target, abs=0.03)


def test_for_prevalence_at_its_own_share_changes_nothing_and_checks_its_input():
    X, y = _synthetic(3000, seed=11)
    model = _with_held_out_rows(X, y, VerdictModel(features=("box_lo", "feh_z"), l2=0.01)
                                .fit(X, y))
    same = model.for_prevalence(model.prevalence)
    np.testing.assert_allclose(same.predict_proba(X), model.predict_proba(X))
    for bad in (0.0, 1.0, -0.1, 1.5, float("nan"), "often", None):
        with pytest.raises(ConfigurationError, match="between 0 and 1"):
            model.for_prevalence(bad)
    # moving twice is moving once: the kept rows keep the evaluation's mix
    once, twice = model.for_prevalence(0.2), model.for_prevalence(0.6).for_prevalence(0.2)
    np.testing.assert_allclose(twice.predict_proba(X), once.predict_proba(X))
    assert twice.threshold_ == pytest.approx(once.threshold_)
    assert twice.meta["prevalence"]["held_out_recall"] == pytest.approx(
        once.meta["prevalence"]["held_out_recall"])
    bare = VerdictModel(features=("box_lo",), l2=0.01).fit(X, y)
    assert bare.prevalence is None
    with pytest.raises(ConfigurationError, match="held_out_stars.py"):
        bare.for_prevalence(0.1)


def test_shipped_verdict_for_its_own_prevalence_keeps_its_threshold():
    """The threshold chosen again from the shipped model's held-out rows at its own share of
    BHB stars is the one it shipped with; a rarer share raises it and lowers the recall."""
    from bhbfinder.stages.verdict import default_model_path

    shipped = VerdictModel.load(default_model_path())
    assert 0.05 < shipped.prevalence < 0.5
    same = shipped.for_prevalence(shipped.prevalence)
    assert same.threshold_ == pytest.approx(shipped.threshold_, abs=1e-6)
    rare = shipped.for_prevalence(shipped.prevalence / 4)
    assert rare.threshold_ > shipped.threshold_
    assert rare.meta["prevalence"]["held_out_recall"] < same.meta["prevalence"]["held_out_recall"]
    assert rare.meta["prevalence"]["expected_precision"] >= shipped.precision_target


def test_held_out_scores_are_what_the_shipped_threshold_was_chosen_on():
    """The shipped model's held-out rows, scored by `held_out_scores`, give back its threshold
    and its BHB share; a model without held-out rows says how to get them."""
    from bhbfinder.stages.verdict import default_model_path
    from bhbfinder.verdict.model import choose_threshold

    shipped = VerdictModel.load(default_model_path())
    scores = shipped.held_out_scores()
    y, hot = scores["is_bhb_true"], scores["hot"]
    assert len(scores["p_bhb"]) == len(y) == len(scores["teff"])
    assert np.all(scores["teff"][hot] >= 7000.0)
    assert y[hot].mean() == pytest.approx(shipped.prevalence)
    threshold, _ = choose_threshold(scores["p_bhb"], y, shipped.precision_target)
    assert threshold == pytest.approx(shipped.threshold_, abs=1e-6)
    X, y = _synthetic(400, seed=3)
    with pytest.raises(ConfigurationError, match="held_out_stars.py"):
        VerdictModel(features=("box_lo",), l2=0.01).fit(X, y).held_out_scores()


def test_shipped_verdict_rows_carry_the_effective_snr_and_the_audit():
    """The shipped verdict was fitted on held-out rows whose S/N counts their template's own
    noise (M5 II 53's MILES spectrum has S/N ~12: none of its renderings is at S/N 30,
    although their targets reach 80) and without the doubtful stars (HD 216916's MILES
    spectrum is a cool star's)."""
    from bhbfinder.stages.verdict import default_model_path

    rows = VerdictModel.load(default_model_path()).meta["held_out_features"]
    ids = np.asarray(rows["star_id"]).astype(str)
    snr = np.asarray(rows["snr"], float)
    assert (ids == "MILES:0929").sum() == 40 and snr[ids == "MILES:0929"].max() < 30.0
    assert snr[ids == "MILES:0085"].max() > 60.0               # HD 14829, a bright BHB star
    assert not np.isin(ids, ["MILES:0853", "MILES:0578"]).any()  # HD 216916, HD 143459


def test_shipped_verdict_calls_no_measured_cool_star_bhb():
    """No held-out row whose measured Teff is below the horizontal branch's blue side (7,000 K)
    reaches the shipped threshold, however metal-poor: the metallicity evidence saturates
    (``log_p_feh``) and the temperature has a cool limit (``log_p_teff``). The verdict before
    them called a 6,640 K rendering of HD 19510 BHB at 0.99 on these rows."""
    from bhbfinder.stages.verdict import default_model_path

    shipped = VerdictModel.load(default_model_path())
    scores = shipped.held_out_scores()
    cool = scores["teff"] < 7000.0
    assert cool.sum() > 50 and not scores["is_bhb_true"][cool].any()
    assert scores["p_bhb"][cool].max() < shipped.threshold_


def test_for_precision_meets_its_target_on_a_new_sample_and_checks_its_input():
    """A known logistic law: the threshold chosen again for a precision target gives that
    precision on a fresh sample of the same mix; a higher target, less recall; p_bhb is
    unchanged."""
    X, y = _synthetic(20000, seed=21)
    model = _with_held_out_rows(X, y, VerdictModel(features=("box_lo", "feh_z"), l2=0.01)
                                .fit(X, y))
    loose, strict = model.for_precision(0.95), model.for_precision(0.98)
    assert strict.precision_target == 0.98 and loose.precision_target == 0.95
    assert strict.threshold_ > loose.threshold_
    Xn, yn = _synthetic(40000, seed=22)
    np.testing.assert_allclose(strict.predict_proba(Xn), model.predict_proba(Xn))
    called, many = strict.predict(Xn), loose.predict(Xn)
    assert yn[called].mean() == pytest.approx(0.98, abs=0.01)
    assert yn[many].mean() == pytest.approx(0.95, abs=0.015)
    assert called.sum() < many.sum()
    assert strict.meta["precision"]["expected_precision"] >= 0.98
    # at its own target nothing moves; targets combine with another prevalence
    assert loose.for_precision(0.95).threshold_ == pytest.approx(loose.threshold_, abs=1e-9)
    both = strict.for_prevalence(0.05)
    assert both.precision_target == 0.98
    assert both.threshold_ > loose.for_prevalence(0.05).threshold_
    for bad in (0.0, 1.0, 1.2, float("nan"), "high", None):
        with pytest.raises(ConfigurationError, match="between 0 and 1"):
            model.for_precision(bad)
    with pytest.raises(ConfigurationError, match="held_out_stars.py"):
        VerdictModel(features=("box_lo",), l2=0.01).fit(X, y).for_precision(0.98)


def test_shipped_verdict_for_its_own_precision_keeps_its_threshold():
    from bhbfinder.stages.verdict import VerdictStage, default_model_path

    shipped = VerdictModel.load(default_model_path())
    assert shipped.for_precision(shipped.precision_target).threshold_ == pytest.approx(
        shipped.threshold_, abs=1e-6)
    strict = shipped.for_precision(0.98)
    assert strict.threshold_ > shipped.threshold_
    assert strict.meta["precision"]["held_out_recall"] < \
        shipped.meta["out_of_fold"]["recall"]
    assert VerdictStage(precision_target=0.98).threshold == pytest.approx(strict.threshold_)


def _catalogue(p, teff, status=None):
    n = len(p)
    status = ["ok"] * n if status is None else status
    bad = np.asarray(status) != "ok"
    return Table({"status": status, "teff": MaskedColumn(teff, mask=bad),
                  "p_bhb": MaskedColumn(p, mask=bad),
                  "is_bhb": MaskedColumn(np.zeros(n, bool), mask=bad),
                  "is_new_bhb": MaskedColumn(np.zeros(n, bool), mask=np.ones(n, bool))},
                 meta={"stage_status": {"known": "skipped"}, "summary": {"bhb": 0}})


def test_estimate_prevalence_recovers_the_share_of_a_sample():
    """Calibrated probabilities of a sample whose share of BHB stars differs from the model's:
    the EM of Saerens et al. (2002) finds that share from the probabilities alone."""
    from bhbfinder.verdict import estimate_prevalence

    X, y = _synthetic(20000, seed=21)
    model = _with_held_out_rows(X, y, VerdictModel(features=("box_lo", "feh_z"), l2=0.01)
                                .fit(X, y))
    rng = np.random.default_rng(22)
    for keep_bhb in (0.1, 0.4):
        Xn, yn = _synthetic(60000, seed=23)
        keep = ~yn | (rng.uniform(size=yn.size) < keep_bhb)
        Xn, yn = Xn[keep], yn[keep]
        teff = np.full(len(yn), 8500.0)
        teff[::7] = 6000.0                       # cool rows do not count
        table = _catalogue(model.predict_proba(Xn), teff)
        got = estimate_prevalence(table, model)
        hot = teff >= 7000
        assert got["converged"] and got["n_hot"] == hot.sum()
        assert got["prior"] == pytest.approx(model.prevalence)
        assert got["prevalence"] == pytest.approx(yn[hot].mean(), abs=0.01)
    with pytest.raises(ConfigurationError, match="0 row"):
        estimate_prevalence(_catalogue(np.full(3, 0.5), np.full(3, 6000.0)), model)
    with pytest.raises(ConfigurationError, match="fewer than the 20"):
        estimate_prevalence(_catalogue(np.full(5, 0.5), np.full(5, 8000.0)), model)
    with pytest.raises(ConfigurationError, match="teff"):
        estimate_prevalence(Table({"p_bhb": [0.5]}), model)


def test_apply_prevalence_moves_every_row_and_keeps_masks():
    from bhbfinder.verdict import apply_prevalence

    X, y = _synthetic(4000, seed=31)
    model = _with_held_out_rows(X, y, VerdictModel(features=("box_lo", "feh_z"), l2=0.01)
                                .fit(X, y))
    p = np.array([0.99, 0.9, 0.5, 0.1, 0.7])
    table = _catalogue(p, np.full(5, 8500.0), status=["ok", "ok", "ok", "ok", "unreadable"])
    out = apply_prevalence(table, 0.05, model)
    shift = np.log(0.05 / 0.95) - np.log(model.prevalence / (1 - model.prevalence))
    logit = np.log(p[:4] / (1 - p[:4]))
    np.testing.assert_allclose(np.asarray(out["p_bhb"][:4], float),
                               1 / (1 + np.exp(-(logit + shift))))
    threshold = model.for_prevalence(0.05).threshold_
    assert out.meta["verdict_threshold"] == pytest.approx(threshold)
    assert out.meta["verdict_prevalence"] == 0.05
    assert list(np.asarray(out["is_bhb"][:4], bool)) == \
        list(np.asarray(out["p_bhb"][:4], float) >= threshold)
    assert list(np.ma.getmaskarray(out["p_bhb"])) == [False] * 4 + [True]
    assert np.ma.getmaskarray(out["is_bhb"])[4]
    # offline (known-catalogue check skipped): is_new_bhb False where is_bhb is False
    called = np.asarray(out["is_bhb"].filled(False), bool)
    assert not np.asarray(out["is_new_bhb"].filled(True))[~called & ~np.ma.getmaskarray(
        out["is_bhb"])].any()
    assert out.meta["summary"]["bhb"] == int(called.sum())
    assert np.asarray(table["p_bhb"][0]) == 0.99          # the input is not changed
    with pytest.raises(ConfigurationError, match="between 0 and 1"):
        apply_prevalence(table, 2.0, model)


def test_cross_fit_never_sees_the_fold_it_predicts():
    X, y = _synthetic(2000)
    folds = np.arange(len(y)) % 4

    def make():
        return VerdictModel(features=("box_lo", "feh_z"), l2=0.01, precision_target=0.9)

    p, decision, thresholds = cross_fit(X, y, folds, make)
    y2 = y.copy()
    y2[folds == 2] = ~y2[folds == 2]            # fold 2's own labels change ...
    p2, _, thresholds2 = cross_fit(X, y2, folds, make)
    np.testing.assert_array_equal(p2[folds == 2], p[folds == 2])   # ... its predictions don't
    assert thresholds2[2] == thresholds[2]
    assert not np.array_equal(p2[folds == 0], p[folds == 0])
    assert set(thresholds) == {0, 1, 2, 3}
    assert np.array_equal(decision, p >= np.array([thresholds[k] for k in folds]))


def test_stage_masks_failed_rows(tmp_path):
    from bhbfinder.stages.verdict import VerdictStage

    X, y = _synthetic()
    model = VerdictModel(features=("feh_z",), l2=0.01).fit(X, y)
    model.threshold_ = 0.5
    table = Table({"status": ["ok", "unreadable", "ok"], "teff": [8000.0, np.nan, 8000.0],
                   "logg": [3.2, np.nan, 3.2], "feh": [-2.0, np.nan, 0.5]})
    out = VerdictStage(model).run(table)
    assert list(out["p_bhb"].mask) == [False, True, False]
    assert list(out["is_bhb"].mask) == [False, True, False]
    assert out["p_bhb"][0] > 0.5 > out["p_bhb"][2]
    assert bool(out["is_bhb"][0]) and not bool(out["is_bhb"][2])
    assert VerdictStage(model, threshold=0.999).run(table)["is_bhb"][0] == \
        (out["p_bhb"][0] >= 0.999)
    # another prevalence: the model moved to it, recorded in the table's meta
    model = _with_held_out_rows(X, y, model)
    moved = VerdictStage(model, prevalence=0.05).run(table)
    expected = model.for_prevalence(0.05).predict_proba(feature_matrix(table[[0, 2]]))
    np.testing.assert_allclose(moved["p_bhb"][[0, 2]], expected)
    assert moved.meta["verdict_prevalence"] == 0.05
    assert out.meta["verdict_prevalence"] is None      # the test model records none


def test_shipped_verdict_is_calibrated_on_held_out_stars():
    """The shipped verdict's own held-out features (renderings of real stars scored by fold
    models that never saw them), cross-fitted by fold as the model was: the reliability curve
    follows the diagonal within binomial errors (plus a small allowance for the stars'
    correlated renderings)."""
    from bhbfinder.stages.verdict import default_model_path

    shipped = VerdictModel.load(default_model_path())
    from bhbfinder.verdict.features import align_features

    held = shipped.meta["held_out_features"]
    X = align_features(held["X"], held["names"])
    y, folds = np.asarray(held["y"], bool), held["fold"]
    assert len(np.unique(folds)) >= 5 and y.sum() >= 100

    def make():
        return VerdictModel(**shipped.get_params())

    p, _, _ = cross_fit(X, y, np.asarray(folds), make)
    table = reliability_table(p, y)
    assert sum(row["n"] for row in table) == len(y)
    for row in table:
        assert abs(row["observed"] - row["mean_p"]) < 3 * row["sigma"] + 0.1, row
    # and the probabilities rank: BHB renderings score above the others
    assert np.median(p[y]) > 0.5 > np.median(p[~y])


def test_calibrate_undoes_overconfidence():
    """Log odds three times too large (a model over-confident on new stars) are scaled back."""
    X, y = _synthetic(6000, seed=5)
    model = VerdictModel(features=("box_lo", "feh_z"), l2=0.01).fit(X, y)
    raw = model.raw_decision_function(X)
    model.intercept_ *= 3
    model.coef_ = model.coef_ * 3
    model.calibrate(3 * raw, y)
    a, b = model.calibration_
    assert a == pytest.approx(1 / 3, rel=0.1) and abs(b) < 0.1
    for row in reliability_table(model.predict_proba(X), y):
        assert abs(row["observed"] - row["mean_p"]) < 4 * row["sigma"] + 0.01


def test_pipeline_adds_the_verdict_and_builds_is_new_bhb_from_it(tmp_path):
    """find_bhb with the shipped models: p_bhb / is_bhb on every processed row, masked on a
    failed one; is_new_bhb follows is_bhb; the summary counts it."""
    from bhbfinder import find_bhb
    from bhbfinder.simulate import build_library, simulate_files

    library = build_library(("analytic",), n_per_class={"BHB": 3, "A": 3, "other": 2},
                            classes=("BHB", "A", "other"), snr=(40, 60), seed=4)
    simulate_files(tmp_path, library)
    (tmp_path / "broken.fits").write_text("not a spectrum")
    cat = find_bhb(tmp_path)
    failed = np.asarray(cat["status"]) != "ok"
    assert failed.sum() == 1
    p = cat["p_bhb"]
    assert np.array_equal(np.ma.getmaskarray(p), failed)
    assert np.array_equal(np.ma.getmaskarray(cat["is_bhb"]), failed)
    good = np.asarray(p[~failed], float)
    assert np.all((good >= 0) & (good <= 1))
    from bhbfinder.stages.verdict import default_model_path

    threshold = VerdictModel.load(default_model_path()).threshold_
    assert np.array_equal(np.asarray(cat["is_bhb"][~failed], bool), good >= threshold)
    # offline: is_new_bhb is False where is_bhb is False, undetermined (masked) where True
    # and where the row failed
    new = cat["is_new_bhb"]
    is_bhb = np.asarray(cat["is_bhb"].filled(False), bool)
    assert not np.asarray(new.filled(True))[~is_bhb & ~failed].any()
    assert np.ma.getmaskarray(new)[failed].all()
    assert np.array_equal(np.ma.getmaskarray(new)[is_bhb], np.ones(is_bhb.sum(), bool))
    assert cat.meta["summary"]["bhb"] == int(is_bhb.sum())
    assert cat.meta["stage_status"]["verdict"] == "ok"
    # the catalogue's own share of BHB stars: estimated at the end of the run, every p_bhb
    # moved to it as apply_prevalence moves the plain run's catalogue
    from bhbfinder.verdict import apply_prevalence

    with pytest.warns(BHBFinderWarning, match="could not be estimated"):
        kept = find_bhb(tmp_path, config={"verdict": {"prevalence": "estimate"}})
    assert "verdict_prevalence_estimate" not in kept.meta     # 8 spectra: fewer than 20
    np.testing.assert_allclose(np.ma.filled(kept["p_bhb"].astype(float), -1),
                               np.ma.filled(cat["p_bhb"].astype(float), -1))
    own = find_bhb(tmp_path, config={"verdict": {"prevalence": "estimate",
                                                 "prevalence_min_rows": 3}})
    record = own.meta["verdict_prevalence_estimate"]
    assert record["converged"] and record["n_hot"] >= 3
    assert own.meta["verdict_prevalence"] == pytest.approx(record["prevalence"])
    moved = apply_prevalence(cat, record["prevalence"])
    np.testing.assert_allclose(np.ma.filled(own["p_bhb"].astype(float), -1),
                               np.ma.filled(moved["p_bhb"].astype(float), -1), atol=1e-12)
    assert np.array_equal(np.ma.filled(own["is_bhb"], False), np.ma.filled(moved["is_bhb"],
                                                                            False))
    assert own.meta["summary"]["bhb"] == int(np.ma.filled(own["is_bhb"], False).sum())
    from bhbfinder.catalog import format_summary

    assert own.meta["summary"]["verdict_prevalence_rows"] == record["n_hot"]
    assert f"estimated from {record['n_hot']} hot spectra" in format_summary(own.meta["summary"])
    assert "model's" in format_summary(cat.meta["summary"])


@pytest.mark.realdata
def test_no_real_fgk_galaxy_or_dr1_disk_a_file_is_called_bhb(shared_data):
    """The real LAMOST files: no F/G/K/M star, galaxy or unknown object, and none of the 41
    disk A stars of DR1 plan B6212, gets is_bhb."""
    from bhbfinder import find_bhb

    cat = find_bhb(shared_data / "lamost")
    assert (np.asarray(cat["status"]) == "ok").sum() >= 200
    is_bhb = np.asarray(cat["is_bhb"].filled(False), bool)
    sub = np.asarray(cat["subclass"]).astype(str)
    cls = np.asarray(cat["class"]).astype(str)
    cool = np.array([s[:1] in "FGKM" for s in sub])
    assert cool.sum() >= 100 and not is_bhb[cool].any()
    assert not is_bhb[cls != "STAR"].any()
    dr1 = np.array(["B6212" in str(f) for f in cat["file"]])
    assert dr1.sum() >= 40 and not is_bhb[dr1].any()
