"""The semantic model of a project, and the view of one module that rules get."""

from __future__ import annotations

from typing import Callable, Iterator

from torchlint.fixes import SourceView
from torchlint.project.index import Project
from torchlint.project.summary import Binding, Call, ModuleSummary
from torchlint.semantic import api
from torchlint.semantic.evaluate import BoundArgs, Evaluator
from torchlint.semantic.training import Training
from torchlint.semantic.values import UNKNOWN, External


class Semantics:
    """Everything known about a project: values (the evaluator) and training structure."""

    def __init__(self, project: Project, pinned_torch=None) -> None:
        self.project = project
        self.ev = Evaluator(project)
        self.training = Training(self.ev)
        # The project's torch pins (project.torch_target.TorchTarget), read by the runner.
        self.pinned_torch = pinned_torch


class ModuleContext:
    def __init__(self, semantics: Semantics, relpath: str, options, source: Callable[[], str]) -> None:
        self.semantics = semantics
        self.relpath = relpath
        self.options = options
        self.ev = semantics.ev
        self.training = semantics.training
        self._source = source
        self._view: SourceView | None = None

    @property
    def torch_target(self):
        """The torch release the project targets: the `target-torch` setting, else its pins,
        else a current torch."""
        from torchlint.project.torch_target import TorchTarget, from_setting

        setting = getattr(self.options, "target_torch", None)
        if setting:
            return from_setting(setting)
        return self.semantics.pinned_torch or TorchTarget()

    @property
    def is_test(self) -> bool:
        """A test module (`tests/`, `test_*.py`, `*_test.py`, `conftest.py`): its training
        loops check behaviour, not throughput, so the performance rules leave it alone."""
        return is_test_path(self.relpath)

    @property
    def summary(self) -> ModuleSummary:
        return self.semantics.project.summary(self.relpath)

    @property
    def source(self) -> SourceView:
        if self._view is None:
            self._view = SourceView(self._source())
        return self._view

    def calls(self) -> Iterator[tuple[str, int, Call]]:
        for qualname, function in self.summary.functions.items():
            for index, call in enumerate(function.calls):
                yield qualname, index, call

    def function(self, qualname: str):
        return self.summary.functions[qualname]

    def callee(self, qualname: str, call: Call) -> str | None:
        """The canonical name of the library function or class a call calls, when every
        way of reading it agrees (`DL(...)` after `from torch.utils.data import DataLoader
        as DL`); None for project code, unknown or ambiguous callees."""
        names = set()
        for target, _ in self.ev.targets(call, (self.relpath, qualname)):
            if isinstance(target, External):
                names.add(target.qualname)
            else:
                return None
        return names.pop() if len(names) == 1 else None

    def values(self, expr, qualname: str) -> frozenset:
        return self.ev.eval(expr, (self.relpath, qualname))

    def bind(self, qualname: str, call: Call, params: tuple) -> BoundArgs:
        return self.ev.bind(call, (self.relpath, qualname), params)

    def site(self, call: Call) -> tuple:
        return (self.relpath, call.span.line, call.span.col)

    def frequency(self, qualname: str, call: Call) -> str:
        return self.training.frequency(self.relpath, qualname, call)

    def binding_of_call(self, qualname: str, index: int) -> tuple[str, Binding] | None:
        """The name a call's result is assigned to in its function: `x = f(...)`, also
        through method chains and wrappers (`x = f(...).to(d)`, `x = DDP(f(...))`), and
        `self.x = f(...)` in a method."""
        function = self.function(qualname)
        wanted = {index}
        changed = True
        while changed:
            changed = False
            for position, call in enumerate(function.calls):
                if position in wanted:
                    continue
                func = call.func
                chained = func[0] == "a" and func[1][0] == "c" and func[1][1] in wanted
                wrapped = (
                    bool(call.args) and call.args[0][0] == "c" and call.args[0][1] in wanted
                    and self.callee(qualname, call) in api.MODULE_WRAPPERS | api.PASS_THROUGH
                )
                if chained or wrapped:
                    wanted.add(position)
                    changed = True
        for name, bindings in function.bindings.items():
            for binding in bindings:
                if binding.kind == "assign" and binding.value[0] == "c" and binding.value[1] in wanted:
                    return name, binding
        if function.owner is not None:
            info = self.summary.classes.get(function.owner)
            for attr, entries in (info.self_attrs.items() if info is not None else ()):
                for method, binding in entries:
                    if method == qualname and binding.value[0] == "c" and binding.value[1] in wanted:
                        return f"self.{attr}", binding
        return None


def is_test_path(relpath: str) -> bool:
    parts = relpath.split("/")
    name = parts[-1]
    return (
        any(part in ("test", "tests", "testing") for part in parts[:-1])
        or name.startswith("test_") or name.endswith("_test.py") or name == "conftest.py"
    )


def expr_text(expr) -> str | None:
    """Source-like text of a simple expression (names, attributes, constants)."""
    tag = expr[0]
    if tag == "n":
        return expr[1]
    if tag == "a":
        head = expr_text(expr[1])
        return f"{head}.{expr[2]}" if head else None
    if tag == "k":
        value = expr[1]
        if isinstance(value, str):
            return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return repr(value)
    return None


__all__ = ["ModuleContext", "Semantics", "UNKNOWN", "expr_text"]
