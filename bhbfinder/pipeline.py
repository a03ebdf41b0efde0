"""`find_bhb` and `Pipeline`: the stages tied into a streaming, resumable, parallel run.

A run reads its inputs in chunks. Each chunk goes through the *batch* stages (prepare →
classify → balmer → params) wherever the executor runs it (this process, local processes, or
Dask workers); only arrays and tables cross process boundaries. Each finished chunk is written
at once to a part file beside the output, so an interrupted run loses nothing and ``resume=True``
carries on where it stopped. When every chunk is done, the *catalogue* stages (Gaia crossmatch,
de-duplication, known objects) run on the assembled catalogue and the output is written.
"""

import concurrent.futures
import glob
import hashlib
import os
import sys
import threading
import time
import uuid
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from astropy.table import MaskedColumn, QTable, Table, vstack

from ._parts import PartFiles
from .batch import STATUS_OK, RawBatch
from .catalog import ensure_columns, format_summary, summarize, write_catalog
from .errors import BHBFinderWarning, ConfigurationError, ModelFileError, StageNotFoundError
from .stages import DEFAULT_STAGES, get_stage, get_stage_info

__all__ = ["find_bhb", "Pipeline", "BATCH_STAGES", "CATALOG_STAGES", "ONLINE_STAGES"]

#: Stages run chunk by chunk, in this order (``prepare`` runs as each of them needs it).
BATCH_STAGES = ("classify", "balmer", "params")
#: Stages run once on the assembled catalogue, in this order (Gaia ids feed de-duplication).
CATALOG_STAGES = ("crossmatch", "dedup", "known")
#: Stages that need the network by default; they run only with ``online=True`` or when named.
ONLINE_STAGES = ("crossmatch", "known")

_INDEX = "_input_index"
#: Errors of building a stage (bad name, model file or option): they stop a run.
SETUP_ERRORS = (ConfigurationError, ModelFileError, StageNotFoundError)


@dataclass
class _Item:
    """One input: a path, or an in-memory spectrum as arrays."""

    name: str
    arrays: object = None


