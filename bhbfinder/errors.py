"""The exceptions and warnings of bhbfinder.

Every error the package raises on bad input is a :class:`BHBFinderError`, which also subclasses
the closest standard exception, so ``except OSError`` or ``except ValueError`` keep working.
Messages name the file or argument at fault and say what to do about it.
"""

__all__ = [
    "BHBFinderError",
    "SpectrumReadError",
    "UnknownFormatError",
    "ConfigurationError",
    "PreprocessingMismatchError",
    "ModelFileError",
    "StageNotFoundError",
    "RemoteServiceError",
    "PluginWarning",
    "BHBFinderWarning",
]


class BHBFinderError(Exception):
    """Base class of every bhbfinder error."""


class SpectrumReadError(BHBFinderError, OSError):
    """A spectrum file could not be read.

    Parameters
    ----------
    path : str or path-like
        The file at fault.
    reason : str
        What is wrong with it, in a few words (this becomes the ``status`` of the file's row in
        batch reads).
    hint : str, optional
        What the user can do about it.
    """

    def __init__(self, path, reason, hint=None):
        self.path = str(path)
        self.reason = str(reason)
        self.hint = hint
        message = f"{self.path}: {self.reason}"
        if hint:
            message += f" ({hint})"
        super().__init__(message)

    def __reduce__(self):
        # keep the exception picklable across process / Dask boundaries
        return (type(self), (self.path, self.reason, self.hint))


class UnknownFormatError(SpectrumReadError):
    """No installed reader recognises the file."""


class ConfigurationError(BHBFinderError, ValueError):
    """An argument or configuration value is invalid."""


class PreprocessingMismatchError(BHBFinderError, ValueError):
    """Spectra were prepared differently from what a model was trained on."""


class ModelFileError(BHBFinderError, ValueError):
    """A model file is missing, unreadable or not a bhbfinder model."""


class StageNotFoundError(BHBFinderError, LookupError):
    """No stage of the requested kind and name is registered."""


class RemoteServiceError(BHBFinderError, ConnectionError):
    """A remote service (Gaia archive, VizieR) failed after all retries."""


class BHBFinderWarning(UserWarning):
    """Base class of bhbfinder warnings."""


class PluginWarning(BHBFinderWarning):
    """A plugin failed to load or raised inside a hook; the host carries on without it."""
