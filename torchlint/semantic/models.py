"""Trained models: the models whose forward pass the training loops (and the functions
that are a training step) run per step, and whether a model has parameters at all.
"""

from __future__ import annotations

from torchlint.semantic import api
from torchlint.semantic.placement import models_in
from torchlint.semantic.steps import STEP
from torchlint.semantic.values import UNKNOWN, External, Instance, Seq, TorchModule


class TrainedModels:
    """Trained models and their parameters (a mixin of `Training`)."""

    def trained_models(self) -> dict:
        """Model site -> (the model value, [(module, qualname, evidence)] of the training
        loops that run its forward pass per step)."""
        return self.ev.memo("trained-models", None, self._trained_models, {})

    def trained_models_built_in(self, module: str) -> list:
        """The (site, (value, contexts)) of `trained_models` whose model is built in
        `module`: each module's rules ask for their own, not for the whole project's."""
        def index() -> dict:
            by_module: dict = {}
            for site, entry in self.trained_models().items():
                by_module.setdefault(site[0], []).append((site, entry))
            return by_module

        return self.ev.memo("trained-models-by-site", None, index, {}).get(module, [])

    def models_trained_in(self, module: str) -> list:
        """(model value, qualname, evidence) for each training loop of `module` and model
        whose forward pass it runs per step."""
        def index() -> dict:
            by_module: dict = {}
            for value, contexts in self.trained_models().values():
                for context_module, qualname, evidence in contexts:
                    by_module.setdefault(context_module, []).append((value, qualname, evidence))
            return by_module

        return self.ev.memo("trained-models-by-loop", None, index, {}).get(module, [])

    def _trained_models(self) -> dict:
        found: dict = {}

        def record(value, context) -> None:
            entry = found.setdefault(value.site, (value, []))
            if context not in entry[1]:
                entry[1].append(context)

        project = self.ev.project
        for module, summary in project.summaries():
            for qualname, function in summary.functions.items():
                steps = {loop for loop, role in self.loop_roles(module, qualname).items() if role == STEP}
                if not steps:
                    continue
                context = (module, qualname, self.evidence(module, qualname))
                calls = [(module, qualname, c) for c in function.calls if steps.intersection(c.loops)]
                for value in self._called_modules(calls):
                    record(value, context)
        # Functions that are a training step (an ignite process function, `learn()` in RL):
        # the models they run are trained, wherever the loop that calls them is.
        self.per_step_functions()
        for (module, qualname), roots in self._per_step_roots.items():
            if (module, qualname, "train") not in roots or self.loop_roles(module, qualname):
                continue
            function = self.ev.function(module, qualname)
            context = (module, qualname, self.hot_evidence(module, qualname))
            for value in self._called_modules([(module, qualname, c) for c in function.calls if not c.decorator]):
                record(value, context)
        # ignite's create_supervised_trainer(model, ...): the engine runs the steps and moves
        # the batches to `device`, but not the model.
        for module, qualname, index in self.ev.calls_named("create_supervised_trainer"):
            call = self.ev.function(module, qualname).calls[index]
            frame = (module, qualname)
            if not any(isinstance(t, External) and t.qualname in api.IGNITE_TRAINER_FACTORIES for t, _ in self.ev.targets(call, frame)):
                continue
            if not call.args or call.args[0][0] == "*":
                continue
            device = None
            for keyword, value in call.keywords:
                if keyword == "device":
                    kind = self.ev.device_kind(self.ev.eval(value, frame))
                    device = None if kind in (None, "cpu", "meta") else ("cuda" if kind == "cuda" else "accel")
            context = (module, qualname, device or self.evidence(module, qualname))
            for value in self.ev.eval(call.args[0], frame):
                for model in models_in(value):
                    record(model, context)
        return found

    def _called_modules(self, calls: list, limit: int = 3000) -> list:
        """Models whose forward these calls run, directly or in the functions they call."""
        found = []
        seen_functions = set()
        pending = list(calls)
        while pending and limit:
            limit -= 1
            module, qualname, call = pending.pop()
            frame = (module, qualname)
            for target, _ in self.ev.targets(call, frame):
                if isinstance(target, (Instance, TorchModule)) and target.site is not None:
                    if isinstance(target, TorchModule) or self.ev.is_nn_module_class(target.module, target.qualname):
                        found.append(target)
            for callee in self.callees(module, qualname, call):
                key = (callee.module, callee.qualname)
                if key in seen_functions:
                    continue
                seen_functions.add(key)
                function = self.ev.function(*key)
                if function is not None:
                    pending.extend((callee.module, callee.qualname, c) for c in function.calls if not c.decorator)
        return found

    def has_parameters(self, value) -> bool:
        """False for losses and parameter-free layers (`nn.CrossEntropyLoss()`) and project
        modules that create no parameters or submodules."""
        if isinstance(value, TorchModule):
            return not api.is_loss_or_parameter_free(value.qualname)
        if isinstance(value, Instance):
            return bool(self.ev.memo("has-params", (value.module, value.qualname), lambda: self._class_has_parameters(value), False))
        return False

    def _class_has_parameters(self, value: Instance) -> bool:
        chain, externals = self.ev.class_chain(value.module, value.qualname)
        if any(b != "torch.nn.Module" and (api.is_torch_module_class(b) or b.startswith("transformers.")) for b in externals):
            return True  # nn.Sequential, nn.Linear, a LightningModule, a pretrained model
        if "<unknown>" in externals:
            return True
        for module, qualname in chain:
            info = self.ev.class_summary(module, qualname)
            for attr, entries in info.self_attrs.items():
                for method, binding in entries:
                    values = self.ev.binding_value(module, method, attr, binding)
                    for v in values:
                        if isinstance(v, TorchModule) and not api.is_loss_or_parameter_free(v.qualname):
                            return True
                        if isinstance(v, Instance) and self.ev.is_nn_module_class(v.module, v.qualname) and (v.module, v.qualname) != (value.module, value.qualname):
                            if self.has_parameters(v):
                                return True
                        if isinstance(v, External) and v.qualname.startswith("torch.nn."):
                            return True
                        if (v is UNKNOWN or isinstance(v, Seq)) and binding.value[0] == "c":
                            call = self.ev.function(module, method).calls[binding.value[1]]
                            name = call.func[1] if call.func[0] == "n" else call.func[2] if call.func[0] == "a" else ""
                            if name in ("Parameter", "ModuleList", "ModuleDict", "Sequential", "Embedding", "Linear"):
                                return True
            for method in info.methods.values():
                function = self.ev.function(module, method)
                for call in function.calls:
                    if call.func[0] == "a" and call.func[2] in ("register_parameter", "add_module", "register_module"):
                        return True
                    if call.func[0] in ("n", "a") and call.func[-1] == "Parameter":
                        return True
        return False
