"""bhbfinder: find blue horizontal-branch stars in survey spectra.

Importing the package is cheap and never touches the network; the pipeline, torch and the
plugins are loaded on first use.
"""

from ._compat import install_specutils_hook
from ._version import __version__
from .errors import BHBFinderError, SpectrumReadError

# Spectrum.read(path) reads LAMOST files once specutils is imported, without importing it here
install_specutils_hook()

__all__ = ["__version__", "BHBFinderError", "SpectrumReadError", "find_bhb", "Pipeline"]


_LAZY = ("find_bhb", "Pipeline")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))


def __getattr__(name):
    # find_bhb and Pipeline pull in torch and every stage: import them only when asked for
    if name in _LAZY:
        from . import pipeline

        return getattr(pipeline, name)
    raise AttributeError(f"module 'bhbfinder' has no attribute {name!r}")
