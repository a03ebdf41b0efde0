"""Local worker processes for `~bhbfinder.find_bhb`: started safely, dying with their parent.

`make_pool` starts a `concurrent.futures.ProcessPoolExecutor` with the ``spawn`` start method
(safe with torch and threads) whose workers

* limit their compute libraries to one thread each (see ``pipeline._limit_threads_in_worker``),
* watch their parent: when it dies, however it dies (SIGTERM, SIGKILL, a crash), each worker
  exits at once instead of finishing its chunk (minutes) for nobody.

A script that calls ``find_bhb(executor=2)`` at module level, without an
``if __name__ == "__main__":`` guard, makes every spawned worker run the script again;
multiprocessing then kills the worker while it starts. `check_pool_starts` tells that case
apart from a worker killed mid-run, so the run stops with an error that says what to change.
"""

import concurrent.futures
import multiprocessing
import os
import sys
import threading
from multiprocessing.connection import wait

from .errors import ConfigurationError

__all__ = ["make_pool", "check_pool_starts", "in_spawn_bootstrap", "MAIN_GUARD_HINT"]

MAIN_GUARD_HINT = (
    "local worker processes are started with the 'spawn' method, which imports the main "
    "script again in each worker; put the code that calls find_bhb (or Pipeline.run) under "
    "`if __name__ == \"__main__\":` in the script, or run serially (executor=None)")


def make_pool(workers):
    """A process pool of ``workers`` spawned processes that die with this one."""
    context = multiprocessing.get_context("spawn")
    return concurrent.futures.ProcessPoolExecutor(workers, mp_context=context,
                                                  initializer=_worker_init)


def _worker_init():
    os.environ["BHBFINDER_WORKER"] = "1"
    parent = multiprocessing.parent_process()
    if parent is None:  # pragma: no cover - always set for spawned workers
        return

    def exit_with_parent():
        wait([parent.sentinel])  # readable once the parent has gone
        os._exit(1)

    threading.Thread(target=exit_with_parent, name="bhbfinder-parent-watch", daemon=True).start()


def _ready():
    return os.getpid()


def check_pool_starts():
    """Raise `~bhbfinder.errors.ConfigurationError` when a fresh worker cannot even start.

    Called after a pool broke before any chunk finished: if a new worker dies while starting
    too, the cause is the main script (see `MAIN_GUARD_HINT`), not a worker killed mid-run.
    """
    pool = make_pool(1)
    try:
        pool.submit(_ready).result(timeout=600)
    except concurrent.futures.process.BrokenProcessPool:
        raise ConfigurationError(f"executor: the worker processes die while starting; "
                                 f"{MAIN_GUARD_HINT}") from None
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def in_spawn_bootstrap():
    """True while a spawned worker re-imports the main script (see `MAIN_GUARD_HINT`)."""
    # multiprocessing sets this while a spawned child imports the parent's main module
    if getattr(multiprocessing.current_process(), "_inheriting", False):
        return True
    main = sys.modules.get("__main__")
    return getattr(main, "__name__", "") == "__mp_main__" and \
        os.environ.get("BHBFINDER_WORKER") != "1"
