"""Where the chunks of a run are processed: this process, local worker processes, any
`concurrent.futures.Executor` or a Dask cluster; only arrays and tables cross process
boundaries.

Each worker builds the run's stages once (`_worker_pipeline`) and processes chunk after chunk
(`_process_chunk`: read, then the batch stages). A chunk whose local worker process died is
run again once (`WORKER_RETRIES`); a stage that cannot be built (`SETUP_ERRORS`) stops the run.
"""

import collections
import concurrent.futures
import os
import threading
import warnings
from concurrent.futures.process import BrokenProcessPool

import numpy as np

from .._procpool import check_pool_starts, make_pool
from ..batch import RawBatch, meta_table
from ..errors import (
    BHBFinderWarning,
    ConfigurationError,
    ModelFileError,
    PreprocessingMismatchError,
    StageNotFoundError,
)
from .sources import add_source_columns

__all__ = ["SETUP_ERRORS", "WORKER_RETRIES"]


_INDEX = "_input_index"
#: Errors of building a stage (bad name, model file or option) or of a model that does not fit
#: the data (the same for every chunk): they stop a run.
SETUP_ERRORS = (ConfigurationError, ModelFileError, StageNotFoundError,
                PreprocessingMismatchError)


# -- one chunk, wherever it runs ------------------------------------------------------------
def _process_chunk(pipeline, items, indices):
    """Read and process one chunk; runs in workers, so it takes and returns plain data."""
    _limit_threads_in_worker()
    paths = [items[i].name for i in indices if items[i].arrays is None]
    if len(paths) == len(indices):
        raw = pipeline.read(paths)   # one row per path, in order, failures included
    else:
        records = [items[i].arrays for i in indices]
        raw = RawBatch.from_records(records)
    # a source table's other columns join the meta before any stage runs
    add_source_columns(raw.meta, [items[i] for i in indices])
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
    """Yield ``(indices, table)`` per chunk as chunks finish; ``table`` is None for a chunk
    lost to worker processes that died (twice), which is left for ``resume``."""
    if not chunks:
        return
    kind, runner, owned = _resolve_executor(executor)
    if kind == "serial":
        for indices in chunks:
            yield indices, _run_guarded(pipeline, items, indices)
        return
    state = {"runner": runner}
    try:
        if kind == "dask":
            yield from _execute_dask(runner, pipeline, items, chunks)
        else:
            yield from _execute_futures(state, owned, pipeline, items, chunks)
    finally:
        if owned:
            if kind == "dask":
                state["runner"].close()
            else:
                state["runner"].shutdown(wait=False, cancel_futures=True)


def _run_guarded(pipeline, items, indices):
    try:
        return _process_chunk(pipeline, items, indices)
    except Exception as exc:  # a chunk that fails outright still yields one row per input
        return _failed_chunk(items, indices, f"chunk failed: {type(exc).__name__}: {exc}")


def _failed_chunk(items, indices, reason):
    metas = [{"file": items[i].name} for i in indices]
    table = meta_table(metas, [reason] * len(indices))
    add_source_columns(table, [items[i] for i in indices])   # kept, so nothing is lost
    table[_INDEX] = np.asarray(indices, dtype=np.int64)
    return table


def _submit(runner, pipeline, items, indices):
    sub_items = {i: items[i] for i in indices}
    return runner.submit(_run_guarded_subset, pipeline, sub_items, indices)


#: How many times a chunk runs again after its local worker process died.
WORKER_RETRIES = 1


def _execute_futures(state, owned, pipeline, items, chunks):
    """Chunks on a `concurrent.futures` executor; a dead worker's chunks run again once."""
    in_flight_max = max(2, 2 * _n_workers("futures", state["runner"]))
    queue = collections.deque(chunks)
    attempts = collections.Counter()
    pending = {}
    finished_any = False
    while queue or pending:
        broken = False
        while queue and len(pending) < in_flight_max and not broken:
            indices = queue.popleft()
            try:
                pending[_submit(state["runner"], pipeline, items, indices)] = indices
            except BrokenProcessPool:
                queue.appendleft(indices)
                broken = True
        if pending and not broken:
            done, _ = concurrent.futures.wait(list(pending),
                                              return_when=concurrent.futures.FIRST_COMPLETED)
            for future in done:
                indices = pending.pop(future)
                try:
                    table = future.result()
                except SETUP_ERRORS:
                    raise  # a stage that cannot be built fails every chunk: stop
                except BrokenProcessPool:
                    broken = True
                    queue.appendleft(indices)
                    attempts[indices[0]] += 1
                    continue
                except Exception as exc:  # the chunk could not be shipped or returned
                    table = _failed_chunk(items, indices,
                                          f"worker failed: {type(exc).__name__}: {exc}")
                finished_any = True
                yield indices, table
        if not broken:
            continue
        # the pool is broken: every chunk still in it is lost with it
        for indices in pending.values():
            queue.appendleft(indices)
            attempts[indices[0]] += 1
        pending.clear()
        if not finished_any:
            check_pool_starts()  # workers that die while starting: a script without guard
        warnings.warn("a local worker process died; its chunks are run again once",
                      BHBFinderWarning)
        for indices in [q for q in queue if attempts[q[0]] > WORKER_RETRIES]:
            queue.remove(indices)
            yield indices, None
        if not owned:  # someone else's executor cannot be restarted: leave the rest
            while queue:
                yield queue.popleft(), None
            return
        state["runner"].shutdown(wait=False, cancel_futures=True)
        state["runner"] = make_pool(_n_workers("futures", state["runner"]))


def _execute_dask(runner, pipeline, items, chunks):
    from distributed import as_completed

    in_flight_max = max(2, 2 * _n_workers("dask", runner))
    queue = collections.deque(chunks)
    pending = {}
    while queue and len(pending) < in_flight_max:
        indices = queue.popleft()
        pending[_submit(runner, pipeline, items, indices)] = indices
    completed = as_completed(list(pending))
    for future in completed:
        indices = pending.pop(future)
        try:
            table = future.result()
        except SETUP_ERRORS:
            raise
        except Exception as exc:
            if type(exc).__name__ == "KilledWorker":  # Dask gave up rescheduling it
                yield indices, None
                table = None
            else:
                table = _failed_chunk(items, indices,
                                      f"worker failed: {type(exc).__name__}: {exc}")
        if table is not None:
            yield indices, table
        if queue:
            indices = queue.popleft()
            future = _submit(runner, pipeline, items, indices)
            pending[future] = indices
            completed.add(future)


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
        workers = os.cpu_count() if executor == "processes" else int(executor)
        if workers < 1:
            raise ConfigurationError(f"executor: the number of workers must be >= 1, "
                                     f"got {executor!r}")
        return "futures", make_pool(workers), True
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
