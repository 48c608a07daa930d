"""Which files to check: walk directories like ruff does.

Honours `.gitignore` files (nested ones too, and those of parent directories up to the
repository root), the default excludes, `exclude`/`extend-exclude`, and `--force-exclude`
for files named explicitly.
"""

from __future__ import annotations

import fnmatch
import os
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

DEFAULT_EXCLUDES = (
    ".bzr .direnv .eggs .git .git-rewrite .hg .ipynb_checkpoints .mypy_cache .nox .pants.d "
    ".pyenv .pytest_cache .pytype .ruff_cache .svn .tox .venv .vscode __pypackages__ _build "
    "buck-out build dist node_modules site-packages venv"
).split()
PYTHON_SUFFIXES = (".py", ".pyi")


@dataclass
class _IgnoreRule:
    regex: re.Pattern[str]
    negated: bool
    directory_only: bool


def _gitignore_regex(pattern: str) -> str:
    """Translate one gitignore glob (without `!` and trailing `/`) to a regex over a
    path relative to the .gitignore's directory."""
    anchored = "/" in pattern.rstrip("/")
    pattern = pattern.lstrip("/")
    out = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("/**", i) and i + 3 == len(pattern):
            out.append("/.*")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif c == "*":
            out.append("[^/]*")
            i += 1
        elif c == "?":
            out.append("[^/]")
            i += 1
        elif c == "[":
            end = pattern.find("]", i + 1)
            if end == -1:
                out.append(re.escape(c))
                i += 1
            else:
                body = pattern[i + 1 : end].replace("\\", "\\\\")
                if body.startswith("!"):
                    body = "^" + body[1:]
                out.append(f"[{body}]")
                i = end + 1
        elif c == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
        else:
            out.append(re.escape(c))
            i += 1
    body = "".join(out)
    # The pattern matches the path itself; what lies below an ignored directory is never
    # reached, since the walk prunes it (and a directory named explicitly is a root, as in ruff).
    return ("^" if anchored else "^(?:.*/)?") + body + "$"


@lru_cache(maxsize=4096)
def _load_gitignore(directory: str) -> tuple[_IgnoreRule, ...]:
    path = os.path.join(directory, ".gitignore")
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            lines = handle.read().splitlines()
    except OSError:
        return ()
    rules = []
    for line in lines:
        line = line.rstrip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        if negated:
            line = line[1:]
        directory_only = line.endswith("/")
        line = line.rstrip("/")
        if not line:
            continue
        try:
            rules.append(_IgnoreRule(re.compile(_gitignore_regex(line)), negated, directory_only))
        except re.error:
            continue
    return tuple(rules)


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
            relative = path.relative_to(directory).as_posix()
            for rule in _load_gitignore(str(directory)):
                if rule.directory_only and not is_dir and "/" not in relative:
                    continue
                if rule.regex.match(relative):
                    ignored = not rule.negated
        return ignored

    def excluded(self, path: Path, is_dir: bool) -> bool:
        return self.excluded_by_pattern(path) or self.ignored_by_git(path, is_dir)


def discover(paths: list[Path], file_filter: FileFilter, force_exclude: bool) -> tuple[list[Path], list[Path], list[Path]]:
    """Python files to check, explicitly named files, and paths that do not exist."""
    found: list[Path] = []
    explicit: list[Path] = []
    missing: list[Path] = []
    for path in paths:
        if not path.exists() and not path.is_symlink():
            missing.append(path)
            continue
        if path.is_dir():
            found.extend(walk(path, file_filter))
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


def walk(top: Path, file_filter: FileFilter) -> list[Path]:
    result: list[Path] = []
    for directory, subdirectories, files in os.walk(top):
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
