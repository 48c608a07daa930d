"""The worker pool that summarizes a project's files, the costly part of a run (see run).

This process takes a share itself, worker processes the rest, the largest files first.
A worker that dies (killed, out of memory, a parser crash) costs its batch a retry in a
new pool, then a process per file; never the run.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import sys
from contextlib import contextmanager
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from torchlint.engine import CRASHED
from torchlint.project.workspace import summarize_files
from torchlint.sources import SourceFile


@contextmanager
def without_cycle_collection():
    """Summaries and the project's facts are millions of small acyclic lists and objects
    that live until the run ends: each time enough pile up, the cyclic collector rescans
    all of them, which costs more than building them (summarizing the benchmark corpus:
    2.4 s with it, 0.9 s without). Reference counting still frees everything here."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


POOL_MIN_BYTES = 2_000_000  # below this much source, starting the pool costs more than it saves


def summarize_in_parallel(files: list[SourceFile], jobs: int | None, cache=None) -> list:
    """Summaries of `files`, computed by `jobs` processes: this one takes a share itself
    (its results need no transfer), the workers the rest, the largest files first."""
    jobs = jobs or os.cpu_count() or 1
    total = sum(len(f.data) for f in files)
    # The pool pays only with two workers or more: with one, receiving its summaries costs
    # about what it saves (2 cores: 346 files, 5.6 MB, 2.56 s serial against 2.69 s with
    # -j 2; 348 files, 22 MB, 6.1 s against 6.7 s), and small trees never repay the start.
    if jobs <= 2 or len(files) < 8 or total < POOL_MIN_BYTES:
        return summarize_files(files, cache)
    ordered = sorted(files, key=lambda f: -len(f.data))
    # Receiving a summary costs this process about a third of computing it: keep a share
    # that leaves it as busy as each worker.
    mine_share = 1 / (jobs + 0.5 * (jobs - 1))
    mine, theirs = [], []
    mine_load = theirs_load = 0
    for source in ordered:
        if mine_load / mine_share <= theirs_load / (1 - mine_share):
            mine.append(source)
            mine_load += len(source.data)
        else:
            theirs.append(source)
            theirs_load += len(source.data)
    batches = [theirs[i : i + 4] for i in range(0, len(theirs), 4)]
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods and sys.platform == "linux" else None)
    pool = _pool(jobs - 1, context)
    lost: list[list[SourceFile]] = []
    try:
        futures = [(batch, pool.submit(summarize_files, batch, cache)) for batch in batches]
        results = summarize_files(mine, cache)
        lost = _collect(futures, results)
    finally:
        _close(pool, broken=bool(lost))
    if lost:
        # A worker died (killed, out of memory, a crash): its batches and the ones still
        # queued go to a new pool, and the files of a batch that breaks it again each to
        # a process of their own.
        pool = _pool(jobs - 1, context)
        try:
            lost = _collect([(batch, pool.submit(summarize_files, batch, cache)) for batch in lost], results)
        finally:
            _close(pool, broken=bool(lost))
        results.extend(_summarize_isolated([source for batch in lost for source in batch], cache, context))
    return results


def _collect(futures: list, results: list) -> list:
    """Add each batch's summaries to `results`; the batches whose worker died."""
    lost = []
    for batch, future in futures:
        try:
            results.extend(future.result())
        except BrokenProcessPool:
            lost.append(batch)
    return lost


def _pool(workers: int, context) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_die_with_parent,
                               initargs=(os.getpid(),))


def _close(pool: ProcessPoolExecutor, broken: bool) -> None:
    """Shut the pool down. A broken one's workers are killed first: on Python 3.11 the
    shutdown can wait forever on a feeder thread blocked writing to a dead worker."""
    if broken:
        for process in list((getattr(pool, "_processes", None) or {}).values()):
            process.kill()
        pool.shutdown(wait=False, cancel_futures=True)
    else:
        pool.shutdown(wait=True)


def _summarize_isolated(files: list[SourceFile], cache, context) -> list:
    """The files of batches whose worker died, each alone in a new process: one file that
    crashes the parser costs its own summary, never the run. A file that crashes again
    gets a summary that says so (reported as an error on that file)."""
    from torchlint.project.summary import ModuleSummary

    results = []
    for source in files:
        pool = _pool(1, context)
        broken = False
        try:
            results.extend(pool.submit(summarize_files, [source], cache).result())
        except BrokenProcessPool:
            broken = True
            results.append((source.relpath, ModuleSummary({}, {}, syntax_error=[CRASHED, 1, 1])))
        finally:
            _close(pool, broken)
    return results


def _die_with_parent(parent: int) -> None:
    """A worker must not outlive the run (killed with SIGKILL, it cannot stop its pool):
    on Linux the kernel kills the worker when the parent dies; elsewhere a thread checks."""
    import signal
    import threading
    import time

    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        PR_SET_PDEATHSIG = 1
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    if os.getppid() != parent:
        os._exit(1)  # the parent died before this worker started
    threading.Thread(target=watch, daemon=True).start()
