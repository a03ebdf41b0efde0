"""Check a classifier model file before anything is built from it.

`check_model_file` reads the file through `bhbfinder._tree.open_plain_asdf` (sizes checked
before asdf parses it), checks that the tree has what inference needs, and builds each network
on PyTorch's ``meta`` device — which allocates nothing — to compare every weight's shape with
the architecture's. A model whose architecture asks for absurd widths therefore fails here, in
milliseconds and naming the file, instead of allocating gigabytes; a truncated or hand-edited
file gives `~bhbfinder.errors.ModelFileError` instead of a ``KeyError`` from deep inside.

The pipeline calls it before it builds the ``classify`` stage (in the main process, before any
worker starts).
"""

import os

import numpy as np

from ._tree import open_plain_asdf
from .errors import ModelFileError

__all__ = ["check_model_file"]

_TREE_KEY = "bhbfinder_classifier"


def check_model_file(path, networks=True):
    """Raise `~bhbfinder.errors.ModelFileError` unless ``path`` is a usable classifier file.

    Parameters
    ----------
    path : str or path-like
    networks : bool
        Also build each network on the ``meta`` device and compare every weight's shape
        (needs torch; `~bhbfinder.classify.load_model` always does). Without it, the file, its
        sizes and its keys are checked: what a run's main process checks before its workers,
        which load the model, start.

    Raises
    ------
    ModelFileError
        Missing file, not ASDF, sizes beyond `bhbfinder._tree.ASDF_LIMITS`, missing keys,
        weights that do not match the architecture (naming the first one that differs).
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ModelFileError(f"{path}: no such model file; pass a path written by "
                             "bhbfinder.classify.save_model or `bhbfinder train`")
    try:
        with open_plain_asdf(path) as af:
            tree = af.tree.get(_TREE_KEY)
            if not isinstance(tree, dict):
                raise ModelFileError(f"{path}: not a bhbfinder classifier file (no "
                                     f"{_TREE_KEY!r} in its ASDF tree)")
            shapes = {}
            for key in ("weights", "weights_stage2"):
                weights = tree.get(key)
                if weights is None:
                    continue
                if not isinstance(weights, dict):
                    raise ModelFileError(f"{path}: {key!r} is not a mapping of arrays")
                shapes[key] = {str(k): tuple(np.shape(v)) for k, v in weights.items()}
            tree = {k: v for k, v in tree.items() if k not in ("weights", "weights_stage2")}
    except ModelFileError:
        raise
    except Exception as exc:
        raise ModelFileError(f"{path}: cannot be read as a model file "
                             f"({type(exc).__name__}: {exc})") from exc
    for key, kind in (("architecture", dict), ("classes", list)):
        if not isinstance(tree.get(key), kind):
            raise ModelFileError(f"{path}: the model has no {key!r} ({kind.__name__}); the file "
                                 "is damaged or was not written by bhbfinder")
    if "weights" not in shapes:
        raise ModelFileError(f"{path}: the model has no 'weights'")
    if not all(isinstance(c, str) for c in tree["classes"]) or not tree["classes"]:
        raise ModelFileError(f"{path}: 'classes' must be a non-empty list of names")
    if "weights_stage2" in shapes and not isinstance(tree.get("architecture_stage2"), dict):
        raise ModelFileError(f"{path}: stage-2 weights without 'architecture_stage2'")
    if not networks:
        return
    _check_network(path, tree["architecture"], shapes["weights"], "stage-1")
    if "weights_stage2" in shapes:
        _check_network(path, tree["architecture_stage2"], shapes["weights_stage2"], "stage-2")


def _check_network(path, architecture, shapes, which):
    import torch

    from .classify.msfanet import build_network

    try:
        with torch.device("meta"):
            net = build_network(architecture)
    except Exception as exc:
        raise ModelFileError(f"{path}: the {which} architecture cannot be built "
                             f"({type(exc).__name__}: {exc})") from exc
    expected = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    missing = sorted(set(expected) - set(shapes))
    extra = sorted(set(shapes) - set(expected))
    if missing or extra:
        raise ModelFileError(f"{path}: the {which} weights do not fit its architecture "
                             f"(missing {missing[:3]}, unexpected {extra[:3]})")
    for name, shape in expected.items():
        if shapes[name] != shape:
            raise ModelFileError(f"{path}: the {which} weight {name!r} has shape "
                                 f"{shapes[name]}; its architecture needs {shape}")
