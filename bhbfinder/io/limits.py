"""How large a spectrum file may be, on disk and once inflated: bounded memory per file.

Reading holds a file's whole (inflated) content in memory, about 2.3 times its size at the
peak, so a huge or maliciously compressed file (a "gzip bomb": a few MB that inflate to GB)
could take a worker's memory. `ReadLimits` caps both sizes; a file beyond them becomes a row
with the status ``"file too large"`` and is never inflated past the cap. The defaults are far
above any survey spectrum (LAMOST files are ~0.2 MB, SDSS/BOSS ``spec`` files a few MB).

Set them per run with ``find_bhb(..., config={"read": {"max_file_size": 50_000_000}})``, on
the command line with ``--set read.max_inflated_size=200MB``, or around any read with
`read_limits`.
"""

import contextlib
import contextvars
import re
from dataclasses import asdict, dataclass

from ..errors import ConfigurationError

__all__ = ["ReadLimits", "DEFAULT_LIMITS", "current_limits", "read_limits", "parse_size"]

_UNITS = {"": 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "KIB": 2**10, "MIB": 2**20,
          "GIB": 2**30}


def parse_size(value, name="size"):
    """Bytes from an int or a string such as ``"200MB"`` or ``"1.5GiB"``."""
    if isinstance(value, bool):
        raise ConfigurationError(f"{name}: expected a number of bytes, not {value!r}")
    if isinstance(value, (int, float)):
        size = int(value)
    else:
        match = re.fullmatch(r"\s*([0-9.]+)\s*([A-Za-z]*)\s*", str(value))
        unit = match.group(2).upper() if match else None
        if not match or unit not in _UNITS:
            raise ConfigurationError(f"{name}: {value!r} is not a size; use bytes or e.g. "
                                     "'200MB', '1GiB'")
        size = int(float(match.group(1)) * _UNITS[unit])
    if size < 1:
        raise ConfigurationError(f"{name}: must be positive, got {value!r}")
    return size


@dataclass(frozen=True)
class ReadLimits:
    """Size limits for one spectrum file.

    Parameters
    ----------
    max_file_size : int
        Bytes on disk (default 512 MB).
    max_inflated_size : int
        Bytes of gzip content once inflated (default 512 MB).
    """

    max_file_size: int = 512 * 10**6
    max_inflated_size: int = 512 * 10**6

    @classmethod
    def from_options(cls, options):
        """From ``config["read"]`` (sizes as ints or strings like ``"200MB"``)."""
        options = dict(options or {})
        unknown = set(options) - {"max_file_size", "max_inflated_size"}
        if unknown:
            raise ConfigurationError(f"config['read'] has unknown options {sorted(unknown)}; "
                                     "the options are max_file_size, max_inflated_size")
        return cls(**{k: parse_size(v, f"read.{k}") for k, v in options.items()})

    def to_dict(self):
        return asdict(self)


DEFAULT_LIMITS = ReadLimits()
_CURRENT = contextvars.ContextVar("bhbfinder_read_limits", default=DEFAULT_LIMITS)


def current_limits():
    """The `ReadLimits` in force (set by `read_limits`, else `DEFAULT_LIMITS`)."""
    return _CURRENT.get()


@contextlib.contextmanager
def read_limits(limits):
    """Use ``limits`` (a `ReadLimits`, a dict of options or None) for reads in this block."""
    if not isinstance(limits, ReadLimits):
        limits = ReadLimits.from_options(limits)
    token = _CURRENT.set(limits)
    try:
        yield limits
    finally:
        _CURRENT.reset(token)