@dataclass
class Pipeline:
    """The BHB search, stage by stage.

    Parameters
    ----------
    model : str or path-like, optional
        Classifier model file (ASDF); the shipped pretrained model when not given.
    stages : dict, optional
        ``{kind: name}`` choosing a registered implementation for a stage kind (see
        ``bhbfinder plugins --stages``), or ``{kind: stage_object}``, or ``{kind: None}`` to
        skip a stage. Unnamed kinds use `bhbfinder.stages.DEFAULT_STAGES`, except the network
        stages (Gaia crossmatch, known-catalogue lookup), which run only with ``online=True``
        or when named here.
    config : dict, optional
        ``{kind: {option: value}}`` passed to each stage's factory.
    batch_size : int
        Spectra per chunk.
    online : bool
        Run the stages that query remote services (Gaia archive, VizieR).
    params_classes : tuple of str or None
        Run the ``params`` stage only on spectra whose stage-1 class is one of these (default
        the hot stars the shipped parameter model covers: BHB, A, B); others get masked
        parameters. ``None`` runs it on every spectrum.
    balmer_classes : tuple of str or None
        Likewise for the ``balmer`` stage (default BHB, A, B: the stars whose Balmer profiles
        the criteria compare; F/G/K stars, white dwarfs and hot subdwarfs get masked Balmer
        columns). ``None`` fits every spectrum.

    Examples
    --------
    Step by step in a notebook::

        pipe = Pipeline()
        raw = pipe.read(paths[:100])
        prepared = pipe.prepare(raw)
        table = pipe.process(raw)          # prepare + classify + balmer + params
        catalog = pipe.finalize(table)     # crossmatch, dedup, known, is_new_bhb
    """

    model: object = None
    stages: dict = field(default_factory=dict)
    config: dict = field(default_factory=dict)
    batch_size: int = 256
    online: bool = False
    params_classes: tuple = ("BHB", "A", "B")
    balmer_classes: tuple = ("BHB", "A", "B")

    def __post_init__(self):
        unknown = set(self.stages or {}) | set(self.config or {})
        unknown -= set(DEFAULT_STAGES)
        if unknown:
            raise ConfigurationError(
                f"stages/config name unknown stage kinds {sorted(unknown)}; "
                f"the kinds are {', '.join(DEFAULT_STAGES)}"
            )
        if int(self.batch_size) < 1:
            raise ConfigurationError(f"batch_size must be >= 1, got {self.batch_size!r}")
        self._built = {}
        self._prepare_stages = {}
        # identifies this pipeline in worker processes, which build its stages once and reuse
        # them for every chunk (see _worker_pipeline)
        self._token = uuid.uuid4().hex

    def __getstate__(self):
        # stages are rebuilt in each worker; ship only the description
        state = dict(self.__dict__)
        state["_built"] = {}
        state["_prepare_stages"] = {}
        return state

    # -- stages -----------------------------------------------------------------------------
    def choice(self, kind):
        """What runs for ``kind``: a registered name, a stage object, or None (skipped)."""
        stages = self.stages or {}
        if kind in stages:
            return stages[kind]
        if kind in ONLINE_STAGES and not self.online:
            return None
        return DEFAULT_STAGES[kind]

    def stage(self, kind):
        """The stage object for ``kind`` (built on first use), or None when skipped."""
        if kind not in self._built:
            choice = self.choice(kind)
            options = dict((self.config or {}).get(kind, {}))
            if kind == "classify" and self.model is not None:
                options.setdefault("model", self.model)
            if choice is None or choice is False:
                self._built[kind] = None
            elif isinstance(choice, str):
                self._built[kind] = get_stage(kind, choice, **options)
            else:
                self._built[kind] = choice
        return self._built[kind]

    def check_stages(self):
        """Check, without building them, that every chosen stage exists and the model file is
        there; the quick check a run makes when its stages are built in worker processes.

        Raises
        ------
        StageNotFoundError, ModelFileError
        """
        for kind in ("prepare",) + BATCH_STAGES + CATALOG_STAGES:
            choice = self.choice(kind)
            if isinstance(choice, str):
                get_stage_info(kind, choice)
        model = self.model if self.model is not None else \
            (self.config or {}).get("classify", {}).get("model")
        if isinstance(model, (str, os.PathLike)) and not Path(model).is_file():
            raise ModelFileError(f"{model}: no such model file; pass a path written by "
                                 "bhbfinder.classify.save_model or `bhbfinder train`")

    def build_stages(self):
        """Build every stage now (raising configuration errors before any work is done)."""
        for kind in BATCH_STAGES + CATALOG_STAGES:
            stage = self.stage(kind)
            if kind in BATCH_STAGES and stage is not None:
                self._prepare_stage(getattr(stage, "prepare_config", None))
        return {kind: self._built[kind] for kind in BATCH_STAGES + CATALOG_STAGES}

    def _prepare_stage(self, prepare_config):
        key = _config_key(prepare_config)
        if key not in self._prepare_stages:
            choice = self.choice("prepare")
            options = dict((self.config or {}).get("prepare", {}))
            if prepare_config is not None:
                options["config"] = prepare_config
            if isinstance(choice, str):
                self._prepare_stages[key] = get_stage("prepare", choice, **options)
            elif choice is None:
                raise ConfigurationError("the prepare stage cannot be skipped")
            else:
                self._prepare_stages[key] = choice
        return self._prepare_stages[key]

    # -- steps ------------------------------------------------------------------------------
    def read(self, paths):
        """Read files into a `~bhbfinder.batch.RawBatch` (failures become rows with a reason)."""
        from .io.batch import read_batch

        return read_batch([str(p) for p in paths])

    def prepare(self, raw, prepare_config=None):
        """Prepare a raw batch as the stages' models expect (default: the classifier's)."""
        if prepare_config is None:
            prepare_config = getattr(self.stage("classify"), "prepare_config", None)
        return self._prepare_stage(prepare_config).run(raw)

    def process(self, raw):
        """Run the batch stages on a `~bhbfinder.batch.RawBatch`; one row per spectrum."""
        table = Table(raw.meta, copy=True)
        status = np.array(table["status"], dtype=object)
        prepared_by_config = {}
        for kind in BATCH_STAGES:
            stage = self.stage(kind)
            if stage is None:
                continue
            config = getattr(stage, "prepare_config", None)
            key = _config_key(config)
            if key not in prepared_by_config:
                prepared = _guarded("prepare", status, self.prepare, raw, config)
                prepared_by_config[key] = prepared
                if prepared is not None:
                    _merge_prepared_meta(table, prepared.meta, status)
            prepared = prepared_by_config[key]
            if prepared is None:
                continue
            rows = self._rows_for(kind, table)
            columns = _guarded(kind, status, _run_on_rows, stage, prepared, rows)
            if columns is None:
                continue
            if len(columns) != len(table):
                _mark_failed(status, f"{kind} failed: returned {len(columns)} rows for "
                                     f"{len(table)} spectra")
                continue
            for name in columns.colnames:
                table[name] = columns[name]
        table["status"] = np.array([str(s) for s in status], dtype=str)
        return table

    def _rows_for(self, kind, table):
        """Which rows a batch stage runs on (None: all)."""
        chosen = {"params": self.params_classes, "balmer": self.balmer_classes}.get(kind)
        if chosen is None or "stage1_class" not in table.colnames:
            return None
        col = table["stage1_class"]
        classes = np.asarray(col.filled("") if hasattr(col, "filled") else col, dtype=str)
        return np.isin(classes, list(chosen))

    def finalize(self, table):
        """Run the catalogue stages and derive ``is_new_bhb``; returns a `~astropy.table.QTable`."""
        table = Table(table, copy=False)
        for kind in CATALOG_STAGES:
            stage = self.stage(kind)
            if stage is None:
                continue
            try:
                columns = stage.run(table)
            except Exception as exc:  # a failed lookup must not lose the catalogue
                warnings.warn(f"{kind} stage failed on the catalogue and was skipped: "
                              f"{type(exc).__name__}: {exc}", BHBFinderWarning)
                table.meta.setdefault("stage_errors", {})[kind] = f"{type(exc).__name__}: {exc}"
                continue
            for name in columns.colnames:
                table[name] = columns[name]
        ensure_columns(table)
        table["is_new_bhb"] = _new_bhb(table)
        ensure_columns(table)
        return QTable(table)

    # -- the whole run ----------------------------------------------------------------------
    def run(self, source, *, output=None, resume=False, executor=None, progress=True):
        """Run on every input; see `find_bhb` for the arguments."""
        start = time.perf_counter()
        if _is_serial(executor):
            self.build_stages()  # a missing model or unknown stage fails here, not per chunk
        else:
            # workers build the stages (and re-raise setup errors); here only a quick check,
            # so the workers start at once instead of after this process loaded the models
            self.check_stages()
        items = expand_source(source)
        parts = PartFiles(output, _INDEX) if output is not None else None
        done = set()
        if parts is not None:
            if resume:
                done = parts.done_indices()
            else:
                parts.clear()
        todo = [i for i in range(len(items)) if i not in done]
        chunks = [todo[i:i + self.batch_size] for i in range(0, len(todo), self.batch_size)]
        collected = []
        with _Progress(len(items), initial=len(done), enabled=progress) as bar:
            for index_chunk, table in _execute(self, items, chunks, executor):
                if parts is not None:
                    parts.write(table)
                else:
                    collected.append(table)
                bar.update(len(index_chunk))
        tables = parts.read_all() if parts is not None else collected
        table = _assemble(tables, items)
        catalog = self.finalize(table)
        summary = summarize(catalog, elapsed=time.perf_counter() - start)
        catalog.meta["summary"] = summary
        catalog.meta["stages"] = {kind: _stage_label(self.choice(kind))
                                  for kind in ("prepare",) + BATCH_STAGES + CATALOG_STAGES}
        if output is not None:
            write_catalog(catalog, output, overwrite=True)
            parts.clear()
        if progress:
            print(format_summary(summary), file=sys.stderr)
        return catalog


