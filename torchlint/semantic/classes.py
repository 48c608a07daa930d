"""The class hierarchy: a project class's bases in method resolution order and its
external (library) bases, its subclasses, method lookup (`super()` included), and the
attributes of classes and instances (`self.x = ...` in any method).
"""

from __future__ import annotations

from torchlint.project.summary import Call
from torchlint.semantic import api
from torchlint.semantic.values import UNKNOWN, UNKNOWN_SET, Bound, Class, External, Function, Instance, Super, union


class Classes:
    """Classes and instances (a mixin of `Evaluator`)."""

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
        for module, summary in self.project.summaries():
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
