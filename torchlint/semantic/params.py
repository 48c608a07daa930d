"""Arguments and parameters: binding a call's arguments to a callee's parameters
(`BoundArgs`), and the values a parameter receives: its default, the arguments of the
project's callers, what a framework passes (an ignite process function's batch), or a
parsed `args` when nothing calls the function.
"""

from __future__ import annotations

from dataclasses import dataclass

from torchlint.project.summary import Call
from torchlint.semantic import api
from torchlint.semantic.values import (
    EMPTY,
    UNKNOWN_SET,
    Class,
    Dict,
    External,
    Framework,
    Function,
    Instance,
    ParsedArgs,
    union,
)

_ARGS_NAMES = ("args", "opt", "opts", "flags", "FLAGS", "cli_args", "arguments", "hparams")


@dataclass
class Arg:
    """One bound argument: its values, and the expression when written in the call."""

    values: frozenset
    expr: list | None


@dataclass
class BoundArgs:
    arguments: dict  # parameter name -> Arg
    opaque: bool  # a `*args`/`**kwargs` whose content is unknown: any parameter may be in it

    def get(self, name: str) -> Arg | None:
        return self.arguments.get(name)


class Parameters:
    """Argument binding and parameter values (a mixin of `Evaluator`)."""

    def bind(self, call: Call, frame: tuple, params: tuple, offset: int = 0) -> BoundArgs:
        """Map a call's arguments to parameter names; `**` splats of dicts built in plain
        sight are opened."""
        arguments: dict = {}
        opaque = False
        position = offset
        for arg in call.args:
            if arg[0] == "*":
                opaque = True  # positions after a splat are unknown
                position = len(params)
                continue
            if position < len(params):
                arguments[params[position]] = Arg(self.eval(arg, frame), arg)
            position += 1
        for keyword, value in call.keywords:
            if keyword is None:
                # Only a dict built in plain sight is opened: a name bound to a display or
                # `dict(...)`, not what a function returns.
                splat = self.eval(value, frame) if value[0] in ("n", "d") or self._is_dict_call(value, frame) else UNKNOWN_SET
                inner = next(iter(splat)) if len(splat) == 1 else None
                if isinstance(inner, Dict):
                    for key, values in inner.entries:
                        arguments[key] = Arg(values, None)
                    opaque = opaque or not inner.complete
                else:
                    opaque = True
                continue
            arguments[keyword] = Arg(self.eval(value, frame), value)
        return BoundArgs(arguments, opaque)

    def _is_dict_call(self, expr, frame: tuple) -> bool:
        if expr[0] != "c":
            return False
        call = self.function(*frame).calls[expr[1]]
        return call.func == ["n", "dict"] and self.eval(call.func, frame) == frozenset([External("builtins.dict")])

    def param(self, module: str, qualname: str, index: int) -> frozenset:
        return self.memo("param", (module, qualname, index), lambda: self._param(module, qualname, index))

    def _param(self, module: str, qualname: str, index: int) -> frozenset:
        function = self.function(module, qualname)
        name = function.params[index]
        kind = function.param_kinds[index]
        if kind in ("vararg", "kwarg"):
            return UNKNOWN_SET
        if index == 0 and function.owner is not None and function.kind == "function":
            decorators = {d[1] if d[0] == "n" else None for d in function.decorators}
            if "staticmethod" not in decorators:
                if "classmethod" in decorators:
                    return frozenset([Class(module, function.owner)])
                return frozenset([Instance(module, function.owner, None)])
        values = []
        if name in function.defaults:
            values.append(self.eval(function.defaults[name], (module, function.defined_in or "<module>")))
        callers = self.callers(module, qualname)
        for caller_module, caller_qualname, call_index, offset in callers:
            caller = self.function(caller_module, caller_qualname)
            call = caller.calls[call_index]
            bound = self.bind(call, (caller_module, caller_qualname), tuple(function.params), offset)
            found = bound.get(name)
            if found is not None:
                values.append(found.values)
            elif bound.opaque:
                values.append(UNKNOWN_SET)
        values.append(self.framework_param(module, qualname, index))
        if not callers:
            if name in _ARGS_NAMES:
                values.append(frozenset([ParsedArgs(None)]))
            else:
                values.append(UNKNOWN_SET)
        return union(*values) or UNKNOWN_SET

    def framework_param(self, module: str, qualname: str, index: int) -> frozenset:
        """Parameters a framework fills: an ignite process function's batch (the loader
        elements its engine is `run` on)."""
        if index != 1:
            return EMPTY
        out = []
        wanted = Function(module, qualname)
        for engine in self.ignite_engines():
            if engine[1] == wanted:
                out.append(self.ignite_run_elements(engine[0]))
        return union(*out) if out else EMPTY

    def ignite_engines(self) -> list:
        """[(engine site, process Function)] for `Engine(process_function)` calls."""
        if "ignite" not in self._tables:
            found = []
            for module, qualname, index in self.calls_named("Engine", "DeterministicEngine"):
                call = self.function(module, qualname).calls[index]
                frame = (module, qualname)
                if not call.args or not any(isinstance(t, External) and t.qualname in api.IGNITE_ENGINE for t, _ in self.targets(call, frame)):
                    continue
                for value in self.eval(call.args[0], frame):
                    if isinstance(value, Function):
                        found.append((self.site(module, call), value))
            self._tables["ignite"] = {"engines": found}
        return self._tables["ignite"]["engines"]

    def ignite_run_elements(self, site) -> frozenset:
        """Elements of the data an ignite engine built at `site` is run on."""
        out = []
        for module, qualname, index in self.calls_named("run"):
            call = self.function(module, qualname).calls[index]
            frame = (module, qualname)
            if not call.args or call.func[0] != "a":
                continue
            receivers = self.eval(call.func[1], frame)
            if any(isinstance(r, Framework) and r.site == site for r in receivers):
                out.append(self.elements(self.eval(call.args[0], frame)))
        return union(*out) if out else EMPTY
