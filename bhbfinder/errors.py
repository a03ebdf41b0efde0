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
    "ResumeMismatchError",
    "RunLockedError",
    "PartFileError",
    "IncompleteRunError",
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


class ResumeMismatchError(ConfigurationError):
    """``resume=True`` was asked of a run that differs from the interrupted one (other inputs,
    model, stage configuration or package version); the message says what changed."""


class RunLockedError(BHBFinderError, RuntimeError):
    """Another run is writing the same output (its lock file is held)."""


class PartFileError(BHBFinderError, ValueError):
    """A chunk file of an interrupted run (``OUTPUT.parts/``) is damaged or not one of ours."""


class IncompleteRunError(BHBFinderError, RuntimeError):
    """A run finished without every input processed by every stage it was asked to run.

    Raised when chunks were lost to worker processes that died (their inputs are left for
    ``resume=True``), and by ``strict=True`` runs whose catalogue has stages that did not run
    or failed. ``catalog`` holds the catalogue when one was assembled (and written).
    """

    def __init__(self, message, catalog=None):
        super().__init__(message)
        self.catalog = catalog


class BHBFinderWarning(UserWarning):
    """Base class of bhbfinder warnings."""


class PluginWarning(BHBFinderWarning):
    """A plugin failed to load or raised inside a hook; the host carries on without it."""
