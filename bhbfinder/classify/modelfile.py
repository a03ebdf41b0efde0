"""Save and load two-stage classifiers as ASDF files (no pickle anywhere).

The file's tree, under the key ``bhbfinder_classifier``:

``format_version``
    Integer, bumped on incompatible changes.
``architecture``, ``architecture_stage2``
    The networks' config dicts (see `bhbfinder.classify.msfanet.architecture_config`).
``weights``, ``weights_stage2``
    ``{state_dict key: ndarray}``; rebuilt with ``torch.from_numpy``.
``classes``, ``stage2_classes``, ``threshold``, ``input_config``
    What inference needs.
``prepare_config``, ``wavelength``
    The preprocessing the model was trained on (``PrepareConfig.to_dict()``) and its grid.
``metrics``, ``provenance``, ``versions``
    Test metrics, training data and recipe, package / torch / numpy versions.
"""

import copy
from pathlib import Path

import asdf
import numpy as np
import torch

from .. import _data
from .._data import DEFAULT_MODELS
from .._modelcheck import check_model_file
from .._tree import detach_tree, open_plain_asdf, plain_tree
from .._version import __version__
from ..errors import ModelFileError
from .classifier import STAGE2_CLASSES, TwoStageClassifier
from .msfanet import build_network

__all__ = ["FORMAT_VERSION", "TREE_KEY", "DEFAULT_MODEL", "save_model", "load_model",
           "default_model_path"]

FORMAT_VERSION = 1
TREE_KEY = "bhbfinder_classifier"

#: File name of the pretrained default inside ``bhbfinder/data``.
DEFAULT_MODEL = DEFAULT_MODELS["classify"]


def default_model_path():
    """Path of the shipped pretrained model."""
    return _data.default_model_path("classify")


def _state_to_numpy(net):
    return {k: v.detach().cpu().numpy().copy() for k, v in net.state_dict().items()}


def _versions():
    return {"bhbfinder": __version__, "torch": str(torch.__version__), "numpy": str(np.__version__)}


def save_model(classifier, path, compression="zlib"):
    """Write ``classifier`` (a `TwoStageClassifier`) to an ASDF file.

    Parameters
    ----------
    classifier : TwoStageClassifier
    path : str or path-like
    compression : str or None
        ASDF block compression (``"zlib"`` keeps the default model small).
    """
    tree = {
        "format_version": FORMAT_VERSION,
        "architecture": plain_tree(copy.deepcopy(classifier.stage1.config)),
        "weights": _state_to_numpy(classifier.stage1),
        "classes": list(classifier.classes),
        "stage2_classes": list(STAGE2_CLASSES),
        "threshold": float(classifier.threshold),
        "input_config": plain_tree(classifier.input_config),
        "prepare_config": plain_tree(classifier.prepare_config),
        "metrics": plain_tree(classifier.metrics),
        "provenance": plain_tree(classifier.provenance),
        "versions": _versions(),
    }
    if classifier.stage2 is not None:
        tree["architecture_stage2"] = plain_tree(copy.deepcopy(classifier.stage2.config))
        tree["weights_stage2"] = _state_to_numpy(classifier.stage2)
    if classifier.wavelength is not None:
        tree["wavelength"] = np.asarray(classifier.wavelength, float)
    af = asdf.AsdfFile({TREE_KEY: tree})
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    af.write_to(path, all_array_compression=compression)
    return path


def _build(arch, weights, path, which):
    net = build_network(arch)
    state = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in weights.items()}
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ModelFileError(f"{path}: {which} weights do not fit its architecture: {exc}") from exc
    net.eval()
    return net


def load_model(path=None, device=None):
    """Read a classifier written by `save_model` (default: the shipped pretrained model).

    Parameters
    ----------
    path : str or path-like, optional
        Model file; default `default_model_path`.
    device : str or torch.device, optional
        Where to put the networks (default: CUDA if available, else CPU).

    Returns
    -------
    TwoStageClassifier

    Raises
    ------
    ModelFileError
        When the file is missing, not ASDF, not a bhbfinder classifier, or its weights do not
        fit its architecture (``bhbfinder._modelcheck.check_model_file``, run first).
    """

    path = Path(path) if path is not None else default_model_path()
    # sizes, keys and every weight's shape against its architecture, before anything is built
    check_model_file(path)
    try:
        with open_plain_asdf(path) as af:
            if TREE_KEY not in af.tree:
                raise ModelFileError(f"{path}: not a bhbfinder classifier file "
                                     f"(no {TREE_KEY!r} in its ASDF tree)")
            tree = detach_tree(dict(af.tree[TREE_KEY]))
    except ModelFileError:
        raise
    except Exception as exc:
        raise ModelFileError(f"{path}: cannot be read as ASDF ({type(exc).__name__}: {exc})") \
            from exc
    version = int(tree.get("format_version", -1))
    if version > FORMAT_VERSION:
        raise ModelFileError(f"{path}: format version {version} is newer than this bhbfinder "
                             f"reads ({FORMAT_VERSION}); upgrade bhbfinder")
    stage1 = _build(tree["architecture"], tree["weights"], path, "stage-1")
    stage2 = None
    if "weights_stage2" in tree:
        stage2 = _build(tree["architecture_stage2"], tree["weights_stage2"], path, "stage-2")
    clf = TwoStageClassifier(
        stage1, stage2, classes=tree["classes"], prepare_config=tree.get("prepare_config"),
        input_config=tree.get("input_config"), threshold=tree.get("threshold", 0.5),
        wavelength=tree.get("wavelength"), metrics=tree.get("metrics"),
        provenance=tree.get("provenance"))
    clf.versions = tree.get("versions", {})
    clf.path = str(path)
    return clf.to(device)
