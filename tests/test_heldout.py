"""Held-out-star evaluation: folds, audit, renderings, scores, fold models."""

import numpy as np
import pytest
from astropy.table import Table

from bhbfinder.errors import ConfigurationError
from bhbfinder.simulate import analytic_templates
from bhbfinder.training.heldout import (
    LABEL_AUDIT,
    FoldPlan,
    assign_folds,
    average_precision,
    bootstrap_by_star,
    label_estimates,
    load_real_templates,
    render_stars,
    score_decisions,
    star_recall_table,
    star_table,
    twin_keys,
)


def _stars(n_bhb=9, n_a=30, n_other=50):
    labels = ["BHB"] * n_bhb + ["A"] * n_a + ["other"] * n_other
    rng = np.random.default_rng(0)
    return Table({"star_id": [f"s{i}" for i in range(len(labels))], "label": labels,
                  "teff": rng.uniform(6000, 12000, len(labels))})


@pytest.mark.parametrize("n_folds", [2, 4, 5])
def test_every_star_held_out_exactly_once_and_classes_spread(n_folds):
    stars = _stars()
    fold = assign_folds(stars, n_folds, seed=3)
    assert fold.min() == 0 and fold.max() == n_folds - 1
    labels = np.asarray(stars["label"])
    for cls in ("BHB", "A", "other"):
        counts = np.bincount(fold[labels == cls], minlength=n_folds)
        assert counts.max() - counts.min() <= 1, (cls, counts)   # dealt evenly
    assert np.array_equal(assign_folds(stars, n_folds, seed=3), fold)


def test_assign_folds_rejects_one_fold():
    with pytest.raises(ConfigurationError, match="at least 2"):
        assign_folds(_stars(), 1)


def test_training_mask_keeps_no_row_of_a_held_out_star():
    lib = analytic_templates(6, seed=2, classes=("BHB", "A"))
    plan = FoldPlan.build([lib], n_folds=3, seed=1)
    rows = np.concatenate([np.asarray(lib.labels["star_id"]).astype(str)] * 4 +
                          [np.array(["analytic:extra", "junk:1"])])
    for k in range(3):
        keep = plan.training_mask(rows, k)
        held = plan.held_out(k)
        assert held and not set(rows[keep]) & held
        assert set(rows[~keep]) == held
        assert keep[-2:].all()          # rows of stars outside the plan stay
    # each star in exactly one fold's held-out set
    sets = [plan.held_out(k) for k in range(3)]
    assert sum(len(s) for s in sets) == len(lib) == len(set().union(*sets))
    assert list(plan.fold_of(["nope"])) == [-1]


def test_star_table_refuses_duplicate_ids():
    lib = analytic_templates(2, seed=2, classes=("A",))
    with pytest.raises(ConfigurationError, match="two template rows"):
        star_table([lib, lib])


def test_render_stars_counts_truth_and_resolution_spread():
    lib = analytic_templates(3, seed=4, classes=("BHB", "A"))
    plan = FoldPlan.build([lib], n_folds=2, seed=0)
    sim = render_stars([lib], plan.stars, seed=5, per_star={"BHB": 5, "A": 2})
    labels = np.asarray(sim.meta["label"])
    assert (labels == "BHB").sum() == 15 and (labels == "A").sum() == 6
    fwhm = 4500.0 / np.asarray(sim.meta["resolving_power"])
    assert fwhm.min() >= 2.0 and fwhm.max() <= 4.0
    snr = np.asarray(sim.meta["snr_target"])
    assert snr.min() >= 8.0 and snr.max() <= 80.0
    assert np.abs(np.asarray(sim.meta["rv"])).max() <= 400.0
    assert not np.asarray(sim.meta["doubtful"]).any()


