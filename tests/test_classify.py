"""Tests of the MSFA-Net two-stage classifier: network, attention, model file, training, stage."""

import numpy as np
import pytest
import torch
from astropy.table import Table

from bhbfinder.batch import PreparedBatch, meta_table
from bhbfinder.classify import metrics as M
from bhbfinder.classify.classifier import CLASSES, TwoStageClassifier, encode_input
from bhbfinder.classify.modelfile import load_model, save_model
from bhbfinder.classify.msfanet import (
    BandFrequencyAttention,
    MSFANet,
    PlainCNN,
    PublishedFrequencyAttention,
    architecture_config,
)
from bhbfinder.classify.training import label_spectra, split_by_star, train_two_stage
from bhbfinder.errors import ConfigurationError, ModelFileError, PreprocessingMismatchError

from ._classify_helpers import toy_spectra

TINY = {"widths": [8, 16, 32]}


def _prepare_configs():
    """(model's config dict, the same config, a different one)."""
    try:
        from bhbfinder.spectra.prepare import PrepareConfig
    except ImportError:  # prepare stage not installed: plain dicts are compared
        return {"name": "toy"}, {"name": "toy"}, {"name": "different"}
    return PrepareConfig().to_dict(), PrepareConfig(), PrepareConfig(min_coverage=0.71)


PREP, SAME_PREP, OTHER_PREP = _prepare_configs()


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


# ---------------------------------------------------------------------------------- network
@pytest.mark.parametrize("attention", ["band", "published", "none"])
@pytest.mark.parametrize("npix", [64, 301, 1190])
def test_shapes_any_length(attention, npix):
    net = MSFANet(architecture_config(attention=attention, **TINY)).eval()
    out = net(torch.randn(3, 1, npix))
    assert out.shape == (3, 6)
    assert torch.isfinite(out).all()


def test_published_widths_and_plain_cnn():
    net = MSFANet(architecture_config("published"))
    assert net.stem[0].out_channels == 64
    assert net.head.fc.in_features == 256 * 7 * 3  # 256 channels, 1+2+4 bins, 3 statistics
    cnn = PlainCNN(architecture_config(**TINY)).eval()
    assert cnn(torch.randn(2, 1, 200)).shape == (2, 6)


def test_bad_architecture():
    with pytest.raises(ConfigurationError, match="attention"):
        architecture_config(attention="magic")
    with pytest.raises(ConfigurationError, match="divisible"):
        architecture_config(widths=[10, 20, 40])


def test_published_attention_is_channel_gate():
    torch.manual_seed(1)
    att = PublishedFrequencyAttention(32)
    with torch.no_grad():
        att.alpha.fill_(0.7)
        x = torch.randn(4, 32, 150)
        w = att.channel_weights(x)[:, :, None]
        expected = x * (1 + att.alpha * w)
        assert torch.allclose(att(x), expected, atol=1e-5)


@pytest.mark.parametrize("cls", [PublishedFrequencyAttention, BandFrequencyAttention])
def test_alpha_zero_is_identity(cls):
    att = cls(16)
    with torch.no_grad():
        att.alpha.zero_()
        x = torch.randn(2, 16, 97)
        assert torch.equal(att(x), x)


def test_band_attention_weighs_frequencies():
    """A static filter passing low and stopping high frequencies: a sine at low frequency is
    doubled (x + 1·x), one at high frequency is left alone (x + 0)."""
    att = BandFrequencyAttention(1, n_bands=16, static_filter=True)
    L = 256
    t = torch.arange(L, dtype=torch.float32)
    low = torch.sin(2 * np.pi * 3 * t / L)[None, None]
    high = torch.sin(2 * np.pi * 120 * t / L)[None, None]
    with torch.no_grad():
        att.alpha.fill_(1.0)
        # MLP output is zero at init -> predicted weights 1; filter: e^0 low, e^-30 high
        att.log_filter.copy_(torch.tensor([0.0] * 4 + [-30.0] * 12))
        assert torch.allclose(att(low), 2 * low, atol=1e-4)
        assert torch.allclose(att(high), high, atol=1e-4)


