"""What makes a run resumable safely: its fingerprint, and the lock on its output.

A run that writes ``OUTPUT`` keeps its finished chunks in ``OUTPUT.parts/`` (see
`bhbfinder.pipeline.parts`) together with ``run.json``, the run's *fingerprint*: the inputs (their
number, a hash of their names in order, and the names themselves in ``inputs.json.gz``), for a
source table with columns besides the paths their names and a hash of their values (absent
otherwise, so such runs keep the fingerprint they had before), the classifier model file's
content hash, each batch stage's name and options, the stage-1 class
selections and the package version. ``resume=True`` compares the fingerprint of the new call
with the stored one and refuses a mismatch with a message that says what changed, so rows of
two different runs can never be mixed. The catalogue stages (Gaia, de-duplication, known
catalogues) run on the assembled table at the end, so they are not part of it: a resumed run
may add ``online=True``.

``OUTPUT.lock`` is held (``fcntl.flock``) while a run writes ``OUTPUT``: a second run on the
same output stops at once with `~bhbfinder.errors.RunLockedError`. The operating system
releases the lock when the process dies, however it dies, so a killed run never leaves a stale
lock behind.
"""

import gzip
import hashlib
import json
import os
import time
from pathlib import Path

from ..errors import ResumeMismatchError, RunLockedError

__all__ = ["FINGERPRINT_FILE", "INPUTS_FILE", "fingerprint", "save_fingerprint",
           "check_fingerprint", "RunLock", "file_digest"]

FINGERPRINT_FILE = "run.json"
INPUTS_FILE = "inputs.json.gz"
_FORMAT = "bhbfinder-run"


def file_digest(path, chunk=1 << 20):
    """SHA-256 of a file's content (hex)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def _names_digest(names):
    digest = hashlib.sha256()
    for name in names:
        digest.update(name.encode("utf-8", "surrogateescape"))
        digest.update(b"\0")
    return digest.hexdigest()


def _plain(value):
    """A JSON-able description of a stage option (files by content hash)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (bool, int, float)) or value is None:
        return value
    if isinstance(value, (str, os.PathLike)):
        text = os.fspath(value)
        try:
            if len(text) < 4096 and Path(text).is_file():
                return {"file": text, "sha256": file_digest(text)}
        except (OSError, ValueError):
            pass
        return text
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict):
        return _plain(to_dict())
    return f"<{type(value).__module__}.{type(value).__qualname__}>"


def fingerprint(names, stages, model_path, selections, version, source_columns=None):
    """The fingerprint of a run.

    Parameters
    ----------
    names : list of str
        The inputs, in run order (paths, or ``<memory:N>`` names).
    stages : dict
        ``{kind: (label, options)}`` of the batch stages (label: registered name, or the class
        of a stage object, or ``"skipped"``).
    model_path : str or None
        The classifier model file (hashed by content).
    selections : dict
        Other settings that change the chunks' rows (``params_classes``, ``balmer_classes``,
        read limits).
    version : str
        The package version.
    source_columns : dict, optional
        ``{"names": [...], "sha256": ...}`` of a source table's columns besides the paths,
        which travel with its files into the meta (see
        `bhbfinder.pipeline.sources.source_columns_digest`); left out of the fingerprint when
        None.

    Returns
    -------
    dict
    """
    model = None
    if model_path is not None:
        model = {"file": os.fspath(model_path), "sha256": file_digest(model_path)}
    out = {
        "format": _FORMAT,
        "bhbfinder": version,
        "inputs": {"n": len(names), "sha256": _names_digest(names)},
        "model": model,
        "stages": {kind: {"stage": label, "options": _plain(options)}
                   for kind, (label, options) in stages.items()},
        "selections": _plain(selections),
    }
    if source_columns is not None:
        out["source_columns"] = {"names": [str(n) for n in source_columns["names"]],
                                 "sha256": str(source_columns["sha256"])}
    return out