def test_score_decisions_known_answers():
    truth = np.array([1, 1, 1, 1, 0, 0, 0, 0], bool)
    decision = np.ma.array([1, 1, 0, 1, 1, 0, 0, 1], mask=[0, 0, 0, 0, 0, 0, 0, 1], dtype=bool)
    ok = np.array([1, 1, 1, 0, 1, 1, 1, 1], bool)      # row 3 failed: a miss
    snr = np.array([9, 15, 15, 50, 9, 15, 50, 50.0])
    stars = np.array(["a", "a", "b", "b", "c", "c", "d", "d"])
    labels = np.array(["BHB"] * 4 + ["A", "A", "B", "B"])
    s = score_decisions(truth, decision, ok=ok, snr=snr, star_ids=stars, labels=labels)
    assert s["pooled"] == {"precision": 2 / 3, "recall": 0.5, "tp": 2, "fp": 1, "n_bhb": 4,
                           "n_other": 4}
    assert s["by_snr"][0]["tp"] == 1 and s["by_snr"][0]["fp"] == 1
    assert s["by_star"]["a"]["fraction"] == 1.0 and s["by_star"]["b"]["fraction"] == 0.0
    assert s["false_positives_by_class"] == {"A": 1, "B": 0, "BHB": 0}
    table = star_recall_table(Table({"star_id": stars, "template": stars, "label": labels,
                                     "teff": snr, "logg": snr, "feh": snr,
                                     "snr_target": snr}), decision, ok)
    assert list(table["star_id"]) == ["a", "b"]
    assert list(table["found"]) == [1.0, 0.0]
    assert table["found_snr20"][0] != table["found_snr20"][0]   # no rendering of a at S/N ≥ 20


@pytest.mark.realdata
def test_average_precision_known_answers():
    # scikit-learn's documented example: 0.83
    assert average_precision([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]) == pytest.approx(5 / 6)
    assert average_precision([0.9, 0.8, 0.1], [1, 1, 0]) == 1.0
    assert average_precision([0.1, 0.8, 0.9], [1, 0, 0]) == pytest.approx(1 / 3)
    # tied scores enter together: one step at precision 1/2
    assert average_precision([0.5, 0.5], [1, 0]) == 0.5
    assert average_precision([np.nan, 0.2], [1, 0]) == 0.5
    assert np.isnan(average_precision([0.3, 0.2], [0, 0]))


def test_bootstrap_by_star_known_distributions():
    # two BHB stars of 10 renderings: one always found, one never; the resampled recall is
    # 1 or 0 (each with probability 1/4) or 1/2 (probability 1/2)
    ids = np.repeat(["s1", "s2"], 10)
    truth = np.ones(20, bool)
    decision = np.r_[np.ones(10, bool), np.zeros(10, bool)]
    out = bootstrap_by_star(truth, decision, ids, n_boot=4000, levels=(0.4, 0.95))
    assert out["n_stars"] == (2, 0)
    assert out["recall"]["value"] == 0.5
    assert out["recall"][0.4] == (0.5, 0.5)
    assert out["recall"][0.95] == (0.0, 1.0)
    # one BHB star always found; two others, one with 2 false positives in 10, one with none:
    # the precision is 10/14, 10/12 or 1 with probabilities 1/4, 1/2, 1/4
    ids = np.repeat(["b", "a1", "a2"], 10)
    truth = np.r_[np.ones(10, bool), np.zeros(20, bool)]
    decision = np.r_[np.ones(10, bool), np.ones(2, bool), np.zeros(18, bool)]
    out = bootstrap_by_star(truth, decision, ids, n_boot=4000, levels=(0.4, 0.95))
    assert out["n_stars"] == (1, 2)
    assert out["precision"]["value"] == pytest.approx(10 / 12)
    assert out["precision"][0.4] == pytest.approx((10 / 12, 10 / 12))
    assert out["precision"][0.95] == pytest.approx((10 / 14, 1.0))
    assert out["recall"][0.95] == (1.0, 1.0)


def test_bootstrap_by_star_identical_stars_and_failed_rows():
    # every BHB star found in 3 of its 4 renderings: no spread, whatever is drawn
    ids = np.repeat([f"s{i}" for i in range(5)], 4)
    truth = np.ones(20, bool)
    decision = np.tile([True, True, True, False], 5)
    out = bootstrap_by_star(truth, decision, ids, n_boot=200)
    assert out["recall"][0.68] == (0.75, 0.75) and out["recall"][0.95] == (0.75, 0.75)
    # a failed row is a miss even where its decision says BHB
    ok = np.tile([True, True, False, True], 5)
    out = bootstrap_by_star(truth, np.ones(20, bool), ids, ok=ok, n_boot=200)
    assert out["recall"]["value"] == 0.75 and out["recall"][0.95] == (0.75, 0.75)