# ----------------------------------------------------------------------------------- inputs
def test_encode_input_masks_to_continuum():
    flux = np.array([[0.5, np.nan, 9.0, 0.9]], np.float32)
    mask = np.array([[False, False, False, True]])
    x = encode_input(flux, mask)
    assert x.shape == (1, 1, 4)
    assert x[0, 0].tolist() == [0.5, 1.0, 3.0, 1.0]
    x2 = encode_input(flux, mask, np.full_like(flux, 400.0), {"ivar_channel": True})
    assert x2.shape == (1, 2, 4)
    assert x2[0, 1, 3] == 0 and x2[0, 1, 1] == 0
    assert x2[0, 1, 0] == pytest.approx(np.tanh(1.0))


# ---------------------------------------------------------------------------------- metrics
def test_metrics_known_answers():
    y = np.array([0, 0, 1, 1, 2])
    p = np.array([0, 1, 1, 1, 0])
    rep = M.classification_report(y, p, ["a", "b", "c"])
    assert rep["confusion_matrix"] == [[1, 1, 0], [0, 2, 0], [1, 0, 0]]
    assert rep["precision"] == pytest.approx([0.5, 2 / 3, 0.0])
    assert rep["recall"] == pytest.approx([0.5, 1.0, 0.0])
    assert rep["accuracy"] == pytest.approx(0.6)
    curve = M.precision_recall_curve([1, 1, 0, 1, 0], [0.9, 0.8, 0.7, 0.6, -np.inf])
    assert curve["precision"] == pytest.approx([1, 1, 2 / 3, 0.75])
    assert curve["recall"] == pytest.approx([1 / 3, 2 / 3, 2 / 3, 1.0])
    thr, got = M.threshold_for_precision([1, 1, 0, 1, 0], [0.9, 0.8, 0.7, 0.6, 0.1], 0.98)
    assert thr == 0.8 and got["recall"] == pytest.approx(2 / 3)
    # recall >= 2/3 first reached at 0.8 (precision 1); recall 1 only at 0.6 (0.75)
    assert M.precision_at_recall([1, 1, 0, 1, 0], [0.9, 0.8, 0.7, 0.6, 0.1], 0.6) == 1.0
    assert M.precision_at_recall([1, 1, 0, 1, 0], [0.9, 0.8, 0.7, 0.6, 0.1], 0.9) == 0.75
    assert np.isnan(M.precision_at_recall([1, 1, 0], [0.9, -np.inf, 0.5], 0.9))
    # the recall rule: of the 3 true rows with a finite score, keep ceil(0.6 * 3) = 2 -> 0.6;
    # the true row without a score (not passed by stage 1) still counts in the recall
    thr, got = M.threshold_for_recall([1, 1, 0, 1, 0, 1], [0.9, 0.6, 0.7, 0.3, 0.1, -np.inf],
                                      0.6)
    assert thr == 0.6 and got["recall"] == pytest.approx(2 / 4)
    assert got["precision"] == pytest.approx(2 / 3)
    assert M.threshold_for_recall([1, 1, 0], [0.9, 0.6, 0.7], 1.0)[0] == 0.6
    assert M.threshold_for_recall([0, 0], [0.9, 0.6], 0.9)[0] == 0.5   # no true row: default


