"""Running `check` and `fix` over projects: workspaces, the worker pool, the cache.

Per project root: read and hash its files; if the result of every checked file is cached
for this exact state of the project (every file's content, the settings, the version),
print those; otherwise summarize what is connected to the checked files (in the pool,
or from the cache), analyse the project once, and lint each checked file.
"""

from __future__ import annotations

import difflib
import gc
import multiprocessing
import os
import sys
from collections import Counter
from contextlib import contextmanager
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass
from pathlib import Path

from torchlint import __version__
from torchlint.engine import CRASHED, Diagnostic, io_error, lint_module
from torchlint.project.cache import digest
from torchlint.project.workspace import Workspace, build_project, group_by_root, open_workspace, summarize_files  # noqa: F401
from torchlint.sources import LintError, SourceFile


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


def walk_project(file_filter):
    from torchlint.discovery import walk

    return lambda root: walk(root, file_filter)


def workspaces(run, files: list[Path], use_cache: bool, stdin: tuple[str, bytes] | None = None, arguments=None) -> list[Workspace]:
    if stdin is not None:
        target = Path(stdin[0])
        return [open_workspace(_root_of(target), [target], walk_project(run.file_filter), use_cache, stdin)]
    return [
        open_workspace(root, targets, walk_project(run.file_filter), use_cache)
        for root, targets in group_by_root(files, arguments).items()
    ]


def _root_of(target: Path) -> Path:
    from torchlint.project.layout import find_root

    return find_root(target if target.parent.exists() else Path.cwd())


def pinned_torch(workspace: Workspace, run):
    """The project's torch pins (read once per root); their warnings and, with --verbose,
    the target go to the run's notes."""
    from torchlint.project.torch_target import resolve

    pinned = resolve(workspace.root)
    notes = getattr(run, "notes", None)
    if notes is not None:
        for warning in pinned.warnings:
            notes.append(("warning", warning))
        setting = run.settings.rule_options.target_torch
        notes.append(("info", f"{workspace.root}: targets " + (f"torch {setting} (target-torch setting)" if setting else pinned.describe())))
    return pinned


def _settings_key(run, display: str) -> str:
    rules = run.rules_for(display)
    options = repr(sorted(vars(run.settings.rule_options).items())) if hasattr(run.settings.rule_options, "__dict__") else repr(run.settings.rule_options)
    return digest(__version__, display, ",".join(sorted(r.code for r in rules)), options)


# -- check -------------------------------------------------------------------------------


def check(run, files: list[Path], jobs: int | None, use_cache: bool, stdin=None, arguments=None,
          build_edits: bool = True) -> list[Diagnostic]:
    """Diagnostics for the files; `build_edits=False` when the report shows no edits
    (concise output): fixes then carry their applicability only, and libcst is not needed."""
    diagnostics: list[Diagnostic] = []
    for workspace in workspaces(run, files, use_cache, stdin, arguments):
        with without_cycle_collection():
            diagnostics.extend(check_workspace(workspace, run, jobs, build_edits))
    return diagnostics


def check_workspace(workspace: Workspace, run, jobs: int | None, build_edits: bool = True) -> list[Diagnostic]:
    results: dict[str, list[Diagnostic]] = {}
    keys: dict[str, str] = {}
    for relpath in workspace.targets:
        if relpath in workspace.errors:
            results[relpath] = [io_error(workspace.display[relpath], workspace.errors[relpath])]
    pinned = pinned_torch(workspace, run)
    cache = workspace.cache
    if cache is not None:
        state = digest(workspace.state(), repr(pinned))
        for relpath in workspace.targets:
            if relpath in results:
                continue
            keys[relpath] = digest(state, _settings_key(run, workspace.display[relpath]), relpath, str(build_edits))
            cached = cache.get("result", keys[relpath])
            if isinstance(cached, list):
                try:
                    results[relpath] = [Diagnostic(**d) for d in cached]
                except TypeError:
                    pass
    pending = [r for r in workspace.targets if r not in results]
    if pending:
        from torchlint.semantic.context import Semantics

        semantics = Semantics(build_project(workspace, lambda missing, cache: summarize_in_parallel(missing, jobs, cache)),
                              pinned)
        progress = getattr(run, "progress", None)
        for done, relpath in enumerate(pending):
            display = workspace.display[relpath]
            if progress is not None:
                progress(done, len(pending), display)
            results[relpath] = _lint(workspace, semantics, relpath, display, run.rules_for(display), build_edits)
            if cache is not None and not any(d.kind == "internal-error" for d in results[relpath]):
                cache.put("result", keys[relpath], [asdict(d) for d in results[relpath]])
    return [d for relpath in workspace.targets for d in results[relpath]]


def _lint(workspace: Workspace, semantics, relpath: str, display: str, rules, build_edits: bool = True) -> list[Diagnostic]:
    try:
        text = workspace.text(relpath)
    except LintError as error:
        return [io_error(display, str(error))]
    diagnostics = lint_module(semantics, relpath, display, rules, lambda: text, build_edits)
    source = workspace.files[relpath]
    if source.is_notebook:
        return source.notebook().to_cells(text, diagnostics)
    return diagnostics


# -- fix ---------------------------------------------------------------------------------


@dataclass
class FileOutcome:
    filename: str
    fixed: Counter
    remaining: list[Diagnostic]
    error: str | None
    changed: bool
    diff: str = ""
    source: SourceFile | None = None
    original: str = ""  # the file's text as read (a notebook: its JSON)
    text: str = ""  # the file's text as fixed


