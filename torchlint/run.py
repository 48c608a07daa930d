"""A run: what `check`, `fix` and the language server do with settings and files.

From the command line's options to the settings (`settings_from_options`); from the
settings to the rules of each file (`Run`); from the files to their projects (one
workspace per project root); and over each project, the check pass or the fix passes.

Per project root: read and hash its files; if the result of every checked file is cached
for this exact state of the project (every file's content, the settings, the version),
use those; otherwise summarize what is connected to the checked files (in the worker
pool, see runner, or from the cache), analyse the project once, and lint each checked
file. Fixing lints, applies the non-overlapping fixes, analyses the project again with
the fixed texts, and repeats until nothing changes.
"""

from __future__ import annotations

import difflib
import fnmatch
from collections import Counter
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path

from torchlint import __version__
from torchlint.discovery import DEFAULT_EXCLUDES, FileFilter
from torchlint.engine import Diagnostic, build_rules, io_error, lint_module
from torchlint.project.cache import digest
from torchlint.project.workspace import Workspace, build_project, group_by_root, open_workspace
from torchlint.rules.base import Rule
from torchlint.runner import summarize_in_parallel, without_cycle_collection
from torchlint.settings import Settings, find_config, load_settings, resolve_selectors
from torchlint.sources import LintError, SourceFile


# -- settings and rules ------------------------------------------------------------------


def split_option(values: tuple[str, ...]) -> list[str]:
    """`--select TL1,TL2 --select TL3` -> ["TL1", "TL2", "TL3"]."""
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def settings_from_options(config_path, isolated, select, extend_select, ignore, exclude, extend_exclude,
                          respect_gitignore) -> Settings:
    """The settings of a run: the configuration found (or named, or none when isolated),
    with the command line's options over it. Raises ConfigError."""
    if isolated:
        settings = Settings()
    else:
        path = config_path or find_config(Path.cwd())
        settings = load_settings(path)
    if select:
        settings.select = split_option(select)
        resolve_selectors(settings.select, "--select")
    if extend_select:
        settings.extend_select = settings.extend_select + split_option(extend_select)
        resolve_selectors(settings.extend_select, "--extend-select")
    if ignore:
        settings.ignore = settings.ignore + split_option(ignore)
        resolve_selectors(settings.ignore, "--ignore")
    if exclude:
        settings.exclude = split_option(exclude)
    if extend_exclude:
        settings.extend_exclude = settings.extend_exclude + split_option(extend_exclude)
    if respect_gitignore is not None:
        settings.respect_gitignore = respect_gitignore
    return settings


@dataclass
class Run:
    """What one invocation checks, and with which rules (per-file-ignores applied per file)."""

    settings: Settings
    codes: set[str]
    # ("warning" | "info", message) said while checking: unreadable pins, the torch target.
    notes: list = field(default_factory=list)
    # progress(done, total, file) while files are checked, or None.
    progress: object = None

    @cached_property
    def file_filter(self) -> FileFilter:
        settings = self.settings
        patterns = list(DEFAULT_EXCLUDES if settings.exclude is None else settings.exclude) + settings.extend_exclude
        return FileFilter(settings.root, patterns, settings.respect_gitignore)

    @cached_property
    def _ignores(self) -> list[tuple[str, set[str]]]:
        return [(pattern, resolve_selectors(codes)) for pattern, codes in self.settings.per_file_ignores.items()]

    @cached_property
    def _rules(self) -> list[Rule]:
        return build_rules(self.codes, self.settings.rule_options)

    def rules_for(self, filename: str) -> list[Rule]:
        if not self._ignores:
            return self._rules
        path = Path(filename).absolute()
        try:
            relative = path.relative_to(self.settings.root).as_posix()
        except ValueError:
            relative = path.as_posix()
        ignored: set[str] = set()
        for pattern, codes in self._ignores:
            if fnmatch.fnmatchcase(relative, pattern) or fnmatch.fnmatchcase(path.name, pattern):
                ignored |= codes
        return [rule for rule in self._rules if rule.code not in ignored]


# -- projects ----------------------------------------------------------------------------


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
            results[relpath] = lint_target(workspace, semantics, relpath, display, run.rules_for(display), build_edits)
            if cache is not None and not any(d.kind == "internal-error" for d in results[relpath]):
                cache.put("result", keys[relpath], [asdict(d) for d in results[relpath]])
    return [d for relpath in workspace.targets for d in results[relpath]]


def lint_target(workspace: Workspace, semantics, relpath: str, display: str, rules, build_edits: bool = True) -> list[Diagnostic]:
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
    from torchlint.fixes.apply import MAX_PASSES, applicable, apply_fixes, compile_problem
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