def test_stage2_selection_caps_the_recall_target_at_what_stage1_passes():
    """Stage 1 passes 3 of 4 validation BHB spectra, below the 0.9 target: the epochs are
    compared by the precision at recall 3/4 (an epoch ranking the passed BHB rows first wins),
    where the uncapped target would score every epoch 0."""
    from bhbfinder.classify.training import stage2_selection_score

    is_bhb = np.array([1, 1, 1, 1, 0, 0], bool)
    stage1 = np.array([1, 1, 1, 0, 1, 0], bool)
    score, target = stage2_selection_score(is_bhb, stage1, 0.9)
    assert target == pytest.approx(0.75)
    worse = np.array([0.9, 0.8, 0.3, 0.99, 0.5, 0.1])  # a negative above one BHB row
    better = np.array([0.9, 0.8, 0.6, 0.99, 0.5, 0.1])
    assert score(worse) == pytest.approx(0.75) and score(better) == 1.0
    assert np.isnan(M.precision_at_recall(is_bhb, np.where(stage1, better, -np.inf), 0.9))
    # stage 1 passing enough: the target is the given one, exactly
    score, target = stage2_selection_score(is_bhb, np.ones(6, bool), 0.9)
    assert target == 0.9 and score(worse) == pytest.approx(4 / 5) and score(better) == 1.0
    # no BHB row: nothing to select on
    score, target = stage2_selection_score(np.zeros(6, bool), stage1, 0.9)
    assert score(better) == 0.0


# -------------------------------------------------------------------------------- splitting
def test_split_by_star_no_star_in_two_splits():
    rng = np.random.default_rng(3)
    stars = rng.integers(0, 200, 1000)
    labels = stars % 6
    tr, va, te = split_by_star(stars, labels, (0.7, 0.15, 0.15), seed=5)
    assert len(tr) + len(va) + len(te) == 1000
    sets = [set(stars[i]) for i in (tr, va, te)]
    assert not (sets[0] & sets[1]) and not (sets[0] & sets[2]) and not (sets[1] & sets[2])
    for part in (va, te):  # stratified: every class in each split
        assert set(labels[part]) == set(range(6))
    again = split_by_star(stars, labels, (0.7, 0.15, 0.15), seed=5)
    assert all(np.array_equal(a, b) for a, b in zip((tr, va, te), again))


def test_label_spectra_by_obsid_and_position():
    meta = Table({"obsid": [10, 11, 12, 13], "ra": [10.0, 10.0, 50.0, 200.0],
                  "dec": [5.0, 5.0005, -3.0, 0.0]})
    labels = Table({"obsid": [12, 10], "ra": [50.0, 10.0], "dec": [-3.0, 5.0],
                    "label": ["A", "BHB"]})
    out = label_spectra(meta, labels, by="obsid")
    assert out["label"].tolist() == ["BHB", "", "A", ""]
    assert out["labelled"].tolist() == [True, False, True, False]
    pos = label_spectra(meta, labels, by="position", radius=3.0)
    # 0.0005 deg = 1.8 arcsec: the second visit joins the first one's star
    assert pos["label"].tolist() == ["BHB", "BHB", "A", ""]
    assert pos["star_id"][0] == pos["star_id"][1] != pos["star_id"][2]
    assert pos["star_id"][3] == -1
    with pytest.raises(ConfigurationError):
        label_spectra(meta, labels, by="name")


# ------------------------------------------------------------------------ training and files
@pytest.fixture(scope="module")
def trained():
    torch.set_num_threads(1)
    wave, flux, ivar, labels, stars = toy_spectra(n_per_class=80, npix=300, seed=0)
    clf, info = train_two_stage(
        (flux, ivar, labels, stars), architecture=TINY, wavelength=wave, augment=False,
        prepare_config=PREP,
        training={"epochs_stage1": 10, "epochs_stage2": 3, "batch_size": 32, "lr": 3e-3},
        log=None)
    return clf, info, (wave, flux, ivar, labels, stars)


def test_short_training_reaches_accuracy(trained):
    clf, info, (_, _, _, labels, stars) = trained
    test = clf.metrics["test"]
    # stated accuracy of the short seeded run on the toy spectra
    assert test["stage1"]["accuracy"] >= 0.85
    assert test["candidates"]["precision"] >= 0.9
    assert np.array(test["stage1"]["confusion_matrix"]).sum() == len(info["split"]["test"])
    split = info["split"]
    assert not set(stars[split["train"]]) & set(stars[split["test"]])
    assert 0 <= clf.threshold <= 1


