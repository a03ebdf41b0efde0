"""What the remote cross-match services share, in astroquery's conventions.

`conf`
    The services' configuration (`Conf`: server addresses and timeout), as an astroquery
    module's ``conf``: change it in a session (``conf.gaia_server = ...``) or in
    ``~/.astropy/config/bhbfinder.cfg``.
`default_cache_dir`
    Where fetched results are cached.
`retry_call`
    The one retry loop (exponential back-off) of every remote query.
"""

import os
from pathlib import Path

from astropy import config as _config

from ..errors import ConfigurationError, RemoteServiceError

__all__ = ["Conf", "conf", "default_cache_dir", "retry_call"]


class Conf(_config.ConfigNamespace):
    """Configuration of the remote services (Gaia archive, VizieR)."""

    gaia_server = _config.ConfigItem(
        "https://gea.esac.esa.int/tap-server/tap", "The Gaia archive's TAP endpoint.")
    vizier_server = _config.ConfigItem("vizier.cds.unistra.fr", "The VizieR mirror.")
    timeout = _config.ConfigItem(60, "Time limit (s) for connecting to a service.")


conf = Conf()


def default_cache_dir():
    """Where remote results are cached: ``$BHBFINDER_CACHE_DIR`` or astropy's cache / bhbfinder."""
    env = os.environ.get("BHBFINDER_CACHE_DIR")
    if env:
        return Path(env)
    return Path(_config.get_cache_dir()) / "bhbfinder"


def retry_call(func, *, retries, backoff, sleep, failure):
    """``func()``, tried ``retries + 1`` times with waits of ``backoff · 2^k`` seconds between.

    Configuration and import errors are raised at once (trying again cannot help); any other
    error counts as a failed attempt.

    Parameters
    ----------
    func : callable
        Called without arguments; its result is returned.
    retries : int
        Further attempts after the first.
    backoff : float
        Seconds before the first retry, doubled each time.
    sleep : callable
        ``sleep(seconds)`` (tests pass a recorder).
    failure : str
        What failed, for the message of the error raised after the last attempt.

    Raises
    ------
    RemoteServiceError
        After the last attempt failed, naming ``failure``, the attempts and the last error.
    """
    last = None
    for attempt in range(retries + 1):
        if attempt:
            sleep(backoff * 2 ** (attempt - 1))
        try:
            return func()
        except (ConfigurationError, ImportError):
            raise
        except Exception as exc:  # noqa: BLE001 - network errors come in many types
            last = exc
    raise RemoteServiceError(
        failure.format(attempts=retries + 1, error=f"{type(last).__name__}: {last}")) from last