def test_label_estimates_replace_only_the_named_labels():
    from bhbfinder.params.training import MilesLibrary
    from bhbfinder.training.material import with_label_estimates

    # the audit's own: M5 II 53's placeholder log g, and no other label of it
    assert label_estimates()["MILES:0929"] == {"logg": 3.36}
    assert LABEL_AUDIT["MILES:0929"]["label"] is None
    labels = np.array([[9441.0, 2.43, -1.11], [8000.0, 3.0, -1.5], [9441.0, 2.43, -1.11]])
    lib = MilesLibrary(np.arange(4.0), np.ones((3, 4)), np.ones((3, 4)), labels,
                       np.array(["a", "b", "c"]), {}, {"n_stars": 3},
                       np.array(["S1", "S2", "S3"]))
    out, replaced = with_label_estimates(lib, {"S1": {"logg": 3.36}, "S9": {"feh": -2.0},
                                               "S2": {"teff": 8100.0, "feh": -1.6}})
    assert replaced == ["S1", "S2"]
    assert np.array_equal(out.labels, [[9441.0, 3.36, -1.11], [8100.0, 3.0, -1.6],
                                       [9441.0, 2.43, -1.11]])
    assert np.array_equal(lib.labels, labels)          # the library given is left as it was
    assert out.flux is lib.flux
    assert out.provenance["label_estimates"] == {"S1": {"logg": 3.36},
                                                  "S2": {"teff": 8100.0, "feh": -1.6}}
    with pytest.raises(ConfigurationError, match="labels_estimate"):
        label_estimates({"X": {"labels_estimate": {"vsini": 3.0}, "reason": ""}})
    with pytest.raises(ConfigurationError, match="star_ids"):
        with_label_estimates(MilesLibrary(np.arange(4.0), np.ones((1, 4)), np.ones((1, 4)),
                                          labels[:1], np.array(["a"]), {}, {}))


def test_real_stars_audited_folds_and_recipe_rows(shared_data):
    libs = load_real_templates(shared_data)
    plan = FoldPlan.build(libs, n_folds=5, seed=0)
    stars = plan.stars
    by_id = {s: i for i, s in enumerate(np.asarray(stars["star_id"]))}
    for sid, entry in LABEL_AUDIT.items():
        row = stars[by_id[sid]]
        assert row["audit_reason"] == entry["reason"]
        assert bool(row["doubtful"]) == entry["doubtful"]
        if entry["label"]:
            assert row["label"] == entry["label"] and row["label_published"] == "BHB"
    bhb = np.asarray(stars["label"]) == "BHB"
    assert bhb.sum() >= 9
    # every real BHB star held out exactly once, spread over the folds
    assert len(set(np.asarray(stars["star_id"])[bhb])) == bhb.sum()
    assert np.bincount(np.asarray(stars["fold"])[bhb]).max() <= 2
    # the recipe library's rows of held-out stars never reach a fold's training rows
    from bhbfinder.simulate import build_library

    lib = build_library(sources=[f"miles:{shared_data / 'miles'}"], n_per_class=20,
                        classes=("BHB", "A"), seed=1)
    for k in range(5):
        keep = plan.training_mask(lib.star_ids, k)
        assert not set(lib.star_ids[keep]) & plan.held_out(k)


