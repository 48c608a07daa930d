"""The project index: every file of a project by relative path, with its summary.

Summaries are loaded on first use (from the cache, or computed) through a loader
function, so that a run that needs three modules of a large project touches three.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from torchlint.project.layout import ModuleMap
from torchlint.project.summary import ModuleSummary, summarize


class Project:
    def __init__(self, root: Path | None, relpaths, load: Callable[[str], ModuleSummary | None]) -> None:
        self.root = root
        self.map = ModuleMap(relpaths)
        self._load = load
        self._summaries: dict[str, ModuleSummary | None] = {}
        self._calls_at: dict[str, dict] = {}

    @classmethod
    def from_sources(cls, sources: dict[str, str], root: Path | None = None) -> "Project":
        """A project made of texts in memory (tests, stdin, rule pages)."""
        summaries = {relpath: summarize(text) for relpath, text in sources.items()}
        return cls(root, summaries, summaries.get)

    def modules(self) -> list[str]:
        return sorted(self.map.files)

    def summaries(self):
        """(module, summary) for every module of the project that has one, in module order."""
        for module in self.modules():
            summary = self.summary(module)
            if summary is not None:
                yield module, summary

    def functions(self):
        """(module, summary, qualname, function) over the whole project."""
        for module, summary in self.summaries():
            for qualname, function in summary.functions.items():
                yield module, summary, qualname, function

    def summary(self, relpath: str) -> ModuleSummary | None:
        if relpath not in self._summaries:
            self._summaries[relpath] = self._load(relpath) if relpath in self.map.files else None
        return self._summaries[relpath]

    def call_at(self, relpath: str, line: int, col: int):
        """(function qualname, Call) of the call that starts at (line, col)."""
        index = self._calls_at.get(relpath)
        if index is None:
            index = {}
            summary = self.summary(relpath)
            if summary is not None:
                for qualname, function in summary.functions.items():
                    for call in function.calls:
                        index.setdefault((call.span.line, call.span.col), (qualname, call))
            self._calls_at[relpath] = index
        return index.get((line, col))
