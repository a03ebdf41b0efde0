"""Reading files in chunks: many files into stacked arrays and one meta table, streaming.

`iter_paths` turns a directory, a glob, a list or a single path into a deterministic stream of
file paths (a directory walk keeps the files a reader recognises by content, and names the
folders it cannot list); `read_one` reads one regular file of bounded size (see
`bhbfinder.io.limits`) through the plugin manager's reader lookup; `read_batch`
reads a list of paths into a `~bhbfinder.batch.RawBatch` in which every input has a row (a file
that failed has its reason in ``status``); `iter_batches` streams a source in chunks of bounded
size. No `specutils.Spectrum` is built on this path.
"""

import glob
import itertools
import logging
import os
import stat
import warnings
import zlib
from collections.abc import Iterable
from fnmatch import fnmatch

from ..batch import STATUS_OK, RawBatch
from ..errors import BHBFinderWarning, ConfigurationError, SpectrumReadError, UnknownFormatError
from ..plugins import get_plugin_manager
from . import checks
from .limits import current_limits, read_limits
from .sniff import read_head, sniff_file

__all__ = ["SPECTRUM_PATTERNS", "DEFAULT_BATCH_SIZE", "iter_paths", "read_one", "read_batch",
           "iter_batches"]

log = logging.getLogger(__name__)

#: File-name patterns a directory walk picks up by default (``patterns=None`` takes every file).
SPECTRUM_PATTERNS = ("*.fits", "*.fits.gz", "*.fit", "*.fit.gz", "*.fts", "*.fts.gz")

#: Spectra per batch in `iter_batches`: about 20 MB of arrays for LAMOST spectra.
DEFAULT_BATCH_SIZE = 256

_GLOB_CHARS = frozenset("*?[")


def _matches(name, patterns):
    return patterns is None or any(fnmatch(name, p) for p in patterns)


def _claimed_by_a_reader(path):
    """Whether an installed reader recognises a regular file by its content."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return False  # never open a FIFO or a device just to look at it
        head = read_head(path)
    except OSError:
        return False
    if not head:
        return False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            get_plugin_manager().get_reader(path, head)
        except UnknownFormatError:
            return False
    return True


def _walk(folder, patterns, exclude=(), sniff=True):
    skipped = 0
    unreadable = []
    excluded = {os.path.realpath(p) for p in exclude}
    excluded_names = {os.path.basename(p) for p in excluded}

    def keep(path, name):
        return not (name in excluded_names and os.path.realpath(path) in excluded)

    for root, dirs, files in os.walk(folder, onerror=unreadable.append):
        dirs[:] = sorted(d for d in dirs if keep(os.path.join(root, d), d))
        for error in unreadable:  # folders os.walk could not list: a row each, and a warning
            where = getattr(error, "filename", None) or root
            warnings.warn(f"{where}: {checks.UNREADABLE_FOLDER} ({error.strerror}); its files "
                          "are not read", BHBFinderWarning)
            yield os.fspath(where)
        unreadable.clear()
        for name in sorted(files):
            path = os.path.join(root, name)
            if not keep(path, name):
                continue
            if _matches(name, patterns) or (sniff and patterns is not None
                                            and _claimed_by_a_reader(path)):
                yield path
            else:
                skipped += 1
    for error in unreadable:  # folders that failed after the last listing
        where = getattr(error, "filename", None) or folder
        warnings.warn(f"{where}: {checks.UNREADABLE_FOLDER} ({error.strerror}); its files are "
                      "not read", BHBFinderWarning)
        yield os.fspath(where)
    if skipped:
        log.info("%s: %d files that no reader recognises were not read", folder, skipped)


def iter_paths(source, patterns=SPECTRUM_PATTERNS, exclude=(), sniff=True, strict=False):
    """Yield the file paths of ``source`` in a deterministic order.

    Parameters
    ----------
    source : str, path-like, or iterable of them
        A directory (walked recursively, sub-folders and files in sorted order, keeping the
        files that match ``patterns`` and, with ``sniff``, any other regular file an
        installed reader recognises by its first bytes), a glob pattern (``**`` recurses;
        matches sorted), a single file, or an iterable of any of these (taken in the given
        order). A sub-folder that cannot be listed is yielded itself (it becomes an
        ``"unreadable folder"`` row) with a `~bhbfinder.errors.BHBFinderWarning`.
    patterns : tuple of str or None
        File-name patterns for directory walks (default `SPECTRUM_PATTERNS`); ``None`` keeps
        every file. Globs and explicit paths are not filtered.
    exclude : iterable of path-like
        Files and folders a walk leaves out (a run's own output and chunk folder).
    sniff : bool
        In walks, also keep files with other names that a reader recognises by content (an
        obsid-named file without suffix, gzip content under another name); only regular
        files are opened for this.
    strict : bool
        A single ``source`` path that does not exist, or a glob that matches nothing, raises
        `~bhbfinder.errors.ConfigurationError` instead (what `~bhbfinder.find_bhb` does with
        the path it is given); inside an iterable they are yielded as always.

    Yields
    ------
    str
        A path. A path that does not exist (or a glob that matches nothing) is yielded as it
        is, so the reader turns it into a ``"file not found"`` row: nothing is dropped
        silently.
    """
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        if strict and not os.path.lexists(path) and not _GLOB_CHARS & set(path):
            raise ConfigurationError(f"{path!r}: no such file or directory")
        if os.path.isdir(path):
            yield from _walk(path, patterns, exclude, sniff)
        elif not os.path.exists(path) and _GLOB_CHARS & set(path):
            matches = sorted(glob.glob(path, recursive=True))
            if not matches and strict:
                raise ConfigurationError(f"the pattern {path!r} matches no file")
            if not matches:
                log.warning("%s matches no file", path)
                yield path
            for match in matches:
                if os.path.isdir(match):
                    yield from _walk(match, patterns, exclude, sniff)
                else:
                    yield match
        else:
            yield path
    elif isinstance(source, Iterable) and not isinstance(source, (bytes, dict)):
        for item in source:
            yield from iter_paths(item, patterns, exclude, sniff)  # never strict inside
    else:
        raise TypeError(f"source must be a path, a glob or an iterable of them, "
                        f"not {type(source).__name__}")


def _diagnose_unknown(path, exc):
    """A more useful reason than "no reader" when the file is broken rather than foreign."""
    reason = checks.diagnose(path)
    return exc if reason == checks.CORRUPT_FITS else checks.fail(path, reason)


def _check_file(path, limits):
    """Refuse, before opening it, anything but a regular file within the size limit."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise checks.fail(path, checks.FILE_NOT_FOUND) from None
    except OSError as exc:
        raise checks.fail(path, checks.UNREADABLE_FILE, str(exc)) from None
    if stat.S_ISDIR(st.st_mode):  # walks expand folders: only one they could not list is here
        raise checks.fail(path, checks.UNREADABLE_FOLDER)
    if not stat.S_ISREG(st.st_mode):
        kind = ("FIFO" if stat.S_ISFIFO(st.st_mode) else "socket" if stat.S_ISSOCK(st.st_mode)
                else "device" if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)
                else "special file")
        raise checks.fail(path, checks.NOT_REGULAR_FILE, f"a {kind}")
    if st.st_size > limits.max_file_size:
        raise checks.fail(path, checks.TOO_LARGE,
                          f"{st.st_size} bytes on disk, the limit is {limits.max_file_size}")


