"""Which files to check: walk directories like ruff does.

Honours `.gitignore` files (nested ones too, and those of parent directories up to the
repository root), the default excludes, `exclude`/`extend-exclude`, and `--force-exclude`
for files named explicitly.
"""

from __future__ import annotations

import fnmatch
import os
import re
from functools import lru_cache
from pathlib import Path

DEFAULT_EXCLUDES = (
    ".bzr .direnv .eggs .git .git-rewrite .hg .ipynb_checkpoints .mypy_cache .nox .pants.d "
    ".pyenv .pytest_cache .pytype .ruff_cache .svn .tox .venv .vscode __pypackages__ _build "
    "buck-out build dist node_modules site-packages venv"
).split()
PYTHON_SUFFIXES = (".py", ".pyi", ".ipynb")  # notebooks too, as ruff walks them


@lru_cache(maxsize=4096)
def _load_gitignore(directory: str):
    """The directory's `.gitignore` as a pathspec GitIgnoreSpec (git's own matching rules:
    anchoring, `**`, negation, directory-only patterns), or None."""
    import pathspec

    path = os.path.join(directory, ".gitignore")
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            lines = handle.read().splitlines()
    except OSError:
        return None
    try:
        return pathspec.GitIgnoreSpec.from_lines(lines)
    except (ValueError, TypeError):  # a pattern git would also reject: ignore the file
        return None


def _git_root(start: Path) -> Path | None:
    for directory in [start, *start.parents]:
        if (directory / ".git").exists():
            return directory
    return None


class FileFilter:
    """Decides whether a path is excluded (patterns or .gitignore)."""

    def __init__(self, root: Path, exclude: list[str], respect_gitignore: bool) -> None:
        self.root = root
        self.patterns = exclude
        self.respect_gitignore = respect_gitignore
        # Names matched exactly (the defaults), name globs, and path globs, compiled once:
        # a walk asks about every file and directory.
        cleaned = [p.rstrip("/") for p in exclude]
        self._names = {p for p in cleaned if "/" not in p and not any(c in p for c in "*?[")}
        name_globs = [p for p in cleaned if "/" not in p and p not in self._names]
        path_globs = [p.removeprefix("./") for p in cleaned if "/" in p]
        self._name_regex = re.compile("|".join(fnmatch.translate(p) for p in name_globs)) if name_globs else None
        self._path_regex = re.compile("|".join(fnmatch.translate(p) for p in path_globs)) if path_globs else None

    def excluded_by_pattern(self, path: Path) -> bool:
        """A pattern without `/` matches a file or directory name; with `/`, the path
        relative to the configuration's root."""
        name = path.name
        if name in self._names or (self._name_regex is not None and self._name_regex.match(name)):
            return True
        if self._path_regex is None:
            return False
        try:
            relative = path.absolute().relative_to(self.root).as_posix()
        except ValueError:
            return False
        return bool(relative) and self._path_regex.match(relative) is not None

    def ignored_by_git(self, path: Path, is_dir: bool) -> bool:
        if not self.respect_gitignore:
            return False
        path = path.resolve()
        top = _git_root(path.parent) or path.parent
        # Check each directory from the repository root down; deeper files win.
        ignored = False
        directories = [d for d in [path.parent, *path.parent.parents] if d == top or top in d.parents]
        for directory in reversed(directories):
            spec = _load_gitignore(str(directory))
            if spec is None:
                continue
            relative = path.relative_to(directory).as_posix() + ("/" if is_dir else "")
            decided = spec.check_file(relative).include
            if decided is not None:
                ignored = decided
        return ignored

    def excluded(self, path: Path, is_dir: bool) -> bool:
        return self.excluded_by_pattern(path) or self.ignored_by_git(path, is_dir)


def discover(paths: list[Path], file_filter: FileFilter, force_exclude: bool,
             unreadable: list | None = None) -> tuple[list[Path], list[Path], list[Path]]:
    """Python files to check, explicitly named files, and paths that do not exist;
    directories that cannot be listed go to `unreadable` as (path, reason)."""
    found: list[Path] = []
    explicit: list[Path] = []
    missing: list[Path] = []
    for path in paths:
        if not path.exists() and not path.is_symlink():
            missing.append(path)
            continue
        if path.is_dir():
            found.extend(walk(path, file_filter, unreadable))
        else:
            # A named file is checked whatever its suffix, unless --force-exclude applies.
            if force_exclude and (file_filter.excluded(path, False) or _under_excluded_dir(path, file_filter)):
                continue
            explicit.append(path)
            found.append(path)
    unique: dict[str, Path] = {}
    for path in found:
        unique.setdefault(os.path.normpath(str(path)), path)
    return list(unique.values()), explicit, missing


def _under_excluded_dir(path: Path, file_filter: FileFilter) -> bool:
    root = file_filter.root
    parents = [p for p in path.absolute().parents if p != root and root in p.parents]
    return any(file_filter.excluded(parent, True) for parent in parents)


def walk(top: Path, file_filter: FileFilter, unreadable: list | None = None) -> list[Path]:
    result: list[Path] = []

    def report(error: OSError) -> None:
        if unreadable is not None:
            unreadable.append((Path(error.filename), error.strerror or str(error)))

    for directory, subdirectories, files in os.walk(top, onerror=report):
        base = Path(directory)
        kept = []
        for name in sorted(subdirectories):
            candidate = base / name
            if not file_filter.excluded(candidate, True):
                kept.append(name)
        subdirectories[:] = kept
        for name in sorted(files):
            if not name.endswith(PYTHON_SUFFIXES):
                continue
            candidate = base / name
            if not file_filter.excluded(candidate, False):
                result.append(candidate)
    return result
