"""Evaluate summary expressions to abstract values, across modules.

Everything is answered on demand and memoized: the value of a name in a function (the
union over its bindings: flow-insensitive), the result of a call, the values a parameter
receives from the project's callers, what a function returns. Cycles (`x = x.to(d)`,
recursive functions) are iterated to a fixed point at their head, a few times at most.

A frame is (module relpath, function qualname). Names resolve like Python's: the
function, its enclosing functions (class bodies skipped), the module, star imports,
builtins; imports resolve through the project index or become `External` names.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass

from torchlint.project.summary import Call, Function as FunctionSummary, spelled_name
from torchlint.semantic import api
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
    Opaque,
    Optimizer,
    ParsedArgs,
    Parser,
    ProjectDir,
    ProjectModule,
    Seq,
    StrPrefix,
    Super,
    Tensor,
    TorchModule,
    Tup,
    only_const,
    union,
)

_BUILTINS = frozenset(dir(builtins))
_MAX_STACK = 150
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


class Evaluator:
    def __init__(self, project) -> None:
        self.project = project
        self.map = project.map
        self._tables: dict[str, dict] = {}
        self._stack: dict = {}
        self._seed: dict = {}
        self._provisional: dict = {}  # (table, key) -> (value, low): see memo()
        self._made_at: dict = {}  # stack depth -> [(table, key)] provisional values made there
        self._low = 1 << 30
        self._name_index: dict[str, list] | None = None
        self._site_targets: dict = {}
        self._argparse: dict | None = None

    # -- memoization with cycle handling -------------------------------------------------

    def memo(self, table: str, key, compute, empty=EMPTY):
        """compute() once per key. A key met again while it is being computed (a cycle)
        reads `empty`, then the value of the previous round, until the value at the head
        of the cycle settles. Values computed inside a cycle are kept provisionally for
        the current round (so that each is computed once per round, not once per path),
        and become final when the head of the cycle does."""
        cache = self._tables.setdefault(table, {})
        if key in cache:
            return cache[key]
        full_key = (table, key)
        provisional = self._provisional.get(full_key)
        if provisional is not None:
            self._low = min(self._low, provisional[1])
            return provisional[0]
        depth = self._stack.get(full_key)
        if depth is not None:
            self._low = min(self._low, depth)
            return self._seed.get(full_key, empty)
        if len(self._stack) >= _MAX_STACK:
            # Too deep to follow: an unknown value (sound, only less precise).
            return UNKNOWN_SET if empty is EMPTY else empty
        mine = len(self._stack)
        self._stack[full_key] = mine
        outer_low = self._low
        result = empty
        try:
            for _ in range(4):
                self._drop_provisional_below(mine)
                self._low = 1 << 30
                result = compute()
                if self._low == mine and result != self._seed.get(full_key, empty):
                    self._seed[full_key] = result  # a cycle through this key: another round
                    continue
                break
        finally:
            del self._stack[full_key]
            self._seed.pop(full_key, None)
        low = self._low
        self._low = min(outer_low, low)
        self._settle_provisional_below(mine, cache_of=self._tables)
        if low >= mine:
            cache[key] = result
        else:
            self._provisional[full_key] = (result, low)
            self._made_at.setdefault(mine, []).append(full_key)
        return result

    def _drop_provisional_below(self, depth: int) -> None:
        """A new round at `depth`: what was computed under it in the last round is stale."""
        for level in [d for d in self._made_at if d > depth]:
            for full_key in self._made_at.pop(level):
                self._provisional.pop(full_key, None)

    def _settle_provisional_below(self, depth: int, cache_of: dict) -> None:
        """The key at `depth` is done: values under it that depended on nothing further out
        are final; the others wait for the key they depend on, one level up."""
        for level in [d for d in self._made_at if d > depth]:
            for full_key in self._made_at.pop(level):
                entry = self._provisional.get(full_key)
                if entry is None:
                    continue
                if entry[1] >= depth:
                    del self._provisional[full_key]
                    cache_of[full_key[0]][full_key[1]] = entry[0]
                else:
                    self._made_at.setdefault(depth, []).append(full_key)

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
        return Dict(_merge_entries(result), complete)

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

    def loader_elements(self, site) -> frozenset:
        """Batches of a DataLoader: tensors from its dataset, on the host unless the
        dataset already holds device tensors; `exact` only with the default collate."""
        bound = self.loader_arguments(site)
        if bound is None:
            return frozenset([Tensor("host", site, exact=False)])
        exact = not bound.opaque and bound.get("collate_fn") is None and self.loader_class(site) not in api.OBJECT_BATCH_LOADERS
        device = "host"
        dataset = bound.get("dataset")
        if dataset is not None and any(isinstance(v, Dataset) and v.device == "accel" for v in dataset.values):
            device = "accel"
        return frozenset([Tensor(device, site, exact)])

    def loader_arguments(self, site) -> BoundArgs | None:
        module, line, col = site
        return self.memo("loader-args", site, lambda: self._loader_arguments(module, line, col), None)

    def _loader_arguments(self, module, line, col):
        found = self.project.call_at(module, line, col)
        if found is None:
            return None
        qualname, call = found
        frame = (module, qualname)
        return self.bind(call, frame, self.loader_params(call, frame))

    def loader_params(self, call: Call, frame: tuple) -> tuple:
        """The positional parameters of the loader class a call builds."""
        for target, _ in self.targets(call, frame):
            if isinstance(target, External) and target.qualname in api.LOADER_CLASSES:
                return api.LOADER_CLASSES[target.qualname]
            if isinstance(target, Class):
                init = self.find_method(target.module, target.qualname, "__init__")
                summary = self.function(init.module, init.qualname) if init is not None else None
                if summary is not None and init.module == target.module and self.class_summary(target.module, target.qualname).methods.get("__init__"):
                    return tuple(p for p, kind in zip(summary.params[1:], summary.param_kinds[1:]) if kind == "pos")
        return api.DATALOADER_PARAMS

    def loader_class(self, site) -> str | None:
        """The canonical name of the loader class built at `site` (a project subclass of
        torch's DataLoader reads as torch's)."""
        found = self.project.call_at(*site)
        if found is None:
            return None
        qualname, call = found
        found_classes = set()
        for target, _ in self.targets(call, (site[0], qualname)):
            if isinstance(target, External) and target.qualname in api.LOADER_CLASSES:
                found_classes.add(target.qualname)
            elif isinstance(target, Class) and self.is_loader_class(target.module, target.qualname):
                found_classes.add(api.DATALOADER)
            else:
                return None  # not (only) a loader: a user class named DataLoader, say
        return found_classes.pop() if len(found_classes) == 1 else None

    def is_loader_class(self, module: str, qualname: str) -> bool:
        return any(b in api.LOADER_CLASSES for b in self.externals_of(module, qualname))

    # -- names and imports ------------------------------------------------------------------

    def name(self, module: str, qualname: str, name: str) -> frozenset:
        return self.memo("name", (module, qualname, name), lambda: self._name(module, qualname, name))

    def defining_function(self, module: str, qualname: str, name: str) -> str | None:
        """The function (or "<module>") whose binding of `name` a read in `qualname` sees."""
        function = self.function(module, qualname)
        while function is not None:
            if name in function.globals and function.kind != "module":
                return "<module>"
            if name in function.bindings:
                return function.qualname
            if function.parent is None:
                return None
            function = self.function(module, function.parent)
        return None

    def _name(self, module: str, qualname: str, name: str) -> frozenset:
        function = self.function(module, qualname)
        while function is not None:
            if name in function.globals and function.kind != "module":
                function = self.function(module, "<module>")
                continue
            bindings = function.bindings.get(name)
            if bindings:
                return union(*(self.binding_value(module, function.qualname, name, b) for b in bindings))
            if function.parent is None:
                break
            function = self.function(module, function.parent)
        return self.star_or_builtin(module, name)

    def binding_value(self, module: str, qualname: str, name: str, binding) -> frozenset:
        kind = binding.kind
        value = binding.value
        if kind == "param":
            return self.param(module, qualname, value[1])
        if kind == "import":
            return self.import_value(module, value)
        if value[0] == "k":
            return frozenset([Const(value[1], (module, binding.line, f"`{name}`"))])
        values = self.eval(value, (module, qualname))
        if kind == "assign" and any(isinstance(v, Dict) for v in values):
            values = frozenset(self.mutated_dict(v, module, qualname, name, binding) if isinstance(v, Dict) else v for v in values)
        return values

    def mutated_dict(self, value: Dict, module: str, qualname: str, name: str, binding) -> Dict:
        """A dict filled after it is built: `kw["num_workers"] = 0`, `kw.update(...)`. Only
        changes that run whenever the dict is built are known; anything else makes it
        incomplete."""
        function = self.function(module, qualname)
        entries = list(value.entries)
        complete = value.complete
        frame = (module, qualname)
        for key, stored, conditional, order in function.item_stores.get(name, ()):
            if order < binding.order:
                continue
            key_value = only_const(self.eval(key, frame))
            if conditional or binding.conditional or not isinstance(key_value, str):
                complete = False
                continue
            entries.append((key_value, self.eval(stored, frame)))
        for use in binding.uses:
            call_index = use[2]
            if call_index < 0:
                continue
            call = function.calls[call_index]
            method = call.func[2] if call.func[0] == "a" else None
            if method in ("get", "items", "keys", "values", "copy", "__getitem__"):
                continue
            if method == "update" and len(call.args) == 1 and not call.keywords and call.args[0][0] != "*":
                update = self.eval(call.args[0], frame)
                inner = next(iter(update)) if len(update) == 1 else None
                if isinstance(inner, Dict) and not call.conditional and not binding.conditional:
                    entries.extend(inner.entries)
                    complete = complete and inner.complete
                    continue
            complete = False
        return Dict(_merge_entries(entries), complete)

    def star_or_builtin(self, module: str, name: str) -> frozenset:
        top = self.function(module, "<module>")
        if top is not None:
            for binding in top.bindings.get("*", ()):
                _, source, _, level = binding.value
                target = self.map.resolve_module(module, source, level)
                if target is not None:
                    if self.module_defines(target, name):
                        return self.module_attribute(target, name)
                elif level == 0 and name not in _BUILTINS:
                    return frozenset([External(api.canonical(f"{source}.{name}"))])
        if name in _BUILTINS:
            return frozenset([External(f"builtins.{name}")])
        return UNKNOWN_SET

    def module_defines(self, target: str, name: str) -> bool:
        summary = self.project.summary(target)
        if summary is None:
            return False
        top = summary.functions.get("<module>")
        return (top is not None and name in top.bindings) or self.map.submodule(target, name) is not None

    def import_value(self, module: str, value) -> frozenset:
        _, source, name, level = value
        if not level and source.split(".")[0] in api.KNOWN_LIBRARIES:
            target = None  # the library, even when its own source tree is in the project
        else:
            target = self.map.resolve_module(module, source, level)
        if target is not None:
            if name is None:
                return frozenset([ProjectModule(target)])
            return self.module_attribute(target, name)
        namespace = None
        if (source or level) and (level or source.split(".")[0] not in api.KNOWN_LIBRARIES):
            namespace = self.map.namespace_dir(module, source, level)
        if namespace is not None:
            if name is None:
                return frozenset([ProjectDir(namespace)])
            return self.dir_attribute(namespace, name)
        if level:
            return UNKNOWN_SET  # a relative import outside the files we know
        if name is None:
            return frozenset([External(api.canonical(source))])
        return frozenset([External(api.canonical(f"{source}.{name}"))])

    def module_attribute(self, target: str, name: str) -> frozenset:
        summary = self.project.summary(target)
        if summary is not None:
            top = summary.functions.get("<module>")
            if top is not None and name in top.bindings:
                return self.name(target, "<module>", name)
        submodule = self.map.submodule(target, name)
        if submodule is not None:
            return frozenset([ProjectModule(submodule)])
        if summary is not None and summary.functions.get("<module>") is not None:
            top = summary.functions["<module>"]
            if top.bindings.get("*"):
                return self.star_or_builtin(target, name) if name not in _BUILTINS else UNKNOWN_SET
        return UNKNOWN_SET

    def dir_attribute(self, directory: str, name: str) -> frozenset:
        submodule = self.map.dir_submodule(directory, name)
        if submodule is not None:
            return frozenset([ProjectModule(submodule)])
        inner = f"{directory}/{name}"
        if inner in self.map.dirs:
            return frozenset([ProjectDir(inner)])
        return UNKNOWN_SET

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

    def class_chain(self, module: str, qualname: str) -> tuple:
        """The project classes in method resolution order (a depth-first approximation),
        and the canonical names of external bases."""
        return self.memo("mro", (module, qualname), lambda: self._class_chain(module, qualname), ((), frozenset()))

    def _class_chain(self, module: str, qualname: str):
        chain: list = []
        externals: set = set()
        seen: set = set()
        pending = [(module, qualname)]
        while pending and len(chain) < 40:
            current = pending.pop(0)
            if current in seen:
                continue
            seen.add(current)
            info = self.class_summary(*current)
            if info is None:
                continue
            chain.append(current)
            for base in info.bases:
                for value in self.eval(base, (current[0], info.parent)):
                    if isinstance(value, Class):
                        pending.append((value.module, value.qualname))
                    elif isinstance(value, External):
                        externals.add(value.qualname)
                    elif value is UNKNOWN:
                        externals.add("<unknown>")
        return (tuple(chain), frozenset(externals))

    def externals_of(self, module: str, qualname: str) -> frozenset:
        return self.class_chain(module, qualname)[1]

    def is_nn_module_class(self, module: str, qualname: str) -> bool:
        return any(
            api.is_torch_module_class(b) or b.startswith("transformers.") or b == api.LIGHTNING_MODULE
            for b in self.externals_of(module, qualname)
        )

    def subclasses(self, module: str, qualname: str) -> list:
        """The project classes that derive from this one."""
        return self.memo("subclass-index", None, self._subclass_index, {}).get((module, qualname), [])

    def _subclass_index(self) -> dict:
        index: dict = {}
        for module in self.project.modules():
            summary = self.project.summary(module)
            if summary is None:
                continue
            for qualname, info in summary.classes.items():
                if not info.bases:
                    continue
                for ancestor in self.class_chain(module, qualname)[0][1:]:
                    index.setdefault(ancestor, []).append((module, qualname))
        return index

    def find_method(self, module: str, qualname: str, name: str) -> Function | None:
        for current in self.class_chain(module, qualname)[0]:
            info = self.class_summary(*current)
            if info is not None and name in info.methods:
                return Function(current[0], info.methods[name])
        return None

    def is_static(self, function: Function) -> bool:
        summary = self.function(function.module, function.qualname)
        return summary is not None and ["n", "staticmethod"] in summary.decorators

    def find_method_after(self, module: str, qualname: str, name: str) -> Function | None:
        """What `super().name` finds in a method of this class: the next class in the MRO."""
        for current in self.class_chain(module, qualname)[0][1:]:
            info = self.class_summary(*current)
            if info is not None and name in info.methods:
                return Function(current[0], info.methods[name])
        return None

    def instance_attribute(self, instance: Instance, attr: str) -> frozenset:
        return self.memo("iattr", (instance.module, instance.qualname, attr), lambda: self._instance_attribute(instance, attr))

    def _instance_attribute(self, instance: Instance, attr: str) -> frozenset:
        out = []
        for current in self.class_chain(instance.module, instance.qualname)[0]:
            info = self.class_summary(*current)
            if info is None:
                continue
            for method, binding in info.self_attrs.get(attr, ()):
                out.append(self.binding_value(current[0], method, f"self.{attr}", binding))
            if out:
                return union(*out)
            if attr in info.methods:
                function = Function(current[0], info.methods[attr])
                return frozenset([Bound(Instance(instance.module, instance.qualname, None), attr, function)])
            body = self.function(current[0], info.body)
            if body is not None and attr in body.bindings:
                return self.name(current[0], info.body, attr)
        return UNKNOWN_SET

    def class_attribute(self, cls: Class, attr: str) -> frozenset:
        for current in self.class_chain(cls.module, cls.qualname)[0]:
            info = self.class_summary(*current)
            if info is None:
                continue
            if attr in info.methods:
                return frozenset([Function(current[0], info.methods[attr])])
            body = self.function(current[0], info.body)
            if body is not None and attr in body.bindings:
                return self.name(current[0], info.body, attr)
        return UNKNOWN_SET

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

    def method(self, receiver, name: str, call: Call, frame: tuple) -> frozenset:
        """A method of a value we model (torch objects, parsers, frameworks)."""
        if isinstance(receiver, Tensor):
            if name == "to":
                return frozenset([Tensor(self.move_target(call, frame, receiver.device), receiver.source, receiver.exact, receiver.part)])
            if name == "cuda":
                return frozenset([Tensor("accel", receiver.source, receiver.exact, receiver.part)])
            if name == "cpu":
                return frozenset([Tensor("host", receiver.source, receiver.exact, receiver.part)])
            if name == "type" and self.tensor_type_device(call, frame) is not None:
                return frozenset([Tensor("accel", receiver.source, receiver.exact, receiver.part)])
            if name == "type" and not call.args and not call.keywords:
                return frozenset([Opaque("builtins.str")])  # `x.type()`: the type's name
            if name in api.TENSOR_METHODS:
                return frozenset([receiver])
            # A batch of a loader may be a dict of tensors (the default collate keeps dicts).
            if name == "items" and receiver.source is not None:
                return frozenset([Seq(frozenset([Tup((UNKNOWN_SET, frozenset([receiver])))]))])
            if name == "values" and receiver.source is not None:
                return frozenset([Seq(frozenset([receiver]))])
            return UNKNOWN_SET
        if isinstance(receiver, (TorchModule, Instance)):
            if name in api.MODULE_SELF_METHODS:
                return frozenset([receiver])
            if isinstance(receiver, TorchModule) and name == "forward":
                return frozenset([Tensor("any")])
            return UNKNOWN_SET
        if isinstance(receiver, Parser):
            if name in ("add_argument_group", "add_mutually_exclusive_group"):
                return frozenset([receiver])
            if name == "parse_args":
                return frozenset([ParsedArgs(receiver.site)])
            if name == "parse_known_args":
                return frozenset([Tup((frozenset([ParsedArgs(receiver.site)]), UNKNOWN_SET))])
            return UNKNOWN_SET
        if isinstance(receiver, Framework):
            if receiver.kind == "accelerator":
                if name == "prepare":
                    args = [self.eval(a[1] if a[0] == "*" else a, frame) for a in call.args]
                    if len(args) == 1:
                        return args[0]
                    return frozenset([Tup(tuple(args))])
                if name in ("prepare_model", "prepare_data_loader", "prepare_optimizer", "unwrap_model") and call.args:
                    return self.eval(call.args[0], frame)
            return UNKNOWN_SET
        if isinstance(receiver, Dataset):
            if name in ("to", "cuda"):
                kind = "cuda" if name == "cuda" else self.move_device(call, frame)
                if kind is not None and kind not in ("cpu", "meta"):
                    return frozenset([Dataset(receiver.kind, "accel", receiver.site)])
            return frozenset([receiver])  # `.shuffle()`, `.index_select(...)`, `.copy()`: the same data
        if isinstance(receiver, Dict):
            if name == "get" and call.args:
                key = only_const(self.eval(call.args[0], frame))
                found = receiver.get(key) if isinstance(key, str) else None
                if found is not None:
                    return found
            if name == "copy":
                return frozenset([receiver])
            return UNKNOWN_SET
        return UNKNOWN_SET

    def move_target(self, call: Call, frame: tuple, current: str) -> str:
        """Where `.to(...)` puts a tensor: "accel", "host", or the current device for a
        dtype-only conversion."""
        kind = self.move_device(call, frame)
        if kind is None:
            return current
        if kind == "cpu":
            return "host"
        return "accel" if kind != "meta" else current

    def move_device(self, call: Call, frame: tuple) -> str | None:
        """The device kind a `.to(...)` call names: "cuda", "cpu", "any", ...; None when it
        names none (a dtype, another tensor's dtype)."""
        for keyword, value in call.keywords:
            if keyword == "device":
                return self.device_kind(self.eval(value, frame)) or "any"
            if keyword is None:
                return "any"
        for arg in call.args[:1]:
            if arg[0] == "*":
                return "any"
            values = self.eval(arg, frame)
            kind = self.device_kind(values, strict=True)
            if kind is not None:
                return kind
            if self.spelled_like_device(arg):
                return "any"
            if values and all(v is UNKNOWN or isinstance(v, Opaque) for v in values) and arg[0] in ("n", "a") and not self.spelled_like_dtype(arg):
                return "any"  # `.to(other)`: another tensor (or a device); not a dtype by its name
            return None
        return None

    def tensor_type_device(self, call: Call, frame: tuple) -> str | None:
        """`.type(torch.cuda.FloatTensor)`, a name bound to such a type, or its string name:
        a copy to CUDA ("cuda"); None for host types and dtypes."""
        args = call.args[:1] or [value for keyword, value in call.keywords if keyword == "dtype"]
        if not args or args[0][0] == "*":
            return None
        for value in self.eval(args[0], frame):
            if isinstance(value, External):
                name = value.qualname
            elif isinstance(value, Const) and isinstance(value.value, str):
                name = value.value
            else:
                continue
            if name.startswith("torch.cuda.") and name.endswith("Tensor"):
                return "cuda"
        return None

    def spelled_like_dtype(self, expr) -> bool:
        name = expr[1] if expr[0] == "n" else expr[2] if expr[0] == "a" else ""
        return bool(api.DTYPE_NAME.search(name)) or (expr[0] == "a" and expr[1] in (["n", "torch"], ["n", "th"], ["n", "np"]))

    def spelled_like_device(self, expr) -> bool:
        name = expr[1] if expr[0] == "n" else expr[2] if expr[0] == "a" else None
        return isinstance(name, str) and bool(api.DEVICE_NAME.search(name))

    def device_kind(self, values: frozenset, strict: bool = False) -> str | None:
        """"cpu" only when every value is the CPU; an accelerator kind when one is; "any"
        for unknown devices (None with strict=True, for `.to(x)` where x may be a dtype)."""
        kinds = set()
        for value in values:
            if isinstance(value, Device):
                kinds.add(value.kind)
            elif isinstance(value, Const) and isinstance(value.value, str):
                kind = api.device_kind_of_string(value.value)
                if kind is None:
                    return None if strict else "any"
                kinds.add(kind)
            elif isinstance(value, Const) and type(value.value) is int:
                kinds.add("cuda")  # a CUDA device index
            elif isinstance(value, StrPrefix):
                kinds.add(api.device_kind_of_string(value.prefix) or "any")
            elif isinstance(value, Tensor):
                # `.to(other)` takes the other tensor's dtype and device.
                kinds.add({"host": "cpu", "accel": "any"}.get(value.device, "any"))
            elif isinstance(value, External):
                if value.qualname.startswith("torch.") and not value.qualname.startswith("torch.device"):
                    return None  # torch.float16 and friends
                kinds.add("any")
            else:
                if strict:
                    return None
                kinds.add("any")
        if not kinds:
            return None
        if kinds == {"cpu"}:
            return "cpu"
        if kinds == {"meta"}:
            return "meta"
        accelerators = kinds - {"cpu", "meta"}
        if len(accelerators) == 1:
            return accelerators.pop()
        return "any"

    # -- external APIs -----------------------------------------------------------------------

    def external_call(self, qualname: str, call: Call, frame: tuple) -> frozenset:
        q = api.canonical(qualname)
        site = self.site(frame[0], call)
        first = call.args[0] if call.args and call.args[0][0] != "*" else None
        if q in api.LOADER_CLASSES:
            return frozenset([Loader(site)])
        if q in api.PASS_THROUGH:
            return self.eval(first, frame) if first is not None else UNKNOWN_SET
        if q.startswith("builtins."):
            return self.builtin_call(q[len("builtins."):], call, frame)
        head, _, last = q.rpartition(".")
        if head == "torch" and (last in api.TENSOR_FACTORIES or last == "from_numpy"):
            return frozenset([Tensor(self.created_on(call, frame))])
        if head == "torch" and last in api.TENSOR_FUNCTIONS:
            return frozenset([Tensor(self.created_on(call, frame, default=self.operands_device(call, frame)))])
        if q == "torch.device":
            if first is None:
                return frozenset([Device("any")])
            return frozenset([Device(self.device_kind(self.eval(first, frame)) or "any")])
        if q == "torch.utils.data.TensorDataset":
            devices = {v.device for a in call.args for v in self.eval(a[1] if a[0] == "*" else a, frame) if isinstance(v, Tensor)}
            return frozenset([Dataset("rows", "accel" if "accel" in devices else "host", site)])
        if q in api.DATASET_WRAPPERS:
            return self.eval(first, frame) if first is not None else UNKNOWN_SET
        if q == "torch.utils.data.random_split":
            return frozenset([Seq(self.eval(first, frame))]) if first is not None else UNKNOWN_SET
        if q == "torch.utils.data.ConcatDataset":
            return self.elements(self.eval(first, frame)) if first is not None else UNKNOWN_SET
        if q.startswith("torchvision.datasets.") and last[:1].isupper():
            return frozenset([Dataset("io", site=site)])
        if q.startswith("torch_geometric.datasets.") and last[:1].isupper():
            # In memory once processed; a `transform` runs per sample in the loader.
            return frozenset([Dataset("io" if any(k == "transform" for k, _ in call.keywords) else "rows", site=site)])
        if q.startswith(api.HF_DATASET_BUILDERS):
            return frozenset([Dataset("rows", site=site)])
        if q in api.MODULE_WRAPPERS:
            return self.eval(first, frame) if first is not None else UNKNOWN_SET
        placed = any(keyword in api.PLACING_KEYWORDS for keyword, _ in call.keywords)
        if q == "torch.nn.ModuleList" and first is not None:
            return frozenset([Seq(self.elements(self.eval(first, frame)))])  # iterated and indexed as a list
        if api.is_torch_module_class(q) or api.is_module_builder(q):
            return frozenset([TorchModule(q, site, placed)])
        if q.startswith("torch.optim.") and last[:1].isupper() and "lr_scheduler" not in q:
            return frozenset([Optimizer(site)])
        if q == "argparse.ArgumentParser":
            return frozenset([Parser(site)])
        if q == api.LIGHTNING_TRAINER:
            return frozenset([Framework("lightning-trainer", site)])
        if api.is_hf_trainer(q):
            return frozenset([Framework("hf-trainer", site)])
        if q == api.ACCELERATOR:
            return frozenset([Framework("accelerator", site)])
        if q in api.IGNITE_TRAINER_FACTORIES or q in api.IGNITE_ENGINE:
            return frozenset([Framework("ignite-engine", site)])
        if q.startswith("torch.nn.functional."):
            return frozenset([Tensor("any")])
        if q.split(".")[0] in api.LIBRARY_PACKAGES:
            return frozenset([Opaque(q)])
        return UNKNOWN_SET  # a module we cannot see (not installed here, or generated): anything

    def operands_device(self, call: Call, frame: tuple) -> str:
        """Where a torch function's result lives: with its tensor operands when they all
        live in one place (`torch.argmax(host_scores)` stays on the host), else "any"."""
        devices = set()
        for arg in call.args:
            for value in self.eval(arg[1] if arg[0] == "*" else arg, frame):
                if isinstance(value, Tensor):
                    devices.add(value.device)
                elif isinstance(value, (Tup, Seq)):
                    devices.add("any")  # `torch.cat([a, b])`: not followed
        return devices.pop() if len(devices) == 1 else "any"

    def created_on(self, call: Call, frame: tuple, default: str = "host") -> str:
        for keyword, value in call.keywords:
            if keyword == "device":
                kind = self.device_kind(self.eval(value, frame))
                return "host" if kind == "cpu" else "accel" if kind is not None else "any"
            if keyword is None:
                return "any"
        return default

    def builtin_call(self, name: str, call: Call, frame: tuple) -> frozenset:
        args = [self.eval(a[1] if a[0] == "*" else a, frame) for a in call.args]
        if name == "enumerate" and args:
            return frozenset([Seq(frozenset([Tup((UNKNOWN_SET, self.elements(args[0])))]))])
        if name == "zip" and args and not any(a[0] == "*" for a in call.args):
            return frozenset([Seq(frozenset([Tup(tuple(self.elements(a) for a in args))]))])
        if name == "next" and args:
            return self.elements(args[0])
        if name in ("list", "tuple", "sorted", "set") and args:
            return frozenset([Seq(self.elements(args[0]))])
        if name == "range":
            return frozenset([Seq(UNKNOWN_SET)])
        if name == "super":
            owner = self._owner_class(frame, call, args)
            return frozenset([owner]) if owner is not None else UNKNOWN_SET
        if name == "dict":
            entries = []
            complete = True
            for keyword, value in call.keywords:
                if keyword is None:
                    splat = self.eval(value, frame)
                    inner = next(iter(splat)) if len(splat) == 1 else None
                    if isinstance(inner, Dict):
                        entries.extend(inner.entries)
                        complete = complete and inner.complete
                    else:
                        complete = False
                else:
                    entries.append((keyword, self.eval(value, frame)))
            if args:
                complete = False
            return frozenset([Dict(_merge_entries(entries), complete)])
        return UNKNOWN_SET

    def _owner_class(self, frame: tuple, call: Call, args: list) -> Super | None:
        if args:
            classes = [v for v in args[0] if isinstance(v, Class)]
            return Super(classes[0].module, classes[0].qualname) if len(classes) == 1 else None
        function = self.function(*frame)
        while function is not None and function.owner is None and function.parent:
            function = self.function(frame[0], function.parent)  # `super()` in a nested function or comprehension
        if function is None or function.owner is None:
            return None
        return Super(frame[0], function.owner)

    # -- arguments and parameters -------------------------------------------------------------

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
            for module in self.project.modules():
                summary = self.project.summary(module)
                if summary is None:
                    continue
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

    # -- argparse ---------------------------------------------------------------------------

    def parsed_arg(self, value: ParsedArgs, attr: str) -> frozenset:
        options = self.argparse_options()
        if value.parser is not None:
            found = options.get(value.parser, {}).get(attr)
            return found if found is not None else UNKNOWN_SET
        # An `args` parameter of unknown origin: every parser in the project must agree.
        found = [table[attr] for table in options.values() if attr in table]
        if not found:
            return UNKNOWN_SET
        agreed = only_const(union(*found))
        if agreed is UNKNOWN:
            return UNKNOWN_SET
        return found[0]

    def argparse_options(self) -> dict:
        """parser site -> dest -> default values, from every `add_argument` and
        `set_defaults` whose receiver is that parser (in any module)."""
        if self._argparse is None:
            self._argparse = {}
            declared: dict = {}
            for module, qualname, index in self.calls_named("add_argument", "set_defaults"):
                function = self.function(module, qualname)
                call = function.calls[index]
                frame = (module, qualname)
                parsers = [v for v in self.eval(call.func[1], frame) if isinstance(v, Parser)]
                for parser in parsers:
                    table = declared.setdefault(parser.site, {})
                    if call.func[2] == "set_defaults":
                        for keyword, value in call.keywords:
                            if keyword is not None:
                                table[keyword] = (self._const_with_origin(value, frame, module, call, f"`{keyword}` default"), True)
                        continue
                    dest, flag = self._argparse_dest(call, frame)
                    if dest is None:
                        continue
                    default = None
                    action = None
                    for keyword, value in call.keywords:
                        if keyword == "default":
                            default = value
                        elif keyword == "action":
                            action = only_const(self.eval(value, frame))
                    if default is not None:
                        values = self._const_with_origin(default, frame, module, call, f"`{flag}` default")
                    elif action == "store_true":
                        values = frozenset([Const(False, (module, call.span.line, f"`{flag}`"))])
                    elif action == "store_false":
                        values = frozenset([Const(True, (module, call.span.line, f"`{flag}`"))])
                    else:
                        values = frozenset([Const(None, (module, call.span.line, f"`{flag}`"))])
                    previous = table.get(dest)
                    if previous is not None and previous[1]:
                        continue  # set_defaults wins over argument defaults
                    if previous is not None and only_const(union(previous[0], values)) is UNKNOWN:
                        values = UNKNOWN_SET
                    table[dest] = (values, False)
            self._argparse = {site: {dest: v[0] for dest, v in table.items()} for site, table in declared.items()}
        return self._argparse

    def _const_with_origin(self, expr, frame, module, call, what) -> frozenset:
        values = self.eval(expr, frame)
        return frozenset(Const(v.value, (module, call.span.line, what)) if isinstance(v, Const) else v for v in values)

    def _argparse_dest(self, call: Call, frame: tuple):
        for keyword, value in call.keywords:
            if keyword == "dest":
                dest = only_const(self.eval(value, frame))
                return (dest, dest) if isinstance(dest, str) else (None, None)
        flags = []
        for arg in call.args:
            if arg[0] != "k" or not isinstance(arg[1], str):
                break
            flags.append(arg[1])
        if not flags:
            return None, None
        long_flags = [f for f in flags if f.startswith("--")]
        chosen = long_flags[0] if long_flags else flags[0]
        dest = chosen.lstrip("-").replace("-", "_")
        return (dest or None), chosen


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


def _merge_entries(entries: list) -> tuple:
    """Later keys win, as in a dict display."""
    merged: dict = {}
    for key, value in entries:
        merged[key] = value
    return tuple(merged.items())

