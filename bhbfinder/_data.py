"""The files shipped in ``bhbfinder/data``: the stages' default models and criteria."""

from pathlib import Path

from .errors import ConfigurationError

__all__ = ["DATA_DIR", "DEFAULT_MODELS", "data_path", "default_model_path"]

#: The folder of the shipped files.
DATA_DIR = Path(__file__).resolve().parent / "data"

#: The shipped model file of each stage kind that has one.
DEFAULT_MODELS = {
    "classify": "msfanet_default.asdf",
    "params": "slam_hot_default.asdf",
    "verdict": "verdict_default.asdf",
}


def data_path(name):
    """Path of the shipped file ``name``."""
    return DATA_DIR / name


def default_model_path(kind):
    """Path of the shipped model of the stage kind ``kind`` (see `DEFAULT_MODELS`)."""
    if kind not in DEFAULT_MODELS:
        raise ConfigurationError(f"no model is shipped for the {kind!r} stage; the shipped "
                                 f"models are for {', '.join(DEFAULT_MODELS)}")
    return data_path(DEFAULT_MODELS[kind])