def find_bhb(source, *, model=None, stages=None, config=None, output=None, resume=False,
             executor=None, progress=True, batch_size=256, online=False,
             params_classes=("BHB", "A", "B"), balmer_classes=("BHB", "A", "B")):
    """Find BHB stars in survey spectra.

    Parameters
    ----------
    source : str, path-like, list, `~specutils.Spectrum`, `~specutils.SpectrumList` or Table
        A directory (walked recursively), a glob pattern, a file, a list of paths, spectra in
        memory, or a table with a ``path`` (or ``file``) column.
    model : str or path-like, optional
        Classifier model file; the shipped pretrained model by default.
    stages, config : dict, optional
        Stage choices and options, see `Pipeline`.
    output : str or path-like, optional
        Catalogue file (``.fits``, ``.ecsv``, ``.parquet``, ``.asdf``, ``.vot``). Chunks are
        written to ``OUTPUT.parts/`` as they finish and removed once the catalogue is written.
    resume : bool
        Continue an interrupted run with the same ``output``: finished chunks are kept, the
        rest is processed; the result equals an uninterrupted run's.
    executor : None, int, "processes", `concurrent.futures.Executor`, Dask ``Client`` or str
        Where chunks run: this process (None), N local processes (int or "processes" for all
        cores), any executor, a ``dask.distributed.Client``, or a Dask scheduler address.
    progress : bool
        Show a progress bar and print a summary at the end.
    batch_size : int
        Spectra per chunk.
    online : bool
        Query remote services (Gaia DR3 crossmatch, known BHB catalogues in VizieR).
    params_classes, balmer_classes : tuple of str or None
        Stage-1 classes the ``params`` and ``balmer`` stages run on (see `Pipeline`).

    Returns
    -------
    `~astropy.table.QTable`
        One row per input spectrum (failed inputs included, with the reason in ``status``);
        columns in `bhbfinder.catalog.CATALOG_COLUMNS` and more from the stages; the run's
        summary in ``meta["summary"]``.
    """
    pipeline = Pipeline(model=model, stages=dict(stages or {}), config=dict(config or {}),
                        batch_size=batch_size, online=online, params_classes=params_classes,
                        balmer_classes=balmer_classes)
    return pipeline.run(source, output=output, resume=resume, executor=executor,
                        progress=progress)


