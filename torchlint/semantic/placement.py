"""Placement: every move of the project towards an accelerator (`.to(device)`, `.cuda()`,
...), the datasets and names it moves, and the models that reach a device: moved, placed
by a framework (accelerate, Lightning, the HF Trainer, FSDP, ignite), or a submodule of
one that is.
"""

from __future__ import annotations

from torchlint.project.summary import Call
from torchlint.semantic import api
from torchlint.semantic.values import Bound, Dataset, External, Framework, Instance, TorchModule, Tup


class Placement:
    """Moves to accelerators and placed models (a mixin of `Training`)."""

    def moves(self) -> list:
        """Every `.to(...)`, `.cuda()`, `.to_empty(...)`, `.type(torch.cuda.FloatTensor)`
        call of the project towards an accelerator: [(module, qualname, call, receiver
        values, device kind)]."""
        if self._moves is None:
            found = []
            ev = self.ev
            for module, qualname, index in ev.calls_named("to", "cuda", "to_empty", "xpu", "type"):
                function = ev.function(module, qualname)
                call = function.calls[index]
                if call.func[0] != "a":
                    continue
                frame = (module, qualname)
                name = call.func[2]
                if name == "cuda":
                    kind = "cuda"
                elif name == "xpu":
                    kind = "xpu"
                elif name == "to_empty":
                    kind = "any"
                elif name == "type":
                    kind = ev.tensor_type_device(call, frame)
                else:
                    kind = ev.move_device(call, frame)
                if kind is None or kind in ("cpu", "meta"):
                    continue
                found.append((module, qualname, call, ev.eval(call.func[1], frame), kind))
            self._moves = found
        return self._moves

    def moved_data_sites(self) -> frozenset:
        """Sites of datasets (or PyG graphs) moved to an accelerator, in place or not."""
        def compute():
            return frozenset(
                value.site for _, _, _, receivers, _ in self.moves() for value in receivers
                if isinstance(value, Dataset) and value.site is not None
            )

        return self.ev.memo("moved-data", None, compute, frozenset())

    def moved_names(self) -> frozenset:
        """(module, defining function, name) of every plain name moved to an accelerator,
        `data.to(device)` included (in place for a PyG graph, whatever its value is)."""
        def compute():
            found = set()
            for module, qualname, call, _, _ in self.moves():
                receiver = call.func[1]
                if receiver[0] == "n":
                    defining = self.ev.defining_function(module, qualname, receiver[1])
                    if defining is not None:
                        found.add((module, defining, receiver[1]))
            return frozenset(found)

        return self.ev.memo("moved-names", None, compute, frozenset())

    def placed_models(self) -> dict:
        """Model sites -> how they reach the device: moved, placed by a framework, or part
        of a model that is (a submodule assigned to `self.x` moves with its parent).
        Modules built inside a LightningModule are placed by Lightning."""
        return self.ev.memo("placed-models", None, self._placed_models, {})

    def _placed_models(self) -> dict:
        placed: dict = {}
        values: list = []
        for _, _, _, receivers, kind in self.moves():
            for value in receivers:
                for model in models_in(value):
                    placed.setdefault(model.site, "moved")
                    values.append(model)
        ev = self.ev
        for module, qualname, index in ev.calls_named("prepare", "prepare_model", "fit", "Trainer", "FullyShardedDataParallel", "FSDP", "setup", "auto_model"):
            function = ev.function(module, qualname)
            call = function.calls[index]
            frame = (module, qualname)
            how = self._placing_call(call, frame)
            if how is None:
                continue
            for arg in call.args + [k[1] for k in call.keywords if k[0] in ("model", "module", None)]:
                expr = arg[1] if arg[0] == "*" else arg
                for value in ev.eval(expr, frame):
                    for model in models_in(value):
                        placed.setdefault(model.site, how)
                        values.append(model)
        # Submodules go where their parent goes.
        seen = set()
        while values:
            value = values.pop()
            if not isinstance(value, Instance) or (value.module, value.qualname) in seen:
                continue
            seen.add((value.module, value.qualname))
            for child in self.submodules(value):
                placed.setdefault(child.site, placed.get(value.site, "moved") if value.site else "moved")
                values.append(child)
        return placed

    def submodules(self, value: Instance) -> list:
        """Models assigned to `self.<attr>` by the class of `value` (and its bases)."""
        found = []
        chain, _ = self.ev.class_chain(value.module, value.qualname)
        for module, qualname in chain:
            info = self.ev.class_summary(module, qualname)
            for attr in info.self_attrs:
                for child in self.ev.instance_attribute(Instance(value.module, value.qualname, None), attr):
                    found.extend(models_in(child))
        return found

    def built_in_lightning_module(self, site) -> bool:
        found = self.ev.project.call_at(*site)
        if found is None:
            return False
        function = self.ev.function(site[0], found[0])
        while function is not None:
            if function.owner is not None and api.LIGHTNING_MODULE in self.ev.externals_of(site[0], function.owner):
                return True
            function = self.ev.function(site[0], function.parent) if function.parent else None
        return False

    def _placing_call(self, call: Call, frame: tuple) -> str | None:
        ev = self.ev
        for target, _ in ev.targets(call, frame):
            if isinstance(target, Bound) and isinstance(target.receiver, Framework):
                if target.receiver.kind == "accelerator" and target.name in ("prepare", "prepare_model"):
                    return "accelerate"
                if target.receiver.kind == "lightning-trainer" and target.name == "fit":
                    return "Lightning"
                if target.receiver.kind == "fabric" and target.name == "setup":
                    return "Fabric"
            if isinstance(target, External):
                if api.is_hf_trainer(target.qualname):
                    return "the Hugging Face Trainer"
                if target.qualname in api.PLACING_WRAPPERS:
                    return "ignite"
                if target.qualname.endswith(("FullyShardedDataParallel", "FSDP")) and any(k[0] == "device_id" for k in call.keywords):
                    return "FSDP"
        return None


def models_in(value) -> list:
    if isinstance(value, (Instance, TorchModule)) and value.site is not None:
        return [value]
    if isinstance(value, Tup):
        return [m for item in value.items for v in item for m in models_in(v)]
    return []
