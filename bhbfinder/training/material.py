"""The training material the recipes share: libraries of real stars with a star id per row."""

from pathlib import Path

from ..errors import ConfigurationError
from ..params.training import DEFAULT_TRAINING, miles_library

__all__ = ["params_training_material"]


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
