"""Save and load `~bhbfinder.params.emulator.SlamEmulator` models as ASDF files (no pickle).

The file's tree:

``format``, ``format_version``, ``bhbfinder_version``
    ``"bhbfinder.params.slam-emulator"``; 1 for a single-kernel model (readable by earlier
    versions of bhbfinder), 2 for one with hot and cool kernels (``split_teff``).
``label_names``, ``label_units``
    `~bhbfinder.params.emulator.LABEL_NAMES` and their units.
the kernel's arrays
    The kernel of the whole library: ``hyperparams`` (its constructor parameters),
    ``length_scale``, ``alpha``, ``label_mean`` and ``label_scale`` (the standardisation),
    ``train_z``, ``train_labels``, ``color_names``, ``flux_mean``, ``flux_scale``, ``weights``,
    ``model_error``, ``star_noise``, ``z_bounds``, ``z_range`` and ``output_basis`` (the output
    basis of the inversion, ``rank_tol``, saved so that loading needs no SVD).
``kernels``
    Version 2: ``{"cool": ..., "hot": ...}``, the same keys for each side's kernel.
``prepare_config``, ``wavelength``, ``validation``, ``provenance``
    The model's ``meta``.
``error_model``
    The `~bhbfinder.params.uncertainty.ErrorModel` of the label errors, if any.

The kernel emulator and its inversion follow SLAM (Zhang, Liu & Deng 2020, ApJS 246, 9); see
`bhbfinder.params.emulator`. This module knows the file, not the emulator: ``SlamEmulator.save``
and ``SlamEmulator.load`` call it with the model's labels and class.
"""

import os

import asdf
import numpy as np

from .._tree import plain_tree, read_model_tree
from .._version import __version__
from ..errors import ConfigurationError, ModelFileError
from .kernel import SPLIT_KERNELS
from .uncertainty import ErrorModel

__all__ = ["save_model", "load_model"]

_FORMAT = "bhbfinder.params.slam-emulator"
#: Newest format version read; files of single-kernel models are still written as version 1
#: (readable by earlier versions), files with hot and cool kernels (``split_teff``) as 2.
_FORMAT_VERSION = 2


def save_model(model, path, label_names, label_units, overwrite=True):
    """Write a fitted model to an ASDF file (``SlamEmulator.save``).

    Parameters
    ----------
    model : `~bhbfinder.params.emulator.SlamEmulator`
    path : str or path-like
    label_names, label_units : sequence of str
        The labels of its ``labels`` columns and their units, stored with it.
    overwrite : bool
        Replace an existing file.
    """
    model._check_fitted()
    meta = model.meta or {}
    tree = {
        "format": _FORMAT,
        "format_version": 1 if model.kernels_ is None else 2,
        "bhbfinder_version": __version__,
        "label_names": list(label_names),
        "label_units": list(label_units),
        **_kernel_tree(model),
        "prepare_config": plain_tree(meta.get("prepare_config")),
        "wavelength": meta.get("wavelength"),
        "validation": plain_tree(meta.get("validation") or {}),
        "provenance": plain_tree(meta.get("provenance") or {}),
        "error_model": (None if model.error_model_ is None
                        else plain_tree(model.error_model_.to_dict())),
    }
    if model.kernels_ is not None:
        tree["kernels"] = {name: _kernel_tree(model.kernels_[name]) for name in SPLIT_KERNELS}
    tree = {k: v for k, v in tree.items() if v is not None}
    if not overwrite and os.path.exists(path):
        raise ConfigurationError(f"{path} exists; pass overwrite=True to replace it")
    asdf.AsdfFile(tree).write_to(path, all_array_compression="zlib")