def _check_inflated_size(path, limit, block=1 << 20):
    """Inflate a gzip file as a stream, keeping nothing, and refuse it past ``limit`` bytes."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    total = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(block):
            data = inflater.decompress(chunk, limit + 1 - total)
            total += len(data)
            while inflater.unconsumed_tail and total <= limit:
                data = inflater.decompress(inflater.unconsumed_tail, limit + 1 - total)
                total += len(data)
            if total > limit:
                raise checks.fail(path, checks.TOO_LARGE, f"inflates to more than {limit} bytes")
            if inflater.eof:
                return


def read_one(path):
    """Read one spectrum file with the reader the plugin manager picks for it.

    Only regular files are opened (a FIFO would block, a device never end); a file larger
    than the read limits on disk or once inflated is refused before it is read (see
    `bhbfinder.io.limits`).

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    `~bhbfinder.io.base.SpectrumArrays`

    Raises
    ------
    SpectrumReadError
        Naming the file and the reason (see `bhbfinder.io.checks.REASONS`), with the name of
        the reader that failed in its ``reader`` attribute (None when no reader was chosen);
        `~bhbfinder.errors.UnknownFormatError` when no installed reader recognises a
        well-formed file.
    """
    path = os.fspath(path)
    limits = current_limits()
    _check_file(path, limits)
    try:
        head, gzipped = sniff_file(path)
    except FileNotFoundError:
        raise checks.fail(path, checks.FILE_NOT_FOUND) from None
    except OSError as exc:
        raise checks.fail(path, checks.UNREADABLE_FILE, str(exc)) from None
    try:
        reader = get_plugin_manager().get_reader(path, head)
    except UnknownFormatError as exc:
        raise _diagnose_unknown(path, exc) from None
    name = getattr(reader, "name", type(reader).__name__)
    try:
        if not getattr(reader, "checks_inflated_size", False):
            if gzipped:
                try:
                    _check_inflated_size(path, limits.max_inflated_size)
                except zlib.error:
                    pass  # a damaged stream: the reader reports it properly
        return reader.read_arrays(path)
    except SpectrumReadError as exc:
        exc.reader = name
        raise
    except Exception as exc:
        exc.bhbfinder_reader = name
        raise


def _failure_meta(path, reader=None):
    return {"file": path, "reader": reader}


def read_batch(paths, limits=None):
    """Read files into one `~bhbfinder.batch.RawBatch`, one row per path, failures included.

    Parameters
    ----------
    paths : iterable of str or path-like
        The files, in the order the rows will have (use `iter_paths` to expand folders and
        globs).
    limits : `~bhbfinder.io.limits.ReadLimits` or dict, optional
        Size limits for these reads (default: those in force, see `bhbfinder.io.limits`).

    Returns
    -------
    `~bhbfinder.batch.RawBatch`
        Spectra padded to the longest; ``meta["status"]`` is ``"ok"`` or the reason a file
        failed (its row then has ``npix = 0`` and only ``file`` and, when a reader was chosen,
        ``reader`` filled in the meta).
    """
    if limits is not None:
        with read_limits(limits):
            return read_batch(paths)
    records, metas, statuses = [], [], []
    for path in paths:
        path = os.fspath(path)
        try:
            arrays = read_one(path)
        except SpectrumReadError as exc:
            log.info("%s", exc)
            records.append(None)
            metas.append(_failure_meta(path, getattr(exc, "reader", None)))
            statuses.append(exc.reason)
            continue
        except Exception as exc:  # a reader bug must not stop the batch
            log.warning("%s: %s: %s", path, type(exc).__name__, exc)
            records.append(None)
            metas.append(_failure_meta(path, getattr(exc, "bhbfinder_reader", None)))
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
    if int(batch_size) < 1:
        raise ConfigurationError(f"batch_size must be at least 1, not {batch_size!r}")
    paths = iter_paths(source, patterns)
    while True:
        chunk = list(itertools.islice(paths, int(batch_size)))
        if not chunk:
            return
        yield read_batch(chunk)
