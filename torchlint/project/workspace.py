"""From checked paths to analysed projects.

For each project root (see layout.find_root): walk its files (with the run's excludes and
`.gitignore`), read and hash them, and summarize the ones connected by imports to a
checked file (both ways: what a checked file uses, and what uses it), in the worker pool
or from the cache. A checked file outside the walk (named explicitly, or from stdin) is
part of its project all the same.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from torchlint.project.cache import Cache, digest
from torchlint.project.index import Project
from torchlint.project.layout import ModuleMap, find_root
from torchlint.project.summary import ModuleSummary, from_json, summarize, to_json
from torchlint.sources import LintError, SourceFile, read_error, read_regular

# A project walk larger than this is not read whole: only the checked files' own
# directories are (a root found far above the code, such as a home directory under git).
MAX_PROJECT_FILES = 20_000

_IMPORT = re.compile(
    r"^[ \t]*(?:from[ \t]+(\.*[\w.]*)[ \t]+import[ \t]+(\([^)]*\)|[^\n#;]*)|import[ \t]+([^\n#;]*))",
    re.MULTILINE,
)


@dataclass
class Workspace:
    root: Path
    files: dict[str, SourceFile]  # relpath -> file, every file of the project read
    targets: list[str]  # relpaths to check, in order
    display: dict[str, str]  # relpath -> the name to print
    errors: dict[str, str] = field(default_factory=dict)  # relpath -> why it cannot be read
    cache: Cache | None = None
    project: Project | None = None

    def text(self, relpath: str) -> str:
        return self.files[relpath].decode()

    def state(self) -> str:
        """What every result depends on: the content of every file of the project."""
        return digest(*(f"{r}:{f.hash}" for r, f in sorted(self.files.items())))


def group_by_root(targets: list[Path], arguments: list[Path] | None = None) -> dict[Path, list[Path]]:
    """Files grouped by project root. The root comes from the path named on the command
    line that a file was found under: `check repo/` makes `repo/` the root when nothing
    above it marks one, for every file found inside it."""
    roots: dict[str, Path] = {}
    for argument in arguments or []:
        roots[os.path.abspath(argument)] = find_root(argument)
    groups: dict[Path, list[Path]] = {}
    for target in targets:
        absolute = os.path.abspath(target)
        root = None
        best = -1
        for named, named_root in roots.items():
            if (absolute == named or absolute.startswith(named.rstrip(os.sep) + os.sep)) and len(named) > best:
                root, best = named_root, len(named)
        groups.setdefault(root or find_root(target), []).append(target)
    return groups


def open_workspace(root: Path, targets: list[Path], walk, use_cache: bool, stdin: tuple[str, bytes] | None = None) -> Workspace:
    """`walk(root)` lists the project's files (the run's discovery); `stdin` is (path
    as named, data) for `-` with `--stdin-filename`."""
    workspace = Workspace(root, {}, [], {}, cache=Cache(root) if use_cache else None)
    project_files = walk(root)
    if len(project_files) > MAX_PROJECT_FILES:
        near = {(t if t.is_dir() else t.parent) for t in targets}
        project_files = [p for p in project_files if any(d in p.parents for d in near)]
    for path in project_files:
        relpath = _relpath(path, root)
        try:
            data = read_regular(path)
        except OSError:
            continue  # a checked file is read again below, and its error reported
        workspace.files[relpath] = SourceFile(path, relpath, data)
    for target in targets:
        relpath = _relpath(target, root)
        workspace.display[relpath] = _display(target)
        if stdin is not None:
            data = stdin[1]
            workspace.files[relpath] = SourceFile(None, relpath, data)
        elif relpath not in workspace.files:
            try:
                data = read_regular(target)
            except (OSError, LintError) as error:
                workspace.errors[relpath] = read_error(target, error)
                workspace.targets.append(relpath)
                continue
            workspace.files[relpath] = SourceFile(target, relpath, data)
        workspace.targets.append(relpath)
    return workspace


def build_project(workspace: Workspace, summarize_many) -> Project:
    """Summaries for the files connected to the targets: from the cache, read when first
    needed, or computed by `summarize_many(files, cache)` -> [(relpath, summary)] (which
    also stores them in the cache)."""
    map_ = ModuleMap(workspace.files)
    needed = connected(workspace, map_)
    cache = workspace.cache
    summaries: dict[str, ModuleSummary] = {}
    cached: dict[str, SourceFile] = {}
    missing = []
    for relpath in needed:
        source = workspace.files[relpath]
        if cache is not None and cache.has("summary", source.hash):
            cached[relpath] = source
        else:
            missing.append(source)
    for relpath, summary in summarize_many(missing, cache):
        summaries[relpath] = summary

    def load(relpath: str) -> ModuleSummary | None:
        if relpath in summaries:
            return summaries[relpath]
        source = cached.get(relpath)
        if source is None:
            return None
        data = cache.get("summary", source.hash)
        try:
            return from_json(data)
        except ValueError:  # a damaged or foreign entry: summarize again, and mend it
            summary = summarize(_decode_or_empty(source))
            cache.put("summary", source.hash, to_json(summary))
            return summary

    project = Project(workspace.root, list(workspace.files), load)
    project.map = map_
    workspace.project = project
    return project


def summarize_files(files: list[SourceFile], cache: Cache | None = None) -> list[tuple[str, ModuleSummary]]:
    """(relpath, summary) for each file, stored in the cache when there is one;
    undecodable files get none."""
    out = []
    for source in files:
        try:
            text = source.decode()
        except LintError:
            continue
        summary = summarize(text)
        if cache is not None:
            cache.put("summary", source.hash, to_json(summary))
        out.append((source.relpath, summary))
    return out


def connected(workspace: Workspace, map_: ModuleMap) -> list[str]:
    """The targets, and every file linked to them by imports, in either direction: what a
    checked file uses, and what uses it (its callers' arguments and loops matter). Rounds
    of a breadth-first search; the files that may import a new one are found by a search
    of their bytes for its name, and only those are parsed for imports."""
    files = workspace.files
    imports: dict[str, set[str]] = {}

    def imports_of(relpath: str) -> set[str]:
        if relpath not in imports:
            imports[relpath] = _imported_files(relpath, files[relpath].scan_data(), map_) - {relpath}
        return imports[relpath]

    component = {t for t in workspace.targets if t in files}
    if len(component) * 2 > len(files):
        # Most of the project is checked: reading every file's imports is as cheap.
        frontier = set(files)
        for relpath in frontier:
            imports_of(relpath)
        reverse: dict[str, set[str]] = {}
        for relpath, targets in imports.items():
            for target in targets:
                reverse.setdefault(target, set()).add(relpath)
        pending = list(component)
        while pending:
            current = pending.pop()
            for other in imports[current] | reverse.get(current, set()):
                if other not in component:
                    component.add(other)
                    pending.append(other)
        return sorted(component)
    frontier = set(component)
    while frontier:
        new: set[str] = set()
        for relpath in frontier:
            new |= imports_of(relpath) - component
        names = sorted({_importable_name(r).encode() for r in frontier} - {b""})
        if names:
            pattern = re.compile(rb"\b(?:" + b"|".join(re.escape(n) for n in names) + rb")\b")
            for relpath, source in files.items():
                if relpath in component or relpath in new:
                    continue
                data = source.scan_data() if source.is_notebook else source.data
                # A substring search first: far cheaper than the regex, and most files fail it.
                if not any(name in data for name in names) or not pattern.search(data):
                    continue
                if imports_of(relpath) & frontier:
                    new.add(relpath)
        component |= new
        frontier = new
    return sorted(component)


def _importable_name(relpath: str) -> str:
    """The last part of the module name a file is imported by (`pkg/data.py` -> `data`,
    `pkg/__init__.py` -> `pkg`)."""
    parts = relpath.rsplit(".", 1)[0].split("/")
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return parts[-1] if parts else ""


def _imported_files(relpath: str, data: bytes, map_: ModuleMap) -> set[str]:
    """Files an `import` statement of this file may name (a cheap textual scan: what it
    finds in strings only costs a summary more)."""
    if b"import" not in data:
        return set()
    text = data.decode("utf-8", errors="replace")
    found: set[str] = set()
    for match in _IMPORT.finditer(text):
        source, names, plain = match.groups()
        if plain is not None:
            for part in plain.split(","):
                module = part.strip().split(" as ")[0].strip()
                if module:
                    _add_module(found, map_, relpath, module, 0)
                    pieces = module.split(".")
                    for end in range(1, len(pieces)):
                        _add_module(found, map_, relpath, ".".join(pieces[:end]), 0)
            continue
        level = len(source) - len(source.lstrip("."))
        module = source.lstrip(".")
        _add_module(found, map_, relpath, module, level)
        for name in names.strip("() \t\r\n").replace("\n", ",").split(","):
            name = name.strip().split(" as ")[0].strip()
            if name and name != "*" and name.isidentifier():
                _add_module(found, map_, relpath, f"{module}.{name}" if module else name, level)
    return found


def _add_module(found: set, map_: ModuleMap, importer: str, module: str, level: int) -> None:
    target = map_.resolve_module(importer, module, level)
    if target is not None:
        found.add(target)


def _decode_or_empty(source: SourceFile) -> str:
    try:
        return source.decode()
    except LintError:
        return ""


def _relpath(path: Path, root: Path) -> str:
    absolute = Path(os.path.abspath(path))
    try:
        return absolute.relative_to(root).as_posix()
    except ValueError:
        return absolute.as_posix().lstrip("/")


def _display(path: Path) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:
        return str(path)


def dumps(data) -> str:
    return json.dumps(data, separators=(",", ":"))