def test_training_is_deterministic():
    wave, flux, ivar, labels, stars = toy_spectra(n_per_class=20, npix=128, seed=1)
    kw = dict(architecture=TINY, wavelength=wave, log=None,
              training={"epochs_stage1": 1, "epochs_stage2": 1, "batch_size": 16})
    a, _ = train_two_stage((flux, ivar, labels, stars), **kw)
    b, _ = train_two_stage((flux, ivar, labels, stars), **kw)
    for k, v in a.stage1.state_dict().items():
        assert torch.equal(v, b.stage1.state_dict()[k]), k


def test_stage2_from_given_stage1_equals_full_run():
    """Retraining only stage 2 from a run's stage 1 reproduces that run's stage 2 exactly."""
    import copy

    wave, flux, ivar, labels, stars = toy_spectra(n_per_class=20, npix=128, seed=1)
    kw = dict(architecture=TINY, wavelength=wave, log=None,
              training={"epochs_stage1": 2, "epochs_stage2": 2, "batch_size": 16,
                        "stage2_hard_weight": 2.0, "stage2_select": "precision_at_recall"},
              stage2_negatives=("A", "B", "HotSD", "other"))
    a, _ = train_two_stage((flux, ivar, labels, stars), **kw)
    b, _ = train_two_stage((flux, ivar, labels, stars), stage1_network=copy.deepcopy(a.stage1),
                           **kw)
    for k, v in a.stage2.state_dict().items():
        assert torch.equal(v, b.stage2.state_dict()[k]), k
    assert a.threshold == b.threshold
    assert "stage2_val_precision_at_recall" in a.metrics["selection"]
    assert a.provenance["stage2_negatives"] == ["A", "B", "HotSD", "other"]
    with pytest.raises(ConfigurationError):
        train_two_stage((flux, ivar, labels, stars), stage1_network=a.stage1,
                        **dict(kw, training={"stage2_select": "auc", "epochs_stage2": 1}))


def test_recall_threshold_rule_keeps_the_share_of_what_stage1_passes(trained):
    """``threshold_rule="recall"``: the threshold keeps ``candidate_recall`` of the validation
    BHB spectra that stage 1 calls BHB (counted here from the model's own outputs)."""
    import copy

    from bhbfinder.classify.training import _run_encoded

    a, info, (wave, flux, ivar, labels, stars) = trained
    kw = dict(architecture=TINY, wavelength=wave, augment=False, prepare_config=PREP, log=None,
              stage1_network=copy.deepcopy(a.stage1))
    base = {"epochs_stage1": 10, "epochs_stage2": 1, "batch_size": 32, "lr": 3e-3}
    b, _ = train_two_stage((flux, ivar, labels, stars), **kw,
                           training=dict(base, threshold_rule="recall", candidate_recall=0.5))
    va = info["split"]["validation"]
    out = _run_encoded(b, info["x"][va])
    bhb = info["y"][va] == b.classes.index("BHB")
    passed = bhb & (out["stage1_index"] == b.classes.index("BHB"))
    assert passed.sum() >= 4
    kept = passed & (out["p_bhb_stage2"] >= b.threshold)
    n_keep = int(np.ceil(0.5 * passed.sum()))
    # the n_keep-th highest stage-2 probability of the passed BHB rows (ties kept with it)
    assert b.threshold == pytest.approx(np.sort(out["p_bhb_stage2"][passed])[::-1][n_keep - 1])
    assert kept.sum() >= n_keep
    choice = b.metrics["validation"]["threshold_choice"]
    assert choice["rule"] == "recall" and choice["recall"] == pytest.approx(kept.sum() / bhb.sum())
    with pytest.raises(ConfigurationError, match="threshold_rule"):
        train_two_stage((flux, ivar, labels, stars), **kw,
                        training=dict(base, threshold_rule="f1"))
    with pytest.raises(ConfigurationError, match="candidate_recall"):
        train_two_stage((flux, ivar, labels, stars), **kw,
                        training=dict(base, threshold_rule="recall", candidate_recall=90))


