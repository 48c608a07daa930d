"""Names and imports: the value of a name read in a function (the union over its
bindings, flow-insensitive), resolved like Python's: the function, its enclosing
functions (class bodies skipped), the module, star imports, builtins; imports resolve
through the project index or become `External` names.
"""

from __future__ import annotations

import builtins

from torchlint.semantic import api
from torchlint.semantic.values import (
    UNKNOWN_SET,
    Const,
    Dict,
    External,
    ProjectDir,
    ProjectModule,
    merge_entries,
    only_const,
    union,
)

_BUILTINS = frozenset(dir(builtins))


class Names:
    """Name and import resolution (a mixin of `Evaluator`)."""

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
        if kind == "import" and value[0] == "imp":  # (`global x; import x` in a function is ["in", ...])
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
        return Dict(merge_entries(entries), complete)

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
