"""The batch read path: many files into stacked arrays and one meta table, streaming.

`iter_paths` turns a directory, a glob, a list or a single path into a deterministic stream of
file paths; `read_one` reads one file through the plugin manager's reader lookup; `read_batch`
reads a list of paths into a `~bhbfinder.batch.RawBatch` in which every input has a row (a file
that failed has its reason in ``status``); `iter_batches` streams a source in chunks of bounded
size. No `specutils.Spectrum` is built on this path.
"""

import glob
import itertools
import logging
import os
from collections.abc import Iterable

from ..batch import STATUS_OK, RawBatch
from ..errors import SpectrumReadError, UnknownFormatError
from . import checks
from .sniff import read_head

__all__ = ["SPECTRUM_PATTERNS", "DEFAULT_BATCH_SIZE", "iter_paths", "read_one", "read_batch",
           "iter_batches"]

log = logging.getLogger(__name__)

#: File-name patterns a directory walk picks up by default (``patterns=None`` takes every file).
SPECTRUM_PATTERNS = ("*.fits", "*.fits.gz", "*.fit", "*.fit.gz", "*.fts", "*.fts.gz")

#: Spectra per batch in `iter_batches`: about 20 MB of arrays for LAMOST spectra.
DEFAULT_BATCH_SIZE = 256

_GLOB_CHARS = frozenset("*?[")


def _matches(name, patterns):
    from fnmatch import fnmatch

    return patterns is None or any(fnmatch(name, p) for p in patterns)


def _walk(folder, patterns):
    skipped = 0
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        for name in sorted(files):
            if _matches(name, patterns):
                yield os.path.join(root, name)
            else:
                skipped += 1
    if skipped:
        log.info("%s: %d files not matching %s were not read", folder, skipped, patterns)


def iter_paths(source, patterns=SPECTRUM_PATTERNS):
    """Yield the file paths of ``source`` in a deterministic order.

    Parameters
    ----------
    source : str, path-like, or iterable of them
        A directory (walked recursively, sub-folders and files in sorted order, keeping the
        files that match ``patterns``), a glob pattern (``**`` recurses; matches sorted), a
        single file, or an iterable of any of these (taken in the given order).
    patterns : tuple of str or None
        File-name patterns for directory walks (default `SPECTRUM_PATTERNS`); ``None`` keeps
        every file. Globs and explicit paths are not filtered.

    Yields
    ------
    str
        A path. A path that does not exist (or a glob that matches nothing) is yielded as it
        is, so the reader turns it into a ``"file not found"`` row: nothing is dropped
        silently.
    """
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        if os.path.isdir(path):
            yield from _walk(path, patterns)
        elif not os.path.exists(path) and _GLOB_CHARS & set(path):
            matches = sorted(glob.glob(path, recursive=True))
            if not matches:
                log.warning("%s matches no file", path)
                yield path
            for match in matches:
                if os.path.isdir(match):
                    yield from _walk(match, patterns)
                else:
                    yield match
        else:
            yield path
    elif isinstance(source, Iterable) and not isinstance(source, (bytes, dict)):
        for item in source:
            yield from iter_paths(item, patterns)
    else:
        raise TypeError(f"source must be a path, a glob or an iterable of them, "
                        f"not {type(source).__name__}")


def _diagnose_unknown(path, exc):
    """A more useful reason than "no reader" when the file is broken rather than foreign."""
    reason = checks.diagnose(path)
    return exc if reason == checks.CORRUPT_FITS else checks.fail(path, reason)


def read_one(path):
    """Read one spectrum file with the reader the plugin manager picks for it.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    `~bhbfinder.io.base.SpectrumArrays`

    Raises
    ------
    SpectrumReadError
        Naming the file and the reason (see `bhbfinder.io.checks.REASONS`);
        `~bhbfinder.errors.UnknownFormatError` when no installed reader recognises a
        well-formed file.
    """
    from ..plugins import get_plugin_manager

    path = os.fspath(path)
    try:
        head = read_head(path)
    except FileNotFoundError:
        raise checks.fail(path, checks.FILE_NOT_FOUND) from None
    except OSError as exc:
        raise checks.fail(path, checks.UNREADABLE_FILE, str(exc)) from None
    try:
        reader = get_plugin_manager().get_reader(path, head)
    except UnknownFormatError as exc:
        raise _diagnose_unknown(path, exc) from None
    return reader.read_arrays(path)


def _failure_meta(path):
    return {"file": path}


def read_batch(paths):
    """Read files into one `~bhbfinder.batch.RawBatch`, one row per path, failures included.

    Parameters
    ----------
    paths : iterable of str or path-like
        The files, in the order the rows will have (use `iter_paths` to expand folders and
        globs).

    Returns
    -------
    `~bhbfinder.batch.RawBatch`
        Spectra padded to the longest; ``meta["status"]`` is ``"ok"`` or the reason a file
        failed (its row then has ``npix = 0`` and only ``file`` filled in the meta).
    """
    records, metas, statuses = [], [], []
    for path in paths:
        path = os.fspath(path)
        try:
            arrays = read_one(path)
        except SpectrumReadError as exc:
            log.info("%s", exc)
            records.append(None)
            metas.append(_failure_meta(path))
            statuses.append(exc.reason)
            continue
        except Exception as exc:  # a reader bug must not stop the batch
            log.warning("%s: %s: %s", path, type(exc).__name__, exc)
            records.append(None)
            metas.append(_failure_meta(path))
            statuses.append(checks.UNEXPECTED_ERROR)
            continue
        records.append(arrays)
        metas.append(arrays.meta)
        statuses.append(STATUS_OK)
    return RawBatch.from_records(records, metas=metas, statuses=statuses)


def iter_batches(source, batch_size=DEFAULT_BATCH_SIZE, patterns=SPECTRUM_PATTERNS):
    """Stream ``source`` as `~bhbfinder.batch.RawBatch` chunks of at most ``batch_size`` rows.

    Only one chunk's files are held in memory at a time; every input path appears in exactly
    one chunk, in `iter_paths` order.

    Parameters
    ----------
    source : str, path-like or iterable
        See `iter_paths`.
    batch_size : int
        Files per chunk.
    patterns : tuple of str or None
        See `iter_paths`.

    Yields
    ------
    `~bhbfinder.batch.RawBatch`
    """
    from ..errors import ConfigurationError

    if int(batch_size) < 1:
        raise ConfigurationError(f"batch_size must be at least 1, not {batch_size!r}")
    paths = iter_paths(source, patterns)
    while True:
        chunk = list(itertools.islice(paths, int(batch_size)))
        if not chunk:
            return
        yield read_batch(chunk)
