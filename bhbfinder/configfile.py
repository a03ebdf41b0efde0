"""Run configuration as data: a TOML file, or ``KIND.OPTION=VALUE`` settings, with the same
names as the Python arguments ``stages=`` and ``config=`` of `~bhbfinder.find_bhb`.

A configuration file::

    # run.toml
    [stages]                 # stages={...}: which implementation runs for a kind
    crossmatch = "gaia-local"
    known = "none"           # skip a stage

    [crossmatch]             # config={"crossmatch": {...}}: options of that stage
    path = "gaia_dr3_subset.fits"

    [classify]
    threshold = 0.9

    [read]                   # config={"read": {...}}: size limits of the read step
    max_inflated_size = "200MB"

is used as ``bhbfinder find DIR -o cat.fits --config run.toml`` or
``find_bhb(DIR, config="run.toml")``; ``--set classify.threshold=0.9`` and ``--stage
known=none`` add to (and override) it on the command line, exactly as
``config={"classify": {"threshold": 0.9}}`` and ``stages={"known": "none"}`` do in Python.
"""

import os
import tomllib

from .errors import ConfigurationError

__all__ = ["read_config", "parse_settings", "parse_value", "merge_config"]


def read_config(path):
    """``(stages, config)`` from a TOML file.

    Raises
    ------
    ConfigurationError
        A missing or invalid file, or a section that is not a table of options.
    """
    path = os.fspath(path)
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigurationError(f"{path}: no such configuration file") from None
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"{path}: not a valid TOML configuration file ({exc})") from None
    stages = data.pop("stages", {})
    if not isinstance(stages, dict) or not all(isinstance(v, str) for v in stages.values()):
        raise ConfigurationError(f"{path}: [stages] must map stage kinds to stage names, e.g. "
                                 "crossmatch = \"gaia-local\"")
    for kind, options in data.items():
        if not isinstance(options, dict):
            raise ConfigurationError(f"{path}: {kind!r} must be a table ([{kind}]) of options, "
                                     f"not a {type(options).__name__}")
    return dict(stages), data


def parse_value(text):
    """A setting's value: a TOML value (number, boolean, quoted string, array), else the text
    as a string (so ``path=gaia.fits`` needs no quotes)."""
    try:
        return tomllib.loads(f"value = {text}")["value"]
    except tomllib.TOMLDecodeError:
        return text


def parse_settings(settings):
    """``{kind: {option: value}}`` from ``["KIND.OPTION=VALUE", ...]`` (``--set``)."""
    config = {}
    for setting in settings:
        key, sep, text = setting.partition("=")
        kind, dot, option = key.strip().partition(".")
        if not sep or not dot or not kind or not option:
            raise ConfigurationError(f"--set {setting!r}: use KIND.OPTION=VALUE, e.g. "
                                     "crossmatch.path=gaia.fits or classify.threshold=0.9")
        config.setdefault(kind, {})[option] = parse_value(text.strip())
    return config


def merge_config(base, extra):
    """``base`` with ``extra``'s options added per kind (``extra`` wins)."""
    merged = {kind: dict(options) for kind, options in (base or {}).items()}
    for kind, options in (extra or {}).items():
        merged.setdefault(kind, {}).update(options)
    return merged