# -- inputs ---------------------------------------------------------------------------------
def expand_source(source):
    """The list of inputs (`_Item`) a ``source`` stands for, in a deterministic order."""
    from .io.base import SpectrumArrays

    # specutils costs ~3 s to import; a source can only hold its spectra if it is imported
    specutils = sys.modules.get("specutils")
    Spectrum = getattr(specutils, "Spectrum", ())
    SpectrumList = getattr(specutils, "SpectrumList", ())
    if isinstance(source, Spectrum):
        return _spectrum_items([source])
    if isinstance(source, SpectrumList):
        return _spectrum_items(list(source))
    if isinstance(source, Table):
        for name in ("path", "file", "filename"):
            if name in source.colnames:
                return [_Item(str(p)) for p in source[name]]
        raise ConfigurationError(
            f"the source table has no path column (looked for path, file, filename; "
            f"it has {source.colnames})"
        )
    if isinstance(source, SpectrumArrays):
        return [_Item("<memory:0>", source)]
    if isinstance(source, (str, os.PathLike)):
        return [_Item(p) for p in _expand_path(str(source))]
    if isinstance(source, (list, tuple)):
        if all(isinstance(s, Spectrum) for s in source) and source:
            return _spectrum_items(list(source))
        items = []
        for entry in source:
            items.extend(_Item(p) for p in _expand_path(str(entry), glob_ok=False))
        return items
    raise ConfigurationError(
        f"cannot read spectra from a {type(source).__name__}; give a directory, glob, path, "
        "list of paths, Spectrum/SpectrumList, or a table with a path column"
    )


