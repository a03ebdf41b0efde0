"""bhbfinder-sdss: an SDSS spectrum reader plugin for bhbfinder.

Installing this package is all it takes: bhbfinder finds the plugin through the entry point
``sdss`` in the group ``bhbfinder.plugins`` and from then on reads SDSS ``spec-*.fits`` files
(SDSS-I/II and BOSS) with `SDSSReader`.
"""

from .reader import (
    ALL_BITS,
    DEFAULT_BAD_BITS,
    READER_NAME,
    SPECUTILS_FORMAT,
    SPPIXMASK,
    SDSSReader,
    read_sdss,
)

__version__ = "0.1.0"

__all__ = [
    "__version__", "SDSSReader", "read_sdss", "READER_NAME", "SPECUTILS_FORMAT", "SPPIXMASK",
    "DEFAULT_BAD_BITS", "ALL_BITS",
]
