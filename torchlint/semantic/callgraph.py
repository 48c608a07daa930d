"""The call graph: the call sites of the project by the name they call, and the callers
of a function (through methods, constructors, `super().__init__` and overrides that a
base class dispatches to).
"""

from __future__ import annotations

from torchlint.project.summary import spelled_name
from torchlint.semantic.values import Bound, Class, Function, Instance


class CallGraph:
    """Callers and call sites (a mixin of `Evaluator`)."""

    def callers(self, module: str, qualname: str) -> list:
        return self.memo("callers", (module, qualname), lambda: tuple(self._callers(module, qualname)), ())

    def _callers(self, module: str, qualname: str) -> list:
        function = self.function(module, qualname)
        if function is None or function.kind == "lambda":
            return []
        names = {function.name}
        constructor = function.name == "__init__" and function.owner is not None
        if constructor:
            # Built by its class name, or run by a subclass (`super().__init__(...)`).
            names = {self.class_summary(module, function.owner).name, "__init__"}
        wanted = Function(module, qualname)
        found = []
        for name in names:
            if constructor and name == "__init__":
                # Only a subclass's methods run this `__init__` by name.
                entries = [site for owner in self.subclasses(module, function.owner)
                           for site in self.init_calls_by_owner().get(owner, ())]
            else:
                entries = self.name_index().get(name, ())
            for caller_module, caller_qualname, index in entries:
                for target, offset in self.site_targets(caller_module, caller_qualname, index):
                    if constructor and isinstance(target, Class):
                        init = self.find_method(target.module, target.qualname, "__init__")
                        if init == wanted:
                            found.append((caller_module, caller_qualname, index, 1))
                            break
                    elif target == wanted:
                        found.append((caller_module, caller_qualname, index, offset))
                        break
                    elif isinstance(target, Bound) and target.function == wanted:
                        found.append((caller_module, caller_qualname, index, offset))
                        break
                    elif self._dispatches_to(target, function, module):
                        # `self.step(batch)` in a base class calls this override.
                        found.append((caller_module, caller_qualname, index, offset))
                        break
        return found

    def site_targets(self, module: str, qualname: str, index: int) -> tuple:
        """`targets` of one call site, kept once final: a name that many functions share
        (`train`, `forward`) would otherwise resolve each of its sites once per function
        asking for its callers. Not a `memo` entry of its own: inside a cycle of callers
        that would answer with a provisional empty value and settle on a different fixed
        point; a result is kept only when it read nothing still being computed."""
        key = (module, qualname, index)
        cached = self._site_targets.get(key)
        if cached is not None:
            return cached
        depth, outer_low = len(self._stack), self._low
        self._low = 1 << 30
        try:
            result = tuple(self.targets(self.function(module, qualname).calls[index], (module, qualname)))
        finally:
            low = self._low
            self._low = min(outer_low, low)
        if low >= depth:
            self._site_targets[key] = result
        return result

    def init_calls_by_owner(self) -> dict:
        """The calls spelled `__init__` (`super().__init__(...)`) by the class whose method
        makes them: a constructor's callers among them are its subclasses' only."""
        def compute():
            index: dict = {}
            for site in self.name_index().get("__init__", ()):
                caller_module, caller_qualname, _ = site
                owner = self.function(caller_module, caller_qualname).owner
                if owner is not None:
                    index.setdefault((caller_module, owner), []).append(site)
            return index

        return self.memo("init-calls", None, compute, {})

    def _dispatches_to(self, target, function, module: str) -> bool:
        receiver = getattr(target, "receiver", None)
        if not isinstance(target, Bound) or target.name != function.name or function.owner is None:
            return False
        if not isinstance(receiver, Instance) or receiver.site is not None:
            return False
        return (module, function.owner) in self.subclasses(receiver.module, receiver.qualname)

    def name_index(self) -> dict:
        """Call sites by the last name of what they call (`f(...)`, `x.f(...)` under "f")."""
        if self._name_index is None:
            index: dict = {}
            for module, summary in self.project.summaries():
                for qualname, function in summary.functions.items():
                    for position, call in enumerate(function.calls):
                        func = call.func
                        name = spelled_name(func)
                        if isinstance(name, str):
                            index.setdefault(name, []).append((module, qualname, position))
            self._name_index = index
        return self._name_index

    def calls_named(self, *names: str) -> list:
        """(module, function qualname, call index) of every call whose callee is spelled `name`."""
        index = self.name_index()
        return [site for name in names for site in index.get(name, ())]