def test_fold_classifier_never_trains_on_held_out_stars():
    from bhbfinder.classify.recipes import DEFAULT_RECIPE
    from bhbfinder.simulate import build_library
    from bhbfinder.spectra.prepare import PrepareConfig, prepare
    from bhbfinder.training.folds import train_fold_classifier

    lib = build_library(n_per_class=12, classes=("BHB", "A", "B", "HotSD", "WD", "other"),
                        seed=3, analytic_stars_per_class=6)
    batch = prepare(lib.to_raw_batch(), PrepareConfig())
    ok = batch.ok
    arrays = {"flux": batch.flux[ok], "ivar": batch.ivar[ok], "mask": batch.mask[ok],
              "labels": lib.labels[ok], "star_ids": lib.star_ids[ok],
              "wavelength": batch.wavelength, "prepare_config": PrepareConfig().to_dict(),
              "provenance": {}}
    plan = FoldPlan.build([_as_templates(lib)], n_folds=3, seed=0)
    recipe = dict(DEFAULT_RECIPE, architecture={"base": "default", "widths": [8, 8, 8]})
    clf, info = train_fold_classifier(plan, 1, arrays, recipe=recipe,
                                      budget={"epochs_stage1": 1, "epochs_stage2": 1,
                                              "batch_size": 32}, log=None)
    held = plan.held_out(1)
    stars = arrays["star_ids"]
    for part in ("train", "validation"):
        assert not set(stars[info["split"][part]]) & held
    assert set(stars[info["split"]["test"]]) == held & set(stars)
    assert clf.provenance["held_out"]["fold"] == 1


def _as_templates(lib):
    """The distinct stars of a training library as a label table `star_table` reads."""
    from bhbfinder.simulate import TemplateLibrary

    _, first = np.unique(lib.star_ids, return_index=True)
    labels = Table({"name": lib.star_ids[first], "star_id": lib.star_ids[first],
                    "label": lib.labels[first],
                    "teff": np.asarray(lib.meta["teff"], float)[first],
                    "logg": np.asarray(lib.meta["logg"], float)[first],
                    "feh": np.asarray(lib.meta["feh"], float)[first],
                    "sptype": [""] * first.size, "source": ["analytic"] * first.size})
    return TemplateLibrary(np.array([4000.0, 5000.0]), None, labels)


@pytest.mark.realdata
def test_fold_params_model_excludes_held_out_stars(shared_data):
    from bhbfinder.params.training import MilesTrainingConfig, miles_library
    from bhbfinder.training.folds import train_fold_params

    libs = load_real_templates(shared_data, sources=("miles",))
    plan = FoldPlan.build(libs, n_folds=5, seed=0)
    library = miles_library(shared_data / "miles", MilesTrainingConfig(n_realisations=2))
    ids = dict(zip(np.asarray(libs[0].labels["name"]), np.asarray(libs[0].labels["star_id"]),
                   strict=True))
    star_ids = np.array([ids[n] for n in library.names])
    model = train_fold_params(plan, 2, library, star_ids, hyperparams={"optimize": False})
    held = np.isin(star_ids, sorted(plan.held_out(2)))
    assert held.any()
    assert len(model.train_labels_) == (~held).sum()
    # no held-out star's labels among the training labels
    train = {tuple(r) for r in np.round(model.train_labels_, 6)}
    assert not any(tuple(r) in train for r in np.round(library.labels[held], 6)
                   if tuple(r) not in {tuple(x) for x in np.round(library.labels[~held], 6)})


def test_twin_keys_join_a_star_across_libraries():
    stars = Table({"name": ["HD019510", "A0 (19510)", "HD023439A", "A4 (G_165-39)", "M5 II 53"],
                   "source": ["miles", "eigenstar", "miles", "eigenstar", "miles"],
                   "star_id": ["MILES:0107", "spEigenStar:A0 (19510)", "MILES:0127",
                               "spEigenStar:A4 (G_165-39)", "MILES:0929"]})
    assert list(twin_keys(stars)) == ["HD19510", "HD19510", "MILES:0127",
                                      "spEigenStar:A4 (G_165-39)", "MILES:0929"]


@pytest.mark.realdata
def test_plan_with_grouped_twins_holds_each_star_out_in_one_fold(shared_data):
    libraries = load_real_templates(shared_data)
    plain = FoldPlan.build(libraries, n_folds=5, seed=0, group_twins=False)
    grouped = FoldPlan.build(libraries, n_folds=5, seed=0)
    keys = twin_keys(plain.stars)
    split = {k for k in set(keys)
             if len(set(np.asarray(plain.stars["fold"])[keys == k])) > 1}
    assert len(split) >= 20                     # the ungrouped plan splits them (docs/heldout)
    fold = np.asarray(grouped.stars["fold"])
    for key in set(keys):
        assert len(set(fold[keys == key])) == 1
    # only twins move; every BHB star keeps its fold
    moved = fold != np.asarray(plain.stars["fold"])
    assert set(keys[moved]) <= split
    bhb = np.asarray(plain.stars["label"]).astype(str) == "BHB"
    assert not moved[bhb].any()


