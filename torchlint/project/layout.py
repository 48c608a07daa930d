"""Where a project starts, and which file an import names.

The root is the nearest directory above a checked path holding `pyproject.toml`,
`setup.py`, `setup.cfg` or `.git`; without one, the checked directory itself. Files are
known by their path relative to the root ("pkg/data.py"). An absolute import is looked
for the way Python would find it when a script or the project is run: beside the
importing file first (a script's directory is on `sys.path`), then in each directory
above it up to the root, then under `root/src`. Packages need no `__init__.py`
(namespace packages are common in research code). What is not found is external.
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT_MARKERS = ("pyproject.toml", "setup.py", "setup.cfg", ".git")


def find_root(path: Path) -> Path:
    """The project root for a checked file or directory."""
    start = path if path.is_dir() else path.parent
    start = Path(os.path.abspath(start))
    for directory in [start, *start.parents]:
        if any((directory / marker).exists() for marker in ROOT_MARKERS):
            return directory
    return start


class ModuleMap:
    """Files of one project by relative posix path, and import resolution over them."""

    def __init__(self, relpaths) -> None:
        self.files: set[str] = set()
        self.dirs: set[str] = set()
        for relpath in relpaths:
            self.add(relpath)

    def add(self, relpath: str) -> None:
        self.files.add(relpath)
        directory = relpath.rpartition("/")[0]
        while directory and directory not in self.dirs:
            self.dirs.add(directory)
            directory = directory.rpartition("/")[0]

    def _file_for(self, directory: str, parts: list[str]) -> str | None:
        base = f"{directory}/" if directory else ""
        stem = base + "/".join(parts)
        for candidate in (f"{stem}.py", f"{stem}/__init__.py", f"{stem}.pyi", f"{stem}/__init__.pyi"):
            if candidate in self.files:
                return candidate
        return None

    def package_of(self, relpath: str) -> str:
        """The directory a relative import in `relpath` starts from."""
        return relpath.rpartition("/")[0]

    def resolve_module(self, importer: str, module: str, level: int = 0) -> str | None:
        """The file `import module` (or `from .module`, with `level` dots) names, or None."""
        parts = [p for p in module.split(".") if p] if module else []
        if level:
            directory = self.package_of(importer)
            for _ in range(level - 1):
                if not directory:
                    return None
                directory = directory.rpartition("/")[0]
            if not parts:
                return self._file_for(directory, []) if directory else None
            return self._file_for(directory, parts)
        if not parts:
            return None
        for directory in self._search_dirs(importer):
            found = self._file_for(directory, parts)
            if found is not None and found != importer:
                # (`from model import X` inside utils/model.py is the top-level `model`
                # package, not the module itself)
                return found
        return None

    def namespace_dir(self, importer: str, module: str, level: int = 0) -> str | None:
        """A directory without `__init__.py` that `import module` names (a namespace
        package), so that `pkg.sub` can still be followed to `pkg/sub.py`."""
        parts = [p for p in module.split(".") if p] if module else []
        if level:
            directory = self.package_of(importer)
            for _ in range(level - 1):
                directory = directory.rpartition("/")[0]
            candidate = "/".join([directory, *parts]) if directory else "/".join(parts)
            return candidate if candidate and self._has_dir(candidate) else None
        for directory in self._search_dirs(importer):
            candidate = "/".join([directory, *parts]) if directory else "/".join(parts)
            if self._has_dir(candidate):
                return candidate
        return None

    def _has_dir(self, directory: str) -> bool:
        return directory in self.dirs

    def _search_dirs(self, importer: str) -> list[str]:
        directories = []
        directory = self.package_of(importer)
        while True:
            directories.append(directory)
            if not directory:
                break
            directory = directory.rpartition("/")[0]
        directories.append("src")
        return directories

    def submodule(self, package_file: str, name: str) -> str | None:
        """`pkg.name` for the package whose `__init__.py` is `package_file`."""
        directory = package_file.rpartition("/")[0] if package_file.endswith(("__init__.py", "__init__.pyi")) else None
        if directory is None:
            return None
        return self._file_for(directory, [name])

    def dir_submodule(self, directory: str, name: str) -> str | None:
        return self._file_for(directory, [name])
