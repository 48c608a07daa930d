"""Evaluate summary expressions to abstract values, across modules.

Everything is answered on demand and memoized: the value of a name in a function (the
union over its bindings: flow-insensitive), the result of a call, the values a parameter
receives from the project's callers, what a function returns. Cycles (`x = x.to(d)`,
recursive functions) are iterated to a fixed point at their head, a few times at most.

A frame is (module relpath, function qualname). Names resolve like Python's: the
function, its enclosing functions (class bodies skipped), the module, star imports,
builtins; imports resolve through the project index or become `External` names.

`Evaluator` is assembled from one mixin per concept; this module holds the interpreter
itself (expressions, attributes, calls, returns):

- memo.py              memoization with cycle handling
- names.py             names and imports
- classes.py           the class hierarchy, methods, class and instance attributes
- params.py            argument binding (`BoundArgs`) and parameter values
- callgraph.py         callers and call sites by name
- library.py           what library calls and the methods of modelled values return
- devices.py           device moves and device kinds
- argparse_options.py  the defaults of command-line options
- loaders.py           a DataLoader's arguments, class and batches
"""

from __future__ import annotations

from torchlint.project.summary import Call, Function as FunctionSummary
from torchlint.semantic import api
from torchlint.semantic.argparse_options import ArgparseOptions
from torchlint.semantic.callgraph import CallGraph
from torchlint.semantic.classes import Classes
from torchlint.semantic.devices import Devices
from torchlint.semantic.library import Library
from torchlint.semantic.loaders import LoaderValues
from torchlint.semantic.memo import Memo
from torchlint.semantic.names import Names
from torchlint.semantic.params import Arg, BoundArgs, Parameters
from torchlint.semantic.values import (
    EMPTY,
    UNKNOWN,
    UNKNOWN_SET,
    Bound,
    Class,
    Const,
    Dataset,
    Device,
    Dict,
    External,
    Framework,
    Function,
    Instance,
    Loader,
    ParsedArgs,
    ProjectDir,
    ProjectModule,
    Seq,
    StrPrefix,
    Super,
    Tensor,
    TorchModule,
    Tup,
    merge_entries,
    only_const,
    union,
)

__all__ = ["Arg", "BoundArgs", "Evaluator"]