def fix(run, files: list[Path], jobs: int | None, use_cache: bool, unsafe: bool, stdin=None, arguments=None) -> list[FileOutcome]:
    outcomes: list[FileOutcome] = []
    for workspace in workspaces(run, files, use_cache, stdin, arguments):
        with without_cycle_collection():
            outcomes.extend(fix_workspace(workspace, run, jobs, unsafe))
    return outcomes


def fix_workspace(workspace: Workspace, run, jobs: int | None, unsafe: bool) -> list[FileOutcome]:
    """Lint, apply the non-overlapping applicable fixes of every checked file, analyse the
    project again with the fixed texts, and repeat until nothing changes. A file whose
    fixes would not compile is left as it was, and the failure reported."""
    from torchlint.fixer import MAX_PASSES, applicable, apply_fixes, compile_problem
    from torchlint.semantic.context import Semantics

    outcomes: dict[str, FileOutcome] = {}
    texts: dict[str, str] = {}
    for relpath in workspace.targets:
        display = workspace.display[relpath]
        if relpath in workspace.errors:
            outcomes[relpath] = FileOutcome(display, Counter(), [io_error(display, workspace.errors[relpath])], None, False)
            continue
        try:
            texts[relpath] = workspace.text(relpath)
        except LintError as error:
            outcomes[relpath] = FileOutcome(display, Counter(), [io_error(display, str(error))], None, False)
            continue
        outcomes[relpath] = FileOutcome(display, Counter(), [], None, False, source=workspace.files[relpath],
                                        original=texts[relpath], text=texts[relpath])
    active = [r for r in workspace.targets if r in texts]
    # A notebook is fixed as its module, and written back as JSON at the end.
    notebooks = {r: workspace.files[r].notebook() for r in active if workspace.files[r].is_notebook}
    summarize_many = lambda missing, cache: summarize_in_parallel(missing, jobs, cache)  # noqa: E731
    pinned = pinned_torch(workspace, run)
    for _ in range(MAX_PASSES + 1):
        semantics = Semantics(build_project(workspace, summarize_many), pinned)
        changed = False
        for relpath in active:
            outcome = outcomes[relpath]
            display = outcome.filename
            diagnostics = lint_module(semantics, relpath, display, run.rules_for(display), lambda r=relpath: texts[r])
            outcome.remaining = diagnostics
            if outcome.error is not None:
                continue
            candidates = [d for d in diagnostics if applicable(d, unsafe)]
            notebook = notebooks.get(relpath)
            if notebook is not None:
                layout = notebook.layout(texts[relpath])
                candidates = [d for d in candidates if notebook.editable(layout, d)]
            if not candidates:
                continue
            updated, used, _ = apply_fixes(texts[relpath], candidates, with_applicability=True)
            if updated == texts[relpath]:
                continue
            problem = compile_problem(updated, display, outcome.original)
            if problem is not None:
                codes = ", ".join(sorted(set(used)))
                outcome.error = f"fixes by {codes} would produce code that does not compile ({problem}); file left unchanged"
                texts[relpath] = outcome.original
                outcome.fixed = Counter()
                _replace_text(workspace, relpath, outcome.original)
                changed = True
                continue
            texts[relpath] = updated
            outcome.fixed.update(used)
            _replace_text(workspace, relpath, updated)
            changed = True
        if not changed:
            break
    for relpath in active:
        outcome = outcomes[relpath]
        outcome.text = texts[relpath]
        if relpath in notebooks:
            _finish_notebook(outcome, notebooks[relpath])
            continue
        outcome.changed = outcome.error is None and outcome.text != outcome.original
        if outcome.changed:
            outcome.diff = "".join(
                difflib.unified_diff(
                    outcome.original.splitlines(keepends=True), outcome.text.splitlines(keepends=True),
                    fromfile=f"a/{outcome.filename}", tofile=f"b/{outcome.filename}",
                )
            )
    return [outcomes[r] for r in workspace.targets]


def _finish_notebook(outcome: FileOutcome, notebook) -> None:
    """From the fixed module back to the notebook: its JSON, and a diff per changed cell."""
    from torchlint.notebook import NotebookError

    module = outcome.text
    outcome.remaining = notebook.to_cells(module, outcome.remaining)
    outcome.original = notebook.raw
    try:
        changed = notebook.changed_cells(module) if outcome.error is None else []
        outcome.text = notebook.render(changed)
    except NotebookError as error:
        outcome.error = f"{error}; notebook left unchanged"
        outcome.text, changed = notebook.raw, []
        outcome.fixed = Counter()
    outcome.changed = outcome.error is None and outcome.text != outcome.original
    outcome.diff = "".join(
        "".join(difflib.unified_diff(
            _with_newline(cell.source).splitlines(keepends=True), _with_newline(new).splitlines(keepends=True),
            fromfile=f"{outcome.filename}:cell {cell.number}", tofile=f"{outcome.filename}:cell {cell.number}",
        ))
        for cell, new in changed
    )


def _with_newline(text: str) -> str:
    return text if not text or text.endswith("\n") else text + "\n"


def _replace_text(workspace: Workspace, relpath: str, text: str) -> None:
    old = workspace.files[relpath]
    workspace.files[relpath] = SourceFile(old.path, relpath, text.encode("utf-8", "surrogatepass"), text)