def test_save_load_round_trip(trained, tmp_path):
    clf, _, (wave, flux, ivar, _, _) = trained
    path = save_model(clf, tmp_path / "m.asdf")
    back = load_model(path, device="cpu")
    x = torch.from_numpy(encode_input(flux[:20]))
    with torch.no_grad():
        assert torch.equal(clf.stage1.eval()(x), back.stage1(x))
        assert torch.equal(clf.stage2.eval()(x), back.stage2(x))
    assert back.classes == list(CLASSES)
    assert back.threshold == clf.threshold
    assert back.prepare_config == PREP
    assert np.array_equal(back.wavelength, wave)
    assert back.metrics["test"]["stage1"]["confusion_matrix"] == \
        clf.metrics["test"]["stage1"]["confusion_matrix"]
    assert back.versions["torch"] == torch.__version__
    assert back.provenance["split"].startswith("by star")


def test_load_errors(tmp_path):
    import asdf

    with pytest.raises(ModelFileError, match="no such"):
        load_model(tmp_path / "missing.asdf")
    asdf.AsdfFile({"something": 1}).write_to(tmp_path / "other.asdf")
    with pytest.raises(ModelFileError, match="not a bhbfinder"):
        load_model(tmp_path / "other.asdf")
    (tmp_path / "junk.asdf").write_bytes(b"not asdf at all")
    with pytest.raises(ModelFileError):
        load_model(tmp_path / "junk.asdf")


# ------------------------------------------------------------------------------------ stage
def _batch(wave, flux, ivar, config, statuses):
    meta = meta_table([{"file": f"s{i}"} for i in range(len(flux))], statuses)
    return PreparedBatch(wave, flux, ivar, ~(ivar > 0), meta, config=config)


def test_stage_columns_and_bad_rows(trained):
    from bhbfinder.stages import get_stage

    clf, _, (wave, flux, ivar, labels, _) = trained
    statuses = ["ok"] * 10
    statuses[3] = "unreadable"
    batch = _batch(wave, flux[:10], ivar[:10], SAME_PREP, statuses)
    stage = get_stage("classify", "msfanet", model=clf, device="cpu")
    out = stage.run(batch)
    assert len(out) == 10
    assert out.colnames == ["stage1_class", "stage1_prob", "p_bhb_stage1", "p_bhb_stage2",
                            "is_bhb_candidate"]
    assert out["stage1_prob"].shape == (10, 6)
    assert out["stage1_class"].mask[3] and out["p_bhb_stage2"].mask[3]
    assert not out["stage1_class"].mask[0]
    good = np.ones(10, bool)
    good[3] = False
    assert np.allclose(np.asarray(out["stage1_prob"])[good].sum(axis=1), 1.0)
    # the same answer row by row as for the whole batch
    res = clf.predict_arrays(flux[:10], None, ivar[:10])
    assert np.array_equal(np.asarray(out["is_bhb_candidate"])[good], res["is_bhb_candidate"][good])
    assert out["p_bhb_stage2"].description


def test_stage2_runs_only_where_stage1_says_bhb(trained):
    from bhbfinder.errors import ConfigurationError

    clf, _, (wave, flux, ivar, labels, _) = trained
    every = clf.predict_arrays(flux, None, ivar, stage2_rows="all")
    some = clf.predict_arrays(flux, None, ivar)
    called = every["stage1_index"] == clf.positive_index
    assert called.any() and not called.all()
    assert np.allclose(some["p_bhb_stage2"][called], every["p_bhb_stage2"][called], atol=1e-6)
    assert np.isnan(some["p_bhb_stage2"][~called]).all()
    assert not np.isnan(every["p_bhb_stage2"]).any()
    assert np.array_equal(some["is_bhb_candidate"], every["is_bhb_candidate"])
    with pytest.raises(ConfigurationError, match="stage2_rows"):
        clf.predict_arrays(flux[:2], None, ivar[:2], stage2_rows="some")
    # the forward-pass batch size changes nothing but speed
    small = clf.predict_arrays(flux, None, ivar, batch_size=7, stage2_rows="all")
    assert np.allclose(small["stage1_probabilities"], every["stage1_probabilities"], atol=1e-6)
    assert np.allclose(small["p_bhb_stage2"], every["p_bhb_stage2"], atol=1e-6)
    with pytest.raises(ConfigurationError, match="batch_size"):
        clf.predict_arrays(flux[:2], None, ivar[:2], batch_size=0)