class Evaluator(Memo, Names, Classes, Parameters, CallGraph, Library, Devices, ArgparseOptions, LoaderValues):
    def __init__(self, project) -> None:
        self.project = project
        self.map = project.map
        Memo.__init__(self)
        self._name_index: dict[str, list] | None = None  # callgraph.py
        self._site_targets: dict = {}  # callgraph.py
        self._argparse: dict | None = None  # argparse_options.py

    # -- summaries ------------------------------------------------------------------------

    def function(self, module: str, qualname: str) -> FunctionSummary | None:
        summary = self.project.summary(module)
        return summary.functions.get(qualname) if summary is not None else None

    def class_summary(self, module: str, qualname: str):
        summary = self.project.summary(module)
        return summary.classes.get(qualname) if summary is not None else None

    def site(self, module: str, call: Call) -> tuple:
        return (module, call.span.line, call.span.col)

    # -- expressions ------------------------------------------------------------------------

    def eval(self, expr, frame: tuple) -> frozenset:
        tag = expr[0]
        if tag == "k":
            return frozenset([Const(expr[1])])
        if tag == "n":
            return self.name(frame[0], frame[1], expr[1])
        if tag == "a":
            return self.attribute(self.eval(expr[1], frame), expr[2])
        if tag == "c":
            return self.call(frame[0], frame[1], expr[1])
        if tag == "t":
            if any(item[0] == "*" for item in expr[1]):
                return frozenset([Seq(union(*(self.elements(self.eval(i[1], frame)) if i[0] == "*" else self.eval(i, frame) for i in expr[1])))])
            return frozenset([Tup(tuple(self.eval(item, frame) for item in expr[1]))])
        if tag == "i":
            return self.item(self.eval(expr[1], frame), self.eval(expr[2], frame))
        if tag == "b":
            return self.binary(expr[1], self.eval(expr[2], frame), self.eval(expr[3], frame))
        if tag == "u":
            operand = self.eval(expr[2], frame)
            value = only_const(operand)
            if expr[1] == "-" and isinstance(value, (int, float)) and not isinstance(value, bool):
                return frozenset([Const(-value)])
            if expr[1] == "+" and isinstance(value, (int, float)):
                return frozenset([Const(value)])
            return UNKNOWN_SET
        if tag == "if":
            return union(self.eval(expr[1], frame), self.eval(expr[2], frame))
        if tag == "d":
            return frozenset([self.dict_display(expr[1], frame)])
        if tag == "e":
            return self.elements(self.eval(expr[1], frame))
        if tag == "q":
            return frozenset([Seq(self.eval(expr[1], frame))])
        if tag == "s":
            return frozenset([StrPrefix(expr[1])])
        if tag == "f":
            return frozenset([Function(frame[0], expr[1])])
        if tag == "cl":
            return frozenset([Class(frame[0], expr[1])])
        if tag == "imp":
            return self.import_value(frame[0], expr)
        if tag == "p":
            return self.param(frame[0], frame[1], expr[1])
        if tag == "*":
            return self.eval(expr[1], frame)
        if tag == "in":
            return self.eval(expr[2], (frame[0], expr[1]))
        return UNKNOWN_SET

    def dict_display(self, entries, frame) -> Dict:
        result: list = []
        complete = True
        for key, value in entries:
            if key is None:
                splat = self.eval(value, frame)
                if len(splat) == 1 and isinstance(next(iter(splat)), Dict):
                    inner = next(iter(splat))
                    result.extend(inner.entries)
                    complete = complete and inner.complete
                else:
                    complete = False
                continue
            key_value = only_const(self.eval(key, frame))
            if not isinstance(key_value, str):
                complete = False
                continue
            result.append((key_value, self.eval(value, frame)))
        return Dict(merge_entries(result), complete)

    def binary(self, op: str, left: frozenset, right: frozenset) -> frozenset:
        if op in ("and", "or"):
            return union(left, right)  # either operand may be the result
        if op in ("is", "is not", "in", "not in"):
            return UNKNOWN_SET
        if op == "%" and any(isinstance(v, (Const, StrPrefix)) and isinstance(getattr(v, "value", ""), str) for v in left):
            return UNKNOWN_SET  # string formatting
        if any(isinstance(v, Tensor) for v in left | right):
            devices = {v.device for v in left | right if isinstance(v, Tensor)}
            device = devices.pop() if len(devices) == 1 else "any"
            return frozenset([Tensor(device)])
        a, b = only_const(left), only_const(right)
        if type(a) is int and type(b) is int:
            try:
                if op == "+":
                    return frozenset([Const(a + b)])
                if op == "-":
                    return frozenset([Const(a - b)])
                if op == "*":
                    return frozenset([Const(a * b)])
                if op == "//" and b:
                    return frozenset([Const(a // b)])
            except (OverflowError, MemoryError):
                return UNKNOWN_SET
        return UNKNOWN_SET

    def item(self, bases: frozenset, index: frozenset) -> frozenset:
        key = only_const(index)
        out = []
        for base in bases:
            if isinstance(base, Tup):
                if type(key) is int and -len(base.items) <= key < len(base.items):
                    out.append(base.items[key])
                else:
                    out.append(union(*base.items) if base.items else UNKNOWN_SET)
            elif isinstance(base, Seq):
                out.append(base.elements)
            elif isinstance(base, Dict):
                found = base.get(key) if isinstance(key, str) else None
                if found is not None:
                    out.append(found)
                else:
                    out.append(union(*(v for _, v in base.entries), UNKNOWN_SET))
            elif isinstance(base, Tensor):
                out.append(frozenset([base]))
            elif isinstance(base, Dataset):
                out.append(frozenset([base]))  # `dataset[:n]`, `dataset[0]` (a PyG graph): its data
            else:
                out.append(UNKNOWN_SET)
        return union(*out) if out else EMPTY

    def elements(self, values: frozenset) -> frozenset:
        """What iterating over these values yields."""
        out = []
        for value in values:
            if isinstance(value, Loader):
                out.append(self.loader_elements(value.site))
            elif isinstance(value, Seq):
                out.append(value.elements)
            elif isinstance(value, Tup):
                out.append(union(*value.items) if value.items else EMPTY)
            elif isinstance(value, Tensor):
                part = value if value.source is None else Tensor(value.device, value.source, value.exact, part=True)
                out.append(frozenset([part]))
            elif isinstance(value, Dict):
                out.append(frozenset(Const(k) for k, _ in value.entries) | (EMPTY if value.complete else UNKNOWN_SET))
            else:
                out.append(UNKNOWN_SET)
        return union(*out) if out else EMPTY

    # -- attributes ---------------------------------------------------------------------------

    def attribute(self, values: frozenset, attr: str) -> frozenset:
        out = []
        for value in values:
            if isinstance(value, External):
                out.append(frozenset([External(api.canonical(f"{value.qualname}.{attr}"))]))
            elif isinstance(value, ProjectModule):
                out.append(self.module_attribute(value.module, attr))
            elif isinstance(value, ProjectDir):
                out.append(self.dir_attribute(value.directory, attr))
            elif isinstance(value, Instance):
                out.append(self.instance_attribute(value, attr))
            elif isinstance(value, Class):
                out.append(self.class_attribute(value, attr))
            elif isinstance(value, Tensor):
                if attr == "device":
                    out.append(frozenset([Device({"host": "cpu", "accel": "any"}.get(value.device, "any"))]))
                elif attr in ("data", "T", "mT", "grad", "real", "imag"):
                    out.append(frozenset([value]))
                elif not value.exact and value.source is not None and attr not in ("shape", "dtype", "ndim", "num_nodes", "num_graphs", "num_edges"):
                    # A field of a batch object (PyG's `batch.x`, `batch.edge_index`): its tensors.
                    out.append(frozenset([Tensor(value.device, value.source, False, value.part)]))
                else:
                    out.append(UNKNOWN_SET)
            elif isinstance(value, Loader):
                if attr == "dataset":
                    bound = self.loader_arguments(value.site)
                    dataset = bound.get("dataset") if bound is not None else None
                    out.append(dataset.values if dataset is not None else UNKNOWN_SET)
                else:
                    out.append(UNKNOWN_SET)
            elif isinstance(value, ParsedArgs):
                out.append(self.parsed_arg(value, attr))
            elif isinstance(value, Framework):
                if value.kind == "accelerator" and attr == "device":
                    out.append(frozenset([Device("any")]))
                else:
                    out.append(UNKNOWN_SET)
            elif isinstance(value, Dict):
                out.append(UNKNOWN_SET)
            else:
                out.append(UNKNOWN_SET)
        return union(*out) if out else EMPTY

    # -- calls ------------------------------------------------------------------------------

    def call(self, module: str, qualname: str, index: int) -> frozenset:
        return self.memo("call", (module, qualname, index), lambda: self._call(module, qualname, index))

    def _call(self, module: str, qualname: str, index: int) -> frozenset:
        function = self.function(module, qualname)
        call = function.calls[index]
        frame = (module, qualname)
        out = [self.apply(target, offset, call, frame) for target, offset in self.targets(call, frame)]
        return union(*out) if out else EMPTY  # nothing to call: a cycle being resolved

    def targets(self, call: Call, frame: tuple) -> list:
        """What a call calls: [(value, offset)], offset 1 when the receiver fills the
        first parameter (`obj.method(...)`, `Class(...)` into `__init__`)."""
        func = call.func
        found = []
        if func[0] == "a":
            attr = func[2]
            for receiver in self.eval(func[1], frame):
                if isinstance(receiver, Instance):
                    for target in self.instance_attribute(receiver, attr):
                        if isinstance(target, Bound) and target.function is not None:
                            offset = 0 if self.is_static(target.function) else 1
                            found.append((Bound(receiver, attr, target.function), offset))
                        elif target is UNKNOWN:
                            found.append((Bound(receiver, attr), 0))
                        else:
                            found.append((target, 0))
                elif isinstance(receiver, Class) and attr == "from_pretrained" and self.find_method(receiver.module, receiver.qualname, attr) is None:
                    found.append((receiver, 0))  # a project subclass of a pretrained model: builds one
                elif isinstance(receiver, (External, ProjectModule, ProjectDir, Class)):
                    for target in self.attribute(frozenset([receiver]), attr):
                        found.append((target, 0))
                elif isinstance(receiver, Super):
                    method = self.find_method_after(receiver.module, receiver.qualname, attr)
                    if method is not None:
                        offset = 0 if self.is_static(method) else 1
                        found.append((Bound(Instance(receiver.module, receiver.qualname, None), attr, method), offset))
                    else:
                        found.append((Bound(receiver, attr), 0))
                else:
                    found.append((Bound(receiver, attr), 0))
            return found
        return [(value, 0) for value in self.eval(func, frame)]

    def apply(self, target, offset: int, call: Call, frame: tuple) -> frozenset:
        if isinstance(target, Function):
            return self.returns_for(target, offset, call, frame)
        if isinstance(target, Bound):
            if target.function is not None:
                return self.returns_for(target.function, offset, call, frame)
            return self.method(target.receiver, target.name, call, frame)
        if isinstance(target, Class):
            return frozenset([self.construct(target, call, frame)])
        if isinstance(target, Instance):
            forward = self.find_method(target.module, target.qualname, "forward") if self.is_nn_module_class(target.module, target.qualname) else None
            if forward is None:
                forward = self.find_method(target.module, target.qualname, "__call__")
            if forward is not None:
                return self.returns(forward.module, forward.qualname)
            if self.is_nn_module_class(target.module, target.qualname):
                return frozenset([Tensor("any")])
            return UNKNOWN_SET
        if isinstance(target, TorchModule):
            return frozenset([Tensor("any")])
        if isinstance(target, External):
            return self.external_call(target.qualname, call, frame)
        return UNKNOWN_SET

    def construct(self, cls: Class, call: Call, frame: tuple):
        site = self.site(frame[0], call)
        if self.is_loader_class(cls.module, cls.qualname):
            return Loader(site)  # a project subclass of DataLoader
        return Instance(cls.module, cls.qualname, site)

    def returns_for(self, function: Function, offset: int, call: Call, frame: tuple) -> frozenset:
        """What this call of `function` returns. A parameter handed back as it came in
        (`return model, msg` in a checkpoint loader), or iterated and yielded (a logging
        wrapper `for x in iterable: yield x`), is this call's argument, not every caller's:
        otherwise each factory would seem to return every model, and each loop over the
        wrapper to iterate every loader."""
        summary = self.function(function.module, function.qualname)
        if summary is None:
            return self.returns(function.module, function.qualname)
        passed = {
            name for name in summary.params
            if all(b.kind == "param" for b in summary.bindings.get(name, ()))
        }
        outputs = summary.yields if summary.yields is not None else summary.returns
        local = _locals_over(summary, passed)
        if not passed or not any(_mentions(r, passed | set(local)) for r in outputs):
            return self.returns(function.module, function.qualname)
        bound = self.bind(call, frame, tuple(summary.params), offset)
        callee = (function.module, function.qualname)

        def value(expr, depth: int = 0) -> frozenset:
            tag = expr[0]
            if depth > 6:
                return self.eval(expr, callee)
            if tag == "n" and expr[1] in passed:
                found = bound.get(expr[1])
                if found is not None:
                    return found.values
                if expr[1] in summary.defaults:
                    return self.eval(summary.defaults[expr[1]], (function.module, summary.defined_in or "<module>"))
                return self.param(function.module, function.qualname, summary.params.index(expr[1]))
            if tag == "n" and expr[1] in local:
                return union(*(value(v, depth + 1) for v in local[expr[1]]))
            if tag == "t" and not any(item[0] == "*" for item in expr[1]):
                return frozenset([Tup(tuple(value(item, depth + 1) for item in expr[1]))])
            if tag == "if":
                return union(value(expr[1], depth + 1), value(expr[2], depth + 1))
            if tag == "e":
                return self.elements(value(expr[1], depth + 1))
            if tag == "i":
                return self.item(value(expr[1], depth + 1), self.eval(expr[2], callee))
            return self.eval(expr, callee)

        values = union(*(value(r) for r in outputs))
        if summary.yields is not None:
            return frozenset([Seq(values)])
        return values

    def returns(self, module: str, qualname: str) -> frozenset:
        return self.memo("returns", (module, qualname), lambda: self._returns(module, qualname))

    def _returns(self, module: str, qualname: str) -> frozenset:
        function = self.function(module, qualname)
        if function is None:
            return UNKNOWN_SET
        if function.yields is not None:  # a generator: what iterating it gives
            return frozenset([Seq(union(*(self.eval(y, (module, qualname)) for y in function.yields)))])
        if not function.returns:
            return frozenset([Const(None)])
        return union(*(self.eval(r, (module, qualname)) for r in function.returns))


def _mentions(expr, names: set) -> bool:
    """Does a returned (or yielded) expression hand back one of these names: alone, in a
    tuple, a conditional, an element or an item of it?"""
    tag = expr[0]
    if tag == "n":
        return expr[1] in names
    if tag == "t":
        return any(_mentions(item, names) for item in expr[1])
    if tag == "if":
        return _mentions(expr[1], names) or _mentions(expr[2], names)
    if tag in ("e", "i"):
        return _mentions(expr[1], names)
    return False


def _locals_over(summary, passed: set) -> dict:
    """Local names bound only to elements or items of the passed parameters (`for obj in
    iterable:`, `x, y = batch`): name -> the expressions they are bound to."""
    found: dict = {}
    changed = True
    while changed:
        changed = False
        for name, bindings in summary.bindings.items():
            if name in found or name in passed:
                continue
            if bindings and all(b.kind in ("loop", "assign") and b.value[0] in ("e", "i", "n") and _mentions(b.value, passed | set(found)) for b in bindings):
                found[name] = [b.value for b in bindings]
                changed = True
    return found