def save_fingerprint(folder, print_, names):
    """Write ``run.json`` and the input names into the run's chunk folder."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / ("." + INPUTS_FILE + ".tmp")
    with gzip.open(tmp, "wt", encoding="ascii") as fh:
        json.dump(list(names), fh)  # ensure_ascii: undecodable bytes survive as \udcXX
    os.replace(tmp, folder / INPUTS_FILE)
    tmp = folder / ("." + FINGERPRINT_FILE + ".tmp")
    tmp.write_text(json.dumps(print_, indent=1, ensure_ascii=True))
    os.replace(tmp, folder / FINGERPRINT_FILE)


def load_fingerprint(folder):
    """The stored fingerprint, or None when the folder has none (or an unreadable one)."""
    try:
        stored = json.loads((Path(folder) / FINGERPRINT_FILE).read_text())
    except (OSError, ValueError):
        return None
    return stored if isinstance(stored, dict) and stored.get("format") == _FORMAT else None


def _stored_names(folder):
    try:
        with gzip.open(Path(folder) / INPUTS_FILE, "rt", encoding="ascii") as fh:
            names = json.load(fh)
        return names if isinstance(names, list) else None
    except (OSError, ValueError, EOFError):
        return None


def _examples(names, k=3):
    shown = ", ".join(repr(n) for n in names[:k])
    return shown + (", ..." if len(names) > k else "")


def _input_changes(folder, stored, names):
    old = _stored_names(folder)
    if old is None:
        return [f"the inputs: {stored.get('n')} then, {len(names)} now (names differ)"]
    old_set, new_set = set(old), set(names)
    added = [n for n in names if n not in old_set]
    removed = [n for n in old if n not in new_set]
    changes = []
    if added:
        changes.append(f"{len(added)} input(s) added ({_examples(added)})")
    if removed:
        changes.append(f"{len(removed)} input(s) no longer given ({_examples(removed)})")
    if not added and not removed:
        changes.append("the same inputs in a different order")
    return changes


def check_fingerprint(folder, current, names, output):
    """Refuse to resume the run in ``folder`` unless its fingerprint equals ``current``.

    Raises
    ------
    ResumeMismatchError
        Naming each difference (inputs added or removed, model file, stage options, version).
    """
    stored = load_fingerprint(folder)
    hint = (f"resume it with the same arguments, start again with overwrite=True "
            f"(--overwrite), or write to another output than {os.fspath(output)!r}")
    if stored is None:
        raise ResumeMismatchError(
            f"{os.fspath(folder)!r} holds chunks without a readable {FINGERPRINT_FILE} (a run "
            f"of an older bhbfinder, or not a bhbfinder run folder), so resuming it could mix "
            f"two runs; {hint}")
    changes = []
    if stored.get("inputs") != current["inputs"]:
        changes.extend(_input_changes(folder, stored.get("inputs") or {}, names))
    old, new = stored.get("source_columns"), current.get("source_columns")
    if old != new:
        if old is None or new is None:
            changes.append("the source table's columns besides the paths: "
                           f"{(old or {}).get('names', 'none')} then, "
                           f"{(new or {}).get('names', 'none')} now")
        elif old.get("names") != new.get("names"):
            changes.append(f"the source table's columns: {old.get('names')} then, "
                           f"{new.get('names')} now")
        else:
            changes.append(f"the values (or types) in the source table's columns "
                           f"{', '.join(new['names'])}")
    if stored.get("model") != current["model"]:
        old, new = stored.get("model") or {}, current["model"] or {}
        if old.get("file") != new.get("file"):
            changes.append(f"the model file: {old.get('file')!r} then, {new.get('file')!r} now")
        else:
            changes.append(f"the content of the model file {new.get('file')!r}")
    old_stages, new_stages = stored.get("stages") or {}, current["stages"]
    for kind in sorted(set(old_stages) | set(new_stages)):
        old, new = old_stages.get(kind), new_stages.get(kind)
        if old != new:
            changes.append(f"the {kind} stage: {_describe_stage(old)} then, "
                           f"{_describe_stage(new)} now")
    if stored.get("selections") != current["selections"]:
        old, new = stored.get("selections") or {}, current["selections"]
        for key in sorted(set(old) | set(new)):
            if old.get(key) != new.get(key):
                changes.append(f"{key}: {old.get(key)!r} then, {new.get(key)!r} now")
    if stored.get("bhbfinder") != current["bhbfinder"]:
        changes.append(f"the bhbfinder version: {stored.get('bhbfinder')} then, "
                       f"{current['bhbfinder']} now")
    if changes:
        raise ResumeMismatchError(
            f"cannot resume {os.fspath(output)!r}: the interrupted run differs from this one "
            f"in " + "; ".join(changes) + f". {hint[0].upper()}{hint[1:]}")


def _describe_stage(entry):
    if entry is None:
        return "not run"
    options = entry.get("options") or {}
    return f"{entry.get('stage')!r}" + (f" with {options}" if options else "")


class RunLock:
    """An exclusive lock on a run's output (``OUTPUT.lock``), held while the run writes.

    Parameters
    ----------
    output : path-like
        The catalogue the run writes.
    """

    def __init__(self, output):
        output = Path(output)
        self.path = output.with_name(output.name + ".lock")
        self.output = output
        self._fd = None

    def acquire(self):
        """Take the lock, or raise `~bhbfinder.errors.RunLockedError` naming the holder."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            if not _try_lock(fd):
                holder = _read_holder(fd)
                os.close(fd)
                raise RunLockedError(
                    f"{os.fspath(self.output)!r} is being written by another bhbfinder run "
                    f"({holder}; lock file {os.fspath(self.path)!r}); wait for it to finish or "
                    "write to another output")
            try:  # the holder may have removed the file just before we locked it: retry
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()}, started {time.strftime('%Y-%m-%d %H:%M:%S')}"
                 .encode())
        self._fd = fd
        return self

    def release(self):
        """Remove the lock file and let it go."""
        if self._fd is None:
            return
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass
        os.close(self._fd)  # closing releases the flock
        self._fd = None

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()


def _try_lock(fd):
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: an existing lock file means "held"
        return os.fstat(fd).st_size == 0
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


def _read_holder(fd):
    try:
        text = os.pread(fd, 200, 0).decode("ascii", "replace").strip()
    except (OSError, AttributeError):
        text = ""
    return text or "pid unknown"