def test_stage_refuses_other_preprocessing(trained):
    clf, _, (wave, flux, ivar, _, _) = trained
    batch = _batch(wave, flux[:4], ivar[:4], OTHER_PREP, ["ok"] * 4)
    with pytest.raises(PreprocessingMismatchError):
        clf.predict(batch)
    with pytest.raises(PreprocessingMismatchError):
        clf.predict(_batch(wave, flux[:4], ivar[:4], None, ["ok"] * 4))
    shifted = _batch(wave * 1.001, flux[:4], ivar[:4], SAME_PREP, ["ok"] * 4)
    with pytest.raises(PreprocessingMismatchError, match="grid"):
        clf.predict(shifted)


def test_untrained_classifier_runs():
    clf = TwoStageClassifier.untrained(TINY)
    res = clf.predict_arrays(np.ones((5, 200), np.float32))
    assert res["stage1_probabilities"].shape == (5, 6)
    assert res["is_bhb_candidate"].dtype == bool


def test_cli_train_needs_data(tmp_path, capsys):
    from bhbfinder.cli import main

    assert main(["train", str(tmp_path / "m.asdf")]) == 1
    assert "--data" in capsys.readouterr().err
    assert main(["train", str(tmp_path / "m.asdf"), "--spectra", str(tmp_path)]) == 1
    assert "--labels" in capsys.readouterr().err


def test_library_cache_key_follows_the_simulator_code(tmp_path):
    """A prepared-library cache built by other simulator code is never reused."""
    from bhbfinder.classify.recipes import _code_fingerprint

    (tmp_path / "simulate").mkdir()
    source = tmp_path / "simulate" / "analytic.py"
    source.write_text("DEPTH = 0.9\n")
    first = _code_fingerprint("simulate", root=tmp_path)
    assert _code_fingerprint("simulate", root=tmp_path) == first
    source.write_text("DEPTH = 0.8\n")
    assert _code_fingerprint("simulate", root=tmp_path) != first
    assert len(_code_fingerprint("simulate", "spectra")) == 12     # the package's own


def test_prepared_recipe_library_rows_carry_their_truth(shared_data, tmp_path):
    """The prepared library keeps each row's S/N and parameters, aligned with its label, and
    the cache gives back exactly what was built."""
    import copy

    from bhbfinder.classify.recipes import RECIPE_V1, prepared_arrays
    from bhbfinder.simulate import classify_star

    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "spEigenStar-55734.fits").symlink_to(
        shared_data / "templates" / "spEigenStar-55734.fits")
    recipe = copy.deepcopy(RECIPE_V1)
    recipe["library"].update(n_per_class=6, analytic_per_class=3)
    built = prepared_arrays(tmp_path, recipe, cache_dir=tmp_path / "cache", log=None)
    cached = prepared_arrays(tmp_path, recipe, cache_dir=tmp_path / "cache", log=None)
    for key in ("flux", "labels", "star_ids", "snr", "teff", "logg", "feh"):
        np.testing.assert_array_equal(cached[key], built[key])
    assert len(built["snr"]) == len(built["labels"])
    assert np.all((built["snr"] >= 10) & (built["snr"] <= 100))      # SimulationConfig.snr
    analytic_bhb = (built["labels"] == "BHB") & np.char.startswith(built["star_ids"], "analytic")
    assert analytic_bhb.sum() >= 2
    for i in np.nonzero(analytic_bhb)[0]:
        assert classify_star(built["teff"][i], built["logg"][i], built["feh"][i]) == "BHB"