def _expand_path(path, glob_ok=True):
    p = Path(path)
    if p.is_dir():
        from .io.batch import iter_paths

        return [str(x) for x in iter_paths(p)]
    if glob_ok and any(ch in path for ch in "*?["):
        matches = sorted(glob.glob(path, recursive=True))
        if not matches:
            raise ConfigurationError(f"the pattern {path!r} matches no file")
        return [m for m in matches if not Path(m).is_dir()]
    # a missing file stays in the list: reading it gives a failure row, not a silent skip
    return [path]


def _spectrum_items(spectra):
    from .io.base import SpectrumArrays

    items = []
    for spec in spectra:
        flux = np.asarray(spec.flux)
        if flux.ndim == 1:
            items.append(_Item(f"<memory:{len(items)}>", SpectrumArrays.from_spectrum(spec)))
            continue
        for row in range(flux.shape[0]):
            items.append(_Item(f"<memory:{len(items)}>",
                               SpectrumArrays.from_spectrum(spec[row])))
    for item in items:
        item.arrays.meta["file"] = item.name
    return items


# -- one chunk, wherever it runs ------------------------------------------------------------
def _process_chunk(pipeline, items, indices):
    """Read and process one chunk; runs in workers, so it takes and returns plain data."""
    _limit_threads_in_worker()
    paths = [items[i].name for i in indices if items[i].arrays is None]
    if len(paths) == len(indices):
        raw = pipeline.read(paths)
    else:
        records = [items[i].arrays for i in indices]
        raw = RawBatch.from_records(records)
    table = pipeline.process(raw)
    table[_INDEX] = np.asarray(indices, dtype=np.int64)
    return table


_THREADS_LIMITED = []


def _limit_threads_in_worker():
    """One compute thread per worker (torch and the BLAS under NumPy/SciPy), once per process.

    Workers are as many as the cores; each one's libraries would start a thread per core, and
    on 2 cores that oversubscription halved the throughput of a 2-worker run.
    """
    if os.environ.get("BHBFINDER_WORKER") != "1" or _THREADS_LIMITED:
        return
    _THREADS_LIMITED.append(True)
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:  # pragma: no cover
        pass
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=1)
    except ImportError:  # pragma: no cover
        pass


def _execute(pipeline, items, chunks, executor):
    """Yield ``(indices, table)`` per chunk as chunks finish."""
    if not chunks:
        return
    kind, runner, owned = _resolve_executor(executor)
    if kind == "serial":
        for indices in chunks:
            yield indices, _run_guarded(pipeline, items, indices)
        return
    try:
        yield from _execute_parallel(kind, runner, pipeline, items, chunks)
    finally:
        if owned:
            if kind == "dask":
                runner.close()
            else:
                runner.shutdown()


def _run_guarded(pipeline, items, indices):
    try:
        return _process_chunk(pipeline, items, indices)
    except Exception as exc:  # a chunk that fails outright still yields one row per input
        return _failed_chunk(items, indices, f"chunk failed: {type(exc).__name__}: {exc}")


def _failed_chunk(items, indices, reason):
    from .batch import meta_table

    metas = [{"file": items[i].name} for i in indices]
    table = meta_table(metas, [reason] * len(indices))
    table[_INDEX] = np.asarray(indices, dtype=np.int64)
    return table


