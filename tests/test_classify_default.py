"""The shipped default classifier: file contents, preprocessing, and real LAMOST spectra."""

import numpy as np
import pytest

from bhbfinder.classify import CLASSES, default_model_path, load_model


@pytest.fixture(scope="module")
def default():
    import torch

    torch.set_num_threads(1)
    return load_model(device="cpu")


def test_default_model_file(default):
    path = default_model_path()
    assert path.stat().st_size < 20 * 2**20
    assert default.classes == list(CLASSES)
    assert 0 < default.threshold <= 1
    assert default.stage1.config["attention"] == "band"
    test = default.metrics["test"]
    assert len(test["stage1"]["confusion_matrix"]) == len(CLASSES)
    assert test["pr_curve"]["precision"]
    assert default.provenance["split"].startswith("by star")
    assert "recipe" in default.provenance


def test_default_model_uses_default_preprocessing(default):
    from bhbfinder.spectra.prepare import PrepareConfig, check_compatible

    check_compatible(default.prepare_config, PrepareConfig())  # raises on any difference
    assert default.wavelength.size == PrepareConfig().grid.npix


def test_stage_exposes_prepare_config(default):
    from bhbfinder.spectra.prepare import PrepareConfig
    from bhbfinder.stages import get_stage

    stage = get_stage("classify", model=default)
    assert stage.prepare_config == PrepareConfig()


def _fgk(meta):
    cls = np.asarray(meta["class"].filled("") if hasattr(meta["class"], "filled")
                     else meta["class"]).astype(str)
    sub = np.asarray(meta["subclass"].filled("") if hasattr(meta["subclass"], "filled")
                     else meta["subclass"]).astype(str)
    return (cls == "STAR") & np.isin(np.array([v[:1] for v in sub]), ["F", "G", "K"])


@pytest.mark.realdata
def test_default_rejects_fgk_lamost_spectra(default, shared_data):
    from bhbfinder.io.read import iter_paths, read_batch
    from bhbfinder.spectra.prepare import PrepareConfig, prepare

    paths = list(iter_paths(shared_data / "lamost"))
    raw = read_batch(paths)
    batch = prepare(raw, PrepareConfig.from_dict(default.prepare_config))
    out = default.predict(batch)
    fgk = _fgk(batch.meta) & batch.ok
    assert fgk.sum() >= 100  # the DR7/DR8/DR10 F/G/K stars
    flagged = np.asarray(out["is_bhb_candidate"].filled(False))
    assert not np.any(flagged & fgk), [paths[i] for i in np.nonzero(flagged & fgk)[0]]