def test_library_names_are_distinct_per_folder():
    from bhbfinder.classify.recipes import _library_names
    from bhbfinder.simulate import TemplateLibrary

    def lib(source, folder=None):
        labels = Table({"name": ["s"], "star_id": ["x"], "label": ["A"], "teff": [9000.0],
                        "logg": [4.0], "feh": [0.0], "sptype": [""], "source": [source]})
        meta = {"folder": folder} if folder else {}
        return TemplateLibrary(np.array([4000.0, 5000.0]), None, labels, meta=meta)

    libs = [lib("MILES", "/d/miles"), lib("MILES", "/d/miles_more"), lib("eigenstar"),
            lib("MILES", "/e/miles")]
    assert _library_names(libs) == ["miles", "miles_more", "eigenstar", "miles_2"]


@pytest.mark.realdata
def test_default_recipe_library_sources_audit_and_label_space_stars(shared_data, tmp_path):
    """The default recipe's library: real stars with audited labels (doubtful ones left out),
    label-space stars labelled by the rule, analytic stars; all carry their star ids."""
    import copy

    from bhbfinder.classify.recipes import DEFAULT_RECIPE, build_recipe_library
    from bhbfinder.simulate import classify_star
    from bhbfinder.training.heldout import LABEL_AUDIT

    recipe = copy.deepcopy(DEFAULT_RECIPE)
    recipe["library"].update(n_per_class=30, analytic_per_class=4)
    # the shipped params model as the generator (the recipe fits its own by default)
    from bhbfinder.params.emulator import SlamEmulator
    from bhbfinder.stages.params import default_model_path

    spectra, prov = build_recipe_library(shared_data, recipe, log=None,
                                         generator=SlamEmulator.load(default_model_path()))
    meta = spectra.meta
    sources = np.asarray(meta["source"]).astype(str)
    stars = np.asarray(meta["star_id"]).astype(str)
    labels = np.asarray(meta["label"]).astype(str)
    gen = sources == "generated"
    assert set(labels[gen]) == {"BHB", "A", "B"}
    for i in np.flatnonzero(gen):
        assert classify_star(meta["teff"][i], meta["logg"][i], meta["feh"][i]) == labels[i]
    assert prov["generated_templates"]["BHB"] >= 10
    assert prov["spectra_per_class"]["BHB"]["generated"] == 10
    doubtful = [s for s, e in LABEL_AUDIT.items() if e["doubtful"]]
    assert not set(stars) & set(doubtful)
    for sid, entry in LABEL_AUDIT.items():
        if entry["label"] and sid in stars:
            assert set(labels[stars == sid]) == {entry["label"]}
    # the blue-arm resolution spread of the recipe is in the library
    fwhm = 4500.0 / np.asarray(meta["resolving_power"], float)
    assert fwhm.min() >= 2.0 and fwhm.max() <= 4.0 and np.ptp(fwhm) > 1.0
    # the provenance records each folder's templates apart (MILES and MILES-more share a
    # source name; one entry used to overwrite the other, hiding every real BHB star)
    from bhbfinder.training.heldout import load_real_templates

    real = load_real_templates(shared_data, sources=DEFAULT_RECIPE["library"]["sources"])
    assert {"miles", "miles_more"} <= set(prov["templates"])
    assert prov["data_dir_contents"][:-1] == list(prov["templates"])
    kept = [lib.labels[~np.asarray(lib.labels["doubtful"], bool)] for lib in real]
    n_bhb = sum(int((np.asarray(t["label"]).astype(str) == "BHB").sum()) for t in kept)
    assert n_bhb >= 8
    assert sum(c["BHB"] for c in prov["templates"].values()) == n_bhb