def _execute_parallel(kind, runner, pipeline, items, chunks):
    in_flight_max = max(2, 2 * _n_workers(kind, runner))
    pending = {}
    queue = list(chunks)

    def submit(indices):
        sub_items = {i: items[i] for i in indices}
        future = runner.submit(_run_guarded_subset, pipeline, sub_items, indices)
        pending[future] = indices
        return future

    while queue and len(pending) < in_flight_max:
        submit(queue.pop(0))
    if kind == "dask":
        from distributed import as_completed

        completed = as_completed(list(pending))
        for future in completed:
            indices = pending.pop(future)
            yield indices, _result_or_failure(future, items, indices)
            if queue:
                completed.add(submit(queue.pop(0)))
        return
    while pending:
        finished, _ = concurrent.futures.wait(list(pending),
                                              return_when=concurrent.futures.FIRST_COMPLETED)
        for future in finished:
            indices = pending.pop(future)
            yield indices, _result_or_failure(future, items, indices)
            if queue:
                submit(queue.pop(0))


_WORKER_PIPELINES = {}
_WORKER_LOCK = threading.Lock()


def _worker_pipeline(pipeline):
    """The worker's own copy of ``pipeline``, whose stages are built once per process.

    Building raises the setup errors (`SETUP_ERRORS`) out of the worker, so the run stops with
    the same error as a serial run instead of failing chunk after chunk.
    """
    with _WORKER_LOCK:  # thread-pool executors share this process
        cached = _WORKER_PIPELINES.get(pipeline._token)
        if cached is None:
            _WORKER_PIPELINES.clear()  # one run at a time per worker: keep memory bounded
            pipeline.build_stages()
            _WORKER_PIPELINES[pipeline._token] = cached = pipeline
    return cached


def _run_guarded_subset(pipeline, sub_items, indices):
    os.environ.setdefault("BHBFINDER_WORKER", "1")
    return _run_guarded(_worker_pipeline(pipeline), sub_items, indices)


def _result_or_failure(future, items, indices):
    try:
        return future.result()
    except SETUP_ERRORS:
        raise  # a stage that cannot be built fails every chunk: stop, as a serial run does
    except Exception as exc:  # the worker died: record, do not lose the inputs
        return _failed_chunk(items, indices, f"worker failed: {type(exc).__name__}: {exc}")


def _is_serial(executor):
    return executor is None or (isinstance(executor, str) and executor == "serial") or \
        (isinstance(executor, int) and not isinstance(executor, bool) and executor == 1)


def _resolve_executor(executor):
    """``(kind, runner, owned)`` for the ``executor`` argument of `find_bhb`."""
    if _is_serial(executor):
        return "serial", None, False
    if isinstance(executor, bool):
        raise ConfigurationError("executor must be None, an int, 'processes', an Executor, "
                                 "a Dask Client or a scheduler address")
    if isinstance(executor, int) or executor == "processes":
        import multiprocessing

        workers = os.cpu_count() if executor == "processes" else int(executor)
        if workers < 1:
            raise ConfigurationError(f"executor: the number of workers must be >= 1, "
                                     f"got {executor!r}")
        context = multiprocessing.get_context("spawn")
        return "futures", concurrent.futures.ProcessPoolExecutor(workers, mp_context=context), True
    if isinstance(executor, str):
        try:
            from distributed import Client
        except ImportError as exc:
            raise ConfigurationError("a Dask scheduler address needs dask.distributed: "
                                     "pip install 'bhbfinder[dask]'") from exc
        return "dask", Client(executor), True
    module = type(executor).__module__ or ""
    if module.startswith("distributed"):
        return "dask", executor, False
    if isinstance(executor, concurrent.futures.Executor):
        return "futures", executor, False
    raise ConfigurationError(f"executor: cannot run chunks on a {type(executor).__name__}")


def _n_workers(kind, runner):
    if kind == "dask":
        try:
            return max(1, sum(runner.nthreads().values()))
        except Exception:
            return 2
    return getattr(runner, "_max_workers", None) or os.cpu_count() or 1


