"""The training material the recipes share: libraries of real stars with a star id per row."""

from dataclasses import replace
from pathlib import Path

import numpy as np

from ..errors import ConfigurationError
from ..params.emulator import LABEL_NAMES
from ..params.training import DEFAULT_TRAINING, miles_library
from .heldout import label_estimates

__all__ = ["params_training_material", "with_label_estimates"]


def with_label_estimates(library, estimates=None):
    """A copy of a params training library with the audit's estimates in place of placeholder
    labels, to measure a model trained the other way.

    Parameters
    ----------
    library : `~bhbfinder.params.training.MilesLibrary`
        With ``star_ids``.
    estimates : dict, optional
        ``{star_id: {label: value}}``; default the audit's
        (`~bhbfinder.training.heldout.label_estimates`).

    Returns
    -------
    library : `~bhbfinder.params.training.MilesLibrary`
        The same spectra; the labels of the stars named replaced, the rest unchanged.
    replaced : list of str
        The ``star_id`` of the rows changed (stars not in the library are skipped).
    """
    if estimates is None:
        estimates = label_estimates()
    if library.star_ids is None:
        raise ConfigurationError("with_label_estimates: the library has no star_ids")
    ids = np.asarray(library.star_ids).astype(str)
    labels = np.array(library.labels, float, copy=True)
    replaced = []
    for sid, values in estimates.items():
        rows = np.flatnonzero(ids == sid)
        for name, value in values.items():
            labels[rows, LABEL_NAMES.index(name)] = value
        if rows.size:
            replaced.append(sid)
    provenance = dict(library.provenance, label_estimates={s: estimates[s] for s in replaced})
    return replace(library, labels=labels, provenance=provenance), replaced


def params_training_material(data_dir, config=None, prepare_config=None):
    """The params training library of the shipped recipe and the star id of each row.

    Parameters
    ----------
    data_dir : path-like
        A folder in the ``../shared/data`` layout (``miles/``, ``miles_more/``).
    config : `~bhbfinder.params.training.MilesTrainingConfig`, optional
        Default `~bhbfinder.params.training.DEFAULT_TRAINING`.
    prepare_config : `~bhbfinder.spectra.prepare.PrepareConfig` or dict, optional
        The preprocessing of the library's spectra (default: the package default; see
        `bhbfinder.training.params_recipe.params_prepare_config` for the params model's
        wavelength options).

    Returns
    -------
    library : `~bhbfinder.params.training.MilesLibrary`
    star_ids : ndarray of str
        ``library.star_ids`` (what `~bhbfinder.training.folds.train_fold_params` takes).
    tuning : None
        The shipped hyper-parameters are tuned on flux, without separate tuning observations.
    """
    data_dir = Path(data_dir)
    if not (data_dir / "miles").is_dir():
        raise ConfigurationError(f"{data_dir}: no miles/ folder; pass a folder in the "
                                 "../shared/data layout")
    library = miles_library(data_dir / "miles", config or DEFAULT_TRAINING, prepare_config)
    return library, library.star_ids, None