def test_held_out_benchmark_refuses_a_work_folder_of_another_plan(tmp_path, capsys):
    """A work folder whose fold models were made on another plan (e.g. before the twins were
    grouped) is not reused: its models would score stars they trained on."""
    import argparse
    import importlib.util
    import json
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "held_out_stars.py"
    spec = importlib.util.spec_from_file_location("held_out_stars_script", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    stars = _stars()
    stars["fold"] = assign_folds(stars, 5, seed=0)
    plan = FoldPlan(stars, 5, 0)
    moved = stars.copy()
    moved["fold"][0] = (moved["fold"][0] + 1) % 5        # one star dealt into another fold
    assert plan.same_folds(json.loads(json.dumps(plan.to_dict())))
    assert not plan.same_folds(FoldPlan(moved, 5, 0).to_dict())
    assert not plan.same_folds(None)
    path = tmp_path / "plan.json"
    parser = argparse.ArgumentParser()
    module._check_plan(path, plan, fresh=False, parser=parser)      # a new folder: fine
    path.write_text(json.dumps(FoldPlan(moved, 5, 0).to_dict()))
    with pytest.raises(SystemExit):
        module._check_plan(path, plan, fresh=False, parser=parser)
    assert "another fold plan" in capsys.readouterr().err
    module._check_plan(path, plan, fresh=True, parser=parser)       # --fresh retrains
    path.write_text(json.dumps(plan.to_dict()))
    module._check_plan(path, plan, fresh=False, parser=parser)      # the same plan: reused


def test_photometric_teff_errs_per_star():
    from bhbfinder.training.heldout import photometric_teff, star_normal

    ids = np.array(["MILES:0001", "MILES:0002", "MILES:0001", "EIGEN:7", "MILES:0002"])
    teff = np.array([8000.0, 9000.0, 8000.0, np.nan, 9000.0])
    cols = photometric_teff(ids, teff, error=250.0, seed=3)
    off = cols["teff_phot"] - teff
    # one error per star, the same in all its rows, and reproducible; none without a Teff
    assert off[0] == off[2] and off[1] == off[4] and off[0] != off[1]
    assert np.isnan(cols["teff_phot"][3])
    np.testing.assert_allclose(off[[0, 1]], 250.0 * star_normal(ids[[0, 1]], seed=3))
    np.testing.assert_array_equal(cols["teff_phot_err"], 250.0)
    again = photometric_teff(ids[::-1], teff[::-1], error=250.0, seed=3)["teff_phot"][::-1]
    np.testing.assert_array_equal(again, cols["teff_phot"])
    assert not np.allclose(photometric_teff(ids, teff, seed=4)["teff_phot"][:3],
                           cols["teff_phot"][:3])
    # a catalogue Teff the audit finds contradicted by the spectrum stands in for no colour
    wrong = photometric_teff(["MILES:0386", "MILES:0001"], [5538.0, 8000.0])["teff_phot"]
    assert np.isnan(wrong[0]) and np.isfinite(wrong[1])
    # a bias moves every star alike
    np.testing.assert_allclose(photometric_teff(ids, teff, seed=3, bias=300.0)["teff_phot"]
                               - cols["teff_phot"], [300.0, 300.0, 300.0, np.nan, 300.0])
    # independent standard normal draws over many stars, also where ids share a prefix and a
    # length (the draw once hashed only part of the id: every "MILES:nnnn" drew the same)
    many = star_normal(np.array([f"MILES:{i:04d}" for i in range(4000)]), seed=0)
    assert len(np.unique(many)) == 4000
    assert abs(many.mean()) < 0.05 and abs(many.std() - 1.0) < 0.05