# -- helpers --------------------------------------------------------------------------------
def _guarded(kind, status, func, *args):
    """Run a stage on a chunk; if it raises, mark the chunk's good rows with the reason."""
    try:
        return func(*args)
    except Exception as exc:
        warnings.warn(f"{kind} stage failed on a chunk: {type(exc).__name__}: {exc}",
                      BHBFinderWarning)
        _mark_failed(status, f"{kind} failed: {type(exc).__name__}: {exc}")
        return None


def _run_on_rows(stage, prepared, rows):
    """``stage.run`` on the selected rows only; the others come back masked."""
    if rows is None or rows.all():
        return stage.run(prepared)
    n = len(prepared)
    if not rows.any():
        # run on one row to learn the columns, then mask everything
        columns = stage.run(prepared.take([0])) if n else Table()
        index = np.zeros(n, dtype=int)
    else:
        columns = stage.run(prepared.take(rows))
        index = np.cumsum(rows) - 1
        index[~rows] = 0
    out = Table(meta=columns.meta)
    for name in columns.colnames:
        col = columns[name]
        data = np.asarray(col)[index]
        mask = np.ma.getmaskarray(col)[index] if hasattr(col, "mask") else \
            np.zeros(data.shape, bool)
        mask = mask | ~rows.reshape((-1,) + (1,) * (data.ndim - 1))
        out[name] = MaskedColumn(data, mask=mask, unit=getattr(col, "unit", None),
                                 description=col.info.description)
    return out


def _mark_failed(status, reason):
    for i, s in enumerate(status):
        if s == STATUS_OK:
            status[i] = reason


def _merge_prepared_meta(table, prepared_meta, status):
    for name in prepared_meta.colnames:
        if name == "status":
            for i, s in enumerate(prepared_meta["status"]):
                if status[i] == STATUS_OK and str(s) != STATUS_OK:
                    status[i] = str(s)
        elif name not in table.colnames:
            table[name] = prepared_meta[name]


def _config_key(config):
    if config is None:
        return None
    to_dict = getattr(config, "to_dict", None)
    payload = repr(to_dict() if to_dict else config)
    return hashlib.sha1(payload.encode()).hexdigest()


def _new_bhb(table):
    def flag(name):
        col = table[name]
        return np.asarray(col.filled(False) if hasattr(col, "filled") else col, dtype=bool)

    known = table["known_catalog"]
    known = np.asarray(known.filled("") if hasattr(known, "filled") else known, dtype=str)
    new = (flag("is_bhb_candidate") & flag("balmer_confirmed") & flag("is_representative")
           & (known == ""))
    return MaskedColumn(new, name="is_new_bhb")


def _assemble(tables, items):
    if not tables:
        return _failed_chunk(items, [], "")[:0]
    table = vstack(tables, join_type="outer", metadata_conflicts="silent")
    order = np.argsort(np.asarray(table[_INDEX]), kind="stable")
    table = table[order]
    indices = np.asarray(table[_INDEX])
    if len(indices) != len(items) or np.any(indices != np.arange(len(items))):
        missing = sorted(set(range(len(items))) - set(indices.tolist()))
        raise RuntimeError(f"internal error: the run lost or duplicated inputs "
                           f"(missing {missing[:5]}...)")
    table.remove_column(_INDEX)
    return table


def _stage_label(choice):
    if choice is None:
        return "skipped"
    return choice if isinstance(choice, str) else type(choice).__name__


class _Progress:
    """tqdm when installed, else a quiet counter; disabled when ``enabled`` is False."""

    def __init__(self, total, initial=0, enabled=True):
        self.bar = None
        if enabled:
            try:
                from tqdm.auto import tqdm

                self.bar = tqdm(total=total, initial=initial, unit="spectra",
                                desc="bhbfinder", file=sys.stderr)
            except ImportError:
                self.bar = None

    def update(self, n):
        if self.bar is not None:
            self.bar.update(n)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.close()