def _kernel_tree(model):
    """The hyper-parameters and arrays of one kernel (a part of the file's tree)."""
    params = {k: (None if v is None else (np.asarray(v, float).tolist()
                                          if k == "length_scale" else v))
              for k, v in model.get_params().items()}
    tree = {
        "color_names": list(model.color_names_),
        "hyperparams": params,
        "length_scale": np.asarray(model.length_scale_, float),
        "alpha": float(model.alpha_),
        "label_mean": model.label_mean_,
        "label_scale": model.label_scale_,
        "train_z": model.train_z_,
        "train_labels": model.train_labels_,
        "flux_mean": model.flux_mean_,
        "flux_scale": model.flux_scale_,
        "weights": model.weights_,
        "model_error": model.model_error_,
        "star_noise": model.star_noise_,
        "z_bounds": model._z_bounds,
        "z_range": model._z_range,
        "output_basis": None if not getattr(model, "_reduced", None) else model._reduced[0],
    }
    return {k: v for k, v in tree.items() if v is not None}


def load_model(path, cls):
    """Read a model written by `save_model` (``SlamEmulator.load``).

    Parameters
    ----------
    path : str or path-like
    cls : type
        The class to build (`~bhbfinder.params.emulator.SlamEmulator`); the file's
        hyper-parameters that its ``get_params`` names are passed to it.

    Raises
    ------
    ModelFileError
        When the file is missing, unreadable or not a SLAM-emulator model.
    """
    tree = read_model_tree(path, _FORMAT, _FORMAT_VERSION, what="SLAM-emulator model",
                           missing="no such model file; give the path of a file written "
                                   "by SlamEmulator.save")
    model = _kernel_from_tree(cls, tree, path)
    if tree.get("error_model") is not None:
        try:
            model.error_model_ = ErrorModel.from_dict(tree["error_model"])
        except ConfigurationError as exc:
            raise ModelFileError(f"{path}: bad error_model ({exc})") from exc
    kernels = tree.get("kernels")
    if (kernels is None) != (model.split_teff is None):
        raise ModelFileError(f"{path}: split_teff is {model.split_teff} but the file has "
                             f"{'no' if kernels is None else 'the'} hot and cool kernels")
    if kernels is not None:
        if not isinstance(kernels, dict) or set(kernels) != set(SPLIT_KERNELS):
            raise ModelFileError(f"{path}: kernels must be the 'cool' and 'hot' kernels")
        model.kernels_ = {name: _kernel_from_tree(cls, kernels[name], path)
                          for name in SPLIT_KERNELS}
    wave = tree.get("wavelength")
    model.meta = {
        "prepare_config": tree.get("prepare_config"),
        "wavelength": None if wave is None else np.asarray(wave, float),
        "validation": tree.get("validation", {}),
        "provenance": tree.get("provenance", {}),
        "bhbfinder_version": tree.get("bhbfinder_version"),
    }
    return model


def _kernel_from_tree(cls, tree, path):
    """One kernel from its part of the file's tree (`_kernel_tree`)."""
    try:
        params = dict(tree["hyperparams"])
        known = cls().get_params()
        model = cls(**{k: v for k, v in params.items() if k in known})
        model.length_scale_ = np.asarray(tree["length_scale"], float)
        model.alpha_ = float(tree["alpha"])
        for key in ("label_mean", "label_scale", "train_z", "train_labels", "flux_mean",
                    "flux_scale", "weights", "model_error"):
            setattr(model, key + "_", np.asarray(tree[key], float))
        model._z_bounds = np.asarray(tree["z_bounds"], float)
        model._z_range = np.asarray(tree["z_range"], float)
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelFileError(f"{path}: incomplete SLAM-emulator kernel ({exc})") from exc
    model.star_noise_ = np.asarray(tree.get("star_noise", np.ones(len(model.train_z_))),
                                   float)
    model.color_names_ = list(tree.get("color_names", []))
    model.bounds_ = model._from_z(model._z_bounds)
    model.train_flux_ = model._predict_z(model.train_z_)
    basis = tree.get("output_basis")
    if basis is not None and model.rank_tol and \
            np.ndim(basis) == 2 and np.shape(basis)[1] == model.weights_.shape[1]:
        model._set_basis(np.asarray(basis, float))
    else:  # a file written before the basis was saved: compute it
        model._reduce()
    return model
