"""Frequency: how often a call runs. Functions run per step when a hot loop (a step or
data loop), a framework's per-step hook, an ignite process function or handler, or
another per-step function calls them; a guard (semantic/guards.py) between a call and
that loop makes it EVERY_K; a data loop that is not a training step (evaluation) runs
PER_BATCH.
"""

from __future__ import annotations

import re
from enum import StrEnum

from torchlint.project.summary import Call, spelled_name
from torchlint.semantic import api
from torchlint.semantic.steps import DATA, EPOCH, STEP
from torchlint.semantic.values import UNKNOWN, Class, External, Function, Instance

class Frequency(StrEnum):
    """How often a line runs, inside the training program."""

    ONCE = "once"
    PER_EPOCH = "per-epoch"
    PER_STEP = "per-step"  # every training step (or more often)
    PER_BATCH = "per-batch"  # every batch of a data loop that is not a training step (evaluation)
    EVERY_K = "every-k"  # under a guard inside a step or batch loop: every k steps, a flag, once

    @property
    def hot(self) -> bool:
        """Per step or per batch, ungated."""
        return self in (Frequency.PER_STEP, Frequency.PER_BATCH)


class FrequencyModel:
    """Per-step functions and the frequency of calls (a mixin of `Training`)."""

    def per_step_functions(self) -> dict:
        """(module, qualname) -> why it runs per step."""
        if self._per_step is None:
            self._per_step = {}
            self._per_step_roots = {}
            self._compute_per_step()
        return self._per_step

    def _compute_per_step(self) -> None:
        """Top-down from the hot loops and the frameworks' per-step hooks, through calls:
        every function reached runs per step. Each remembers its roots, (module, qualname,
        "train" | "eval"): the functions whose loops (or hooks) make it run, and whether
        that is a training step or an evaluation step."""
        found = self._per_step
        roots = self._per_step_roots
        pending: list = []

        def add(function: Function, why: str, root: tuple) -> None:
            key = (function.module, function.qualname)
            if self.ev.function(*key) is None:
                return
            known = roots.setdefault(key, set())
            if root in known:
                return
            known.add(root)
            found.setdefault(key, why)
            pending.append((key, root))

        unresolved: set = set()  # roots under which an unresolved model is called
        project = self.ev.project
        for module, summary in project.summaries():
            for qualname, function in summary.functions.items():
                roles = self.loop_roles(module, qualname) if function.loops else {}
                steps = {loop for loop, role in roles.items() if role == STEP}
                data = {loop for loop, role in roles.items() if role == DATA}
                if not steps and not data:
                    continue
                for call in function.calls:
                    if self.gated(module, qualname, call):
                        continue
                    # The innermost hot loop decides: an evaluation loop inside the training
                    # loop (every N steps) runs evaluation steps, not training steps.
                    hot = [loop for loop in call.loops if loop in steps or loop in data]
                    if not hot:
                        continue
                    root = (module, qualname, "train" if hot[-1] in steps else "eval")
                    for callee in self.callees(module, qualname, call, forward=True):
                        add(callee, f"called from a training loop in {qualname}", root)
                    if self._calls_unknown(module, qualname, call):
                        unresolved.add(root)
            for qualname, info in summary.classes.items():
                for name, why, kind in self._hook_methods(module, qualname):
                    if name in info.methods:
                        root = (module, info.methods[name], kind)
                        # Lightning and the HF Trainer use CUDA where there is one.
                        self._root_evidence[root] = "cuda"
                        add(Function(module, info.methods[name]), why, root)
        # A function that runs a training step when called (`loss.backward()` outside any
        # loop of its own) and is called from a loop: its body runs once per training
        # step, however often that is (every k environment steps in reinforcement
        # learning, say). Called once (a demo's single step), it is set-up code.
        for module, qualname, index in self.ev.calls_named("backward", "manual_backward", "step"):
            function = self.ev.function(module, qualname)
            call = function.calls[index]
            if (not call.loops and not call.decorator and function.kind == "function"
                    and self.is_step_call(module, qualname, call) and self._called_in_a_loop(module, qualname)):
                add(Function(module, qualname), "runs a training step", (module, qualname, "train"))
        for _, function in self.ev.ignite_engines():
            kind = "train" if self.trains_once(function.module, function.qualname) else "eval"
            add(function, "an ignite process function (runs per iteration)", (function.module, function.qualname, kind))
        for function in self._ignite_handlers("ITERATION_COMPLETED", "ITERATION_STARTED"):
            add(function, "an ignite ITERATION handler", (function.module, function.qualname, "train"))
        fallback_done: set = set()
        while pending:
            (module, qualname), root = pending.pop()
            function = self.ev.function(module, qualname)
            for call in function.calls:
                if call.decorator or self.gated(module, qualname, call):
                    continue
                for callee in self.callees(module, qualname, call, forward=True):
                    add(callee, f"called per step from {qualname}", root)
                if self._calls_unknown(module, qualname, call):
                    unresolved.add(root)
            if not pending and unresolved - fallback_done:
                # A model we cannot resolve (a registry, getattr) runs per step: any module
                # class of the project may be it.
                new_roots = unresolved - fallback_done
                fallback_done |= new_roots
                for other in project.modules():
                    summary = project.summary(other)
                    if summary is None:
                        continue
                    for class_qualname, info in summary.classes.items():
                        if "forward" in info.methods and self.ev.is_nn_module_class(other, class_qualname) and self._built(other, class_qualname):
                            for root in new_roots:
                                add(Function(other, info.methods["forward"]),
                                    "forward() of a module class (the trained model is not resolved)", root)

    def called_in_a_loop(self, module: str, qualname: str) -> bool:
        return bool(self.ev.memo("called-in-a-loop", (module, qualname), lambda: self._called_in_a_loop(module, qualname), False))

    def _called_in_a_loop(self, module: str, qualname: str, depth: int = 3) -> bool:
        """Is the function called inside a loop, directly or through up to `depth` callers?"""
        if depth == 0:
            return False
        for caller_module, caller, index, _ in self.ev.callers(module, qualname):
            if self.ev.function(caller_module, caller).calls[index].loops:
                return True
            if self._called_in_a_loop(caller_module, caller, depth - 1):
                return True
        return False

    def _built(self, module: str, qualname: str) -> bool:
        """Is the class instantiated somewhere in the project (by name, a registry entry or
        a subclass)? A class nothing builds is no candidate for the unresolved model."""
        def compute():
            info = self.ev.class_summary(module, qualname)
            for caller_module, caller, index in self.ev.calls_named(info.name):
                call = self.ev.function(caller_module, caller).calls[index]
                targets = [t for t, _ in self.ev.targets(call, (caller_module, caller))]
                if any(isinstance(t, Class) and (t.module, t.qualname) == (module, qualname) for t in targets):
                    return True
                if targets and all(
                    t is UNKNOWN or (isinstance(t, External) and t.qualname.split(".")[0] not in api.LIBRARY_PACKAGES)
                    for t in targets
                ):
                    return True  # `pkg.MoCo(...)` through an import path we cannot follow
            return self._referenced(module, qualname, info.name)

        return bool(self.ev.memo("built", (module, qualname), compute, False))

    def _referenced(self, module: str, qualname: str, name: str) -> bool:
        """Named as a value (not called) in some module of the project: `MODELS = {"a": A}`,
        `builder = A`, `getattr(models, "A")` cannot be seen, a registry can."""
        return name in self.ev.memo("value-names", None, self._value_names, frozenset())

    def _value_names(self) -> frozenset:
        """Every name the project's bindings hold as a value (one pass over the project)."""
        names: set = set()
        for other in self.ev.project.modules():
            summary = self.ev.project.summary(other)
            if summary is None:
                continue
            for function in summary.functions.values():
                for bindings in function.bindings.values():
                    for binding in bindings:
                        _collect_value_names(binding.value, names)
        return frozenset(names)

    def gated(self, module: str, qualname: str, call, hot_roles=(STEP, DATA)) -> bool:
        """Is the call under a guard (every k steps, a flag, first iteration, an error),
        its own or one on a loop around it inside the innermost hot loop? A guarded loop
        that is itself a step loop (a delayed policy update in RL) is a step of its own."""
        if call.gate:
            return True
        if not call.loops:
            return False
        function = self.ev.function(module, qualname)
        roles = self.loop_roles(module, qualname)
        hot = [position for position, loop in enumerate(call.loops) if roles.get(loop) in hot_roles]
        inner = call.loops[hot[-1] + 1 :] if hot else call.loops
        return any(function.loops[loop].gate for loop in inner)

    def runs_per_training_step(self, module: str, qualname: str, call) -> bool:
        """Does this call run once per training step (or more often), not gated?"""
        if self.gated(module, qualname, call, hot_roles=(STEP,)):
            return False
        roles = self.loop_roles(module, qualname)
        if any(roles.get(loop) == STEP for loop in call.loops):
            return True
        self.per_step_functions()
        return any(root[2] == "train" for root in self._per_step_roots.get((module, qualname), ()))

    def _calls_unknown(self, module: str, qualname: str, call: Call) -> bool:
        """`model(x)` or `self.model(x)` where the model cannot be resolved: a name or an
        attribute the project assigns, whose value we cannot follow (a registry, a config
        instantiation). Library objects (a tokenizer) and inherited methods (`self.log`)
        are not models."""
        func = call.func
        spelled = spelled_name(func)
        if not isinstance(spelled, str) or _NOT_MODELS.search(spelled):
            return False
        function = self.ev.function(module, qualname)
        if function.owner is not None and self.ev.is_nn_module_class(module, function.owner):
            return False  # a layer of a model we already follow, not the model being trained
        if func[0] == "n":
            return UNKNOWN in self.ev.eval(func, (module, qualname))
        if func[0] == "a" and func[1][0] == "n":
            receivers = [r for r in self.ev.eval(func[1], (module, qualname)) if isinstance(r, Instance)]
            for receiver in receivers:
                assigned = any(
                    func[2] in self.ev.class_summary(*c).self_attrs
                    for c in self.ev.class_chain(receiver.module, receiver.qualname)[0]
                )
                if assigned and UNKNOWN in self.ev.instance_attribute(receiver, func[2]):
                    return True
        return False

    def _hook_methods(self, module: str, qualname: str) -> list:
        """(method name, why, "train" | "eval") for the frameworks' per-step hooks."""
        externals = self.ev.externals_of(module, qualname)
        hooks = []
        if api.LIGHTNING_MODULE in externals:
            hooks += [(name, "a Lightning per-step hook", "train") for name in api.LIGHTNING_STEP_HOOKS]
            hooks += [(name, "a Lightning evaluation step", "eval") for name in api.LIGHTNING_EVAL_STEP_HOOKS]
        if any(api.is_hf_trainer(b) for b in externals):
            hooks += [(name, "a Hugging Face Trainer step", "train") for name in api.HF_TRAINER_STEP_METHODS]
        if any(b.startswith("transformers.") and b.endswith("TrainerCallback") for b in externals):
            hooks += [(name, "a Hugging Face per-step callback", "train") for name in api.HF_CALLBACK_STEP_HOOKS]
        if any(b.startswith(("lightning.pytorch.Callback", "lightning.pytorch.callbacks")) for b in externals):
            hooks += [(name, "a Lightning per-step callback", "train")
                      for name in ("on_train_batch_start", "on_train_batch_end", "on_before_backward", "on_after_backward")]
        return hooks

    def _ignite_handlers(self, *events: str) -> list:
        """Functions registered on ignite events (`@engine.on(Events.X)`,
        `engine.add_event_handler(Events.X, f)`), without an `every=`/`once=` filter."""
        found = []
        ev = self.ev
        for module, qualname, index in ev.calls_named("on", "add_event_handler"):
            function = ev.function(module, qualname)
            call = function.calls[index]
            if not call.args or call.args[0][0] == "*":
                continue
            event = call.args[0]
            if event[0] == "c":  # Events.ITERATION_COMPLETED(every=10)
                inner = function.calls[event[1]]
                if inner.keywords:
                    continue
                event = inner.func
            name = event[2] if event[0] == "a" else None
            if name not in events:
                continue
            if call.func[2] == "add_event_handler" and len(call.args) > 1:
                found += [v for v in ev.eval(call.args[1], (module, qualname)) if isinstance(v, Function)]
            elif call.func[2] == "on" and call.decorator:
                for other_qualname, other in ev.project.summary(module).functions.items():
                    if other.defined_in == qualname and any(d == ["c", index] for d in other.decorators):
                        found.append(Function(module, other_qualname))
        return found

    def frequency(self, module: str, qualname: str, call: Call) -> Frequency:
        roles = self.loop_roles(module, qualname)
        loop_roles = {roles.get(loop) for loop in call.loops}
        per_step_function = (module, qualname) in self.per_step_functions()
        if not (loop_roles & {STEP, DATA} or per_step_function):
            return Frequency.PER_EPOCH if EPOCH in loop_roles else Frequency.ONCE
        if self.gated(module, qualname, call):
            return Frequency.EVERY_K
        return Frequency.PER_STEP if STEP in loop_roles or per_step_function else Frequency.PER_BATCH


# Callees that are no model, by their name: `self.log(...)`, `criterion(...)`.
_NOT_MODELS = re.compile(r"(?i)^(?:log|print|.*loss.*|criterion|.*metric.*|.*token.*|.*process.*|.*transform.*|augment.*|.*scheduler.*|.*optim.*|.*logger.*|.*writer.*|save.*|load.*)$")


def _collect_value_names(expr, names: set) -> None:
    """Add the names an expression holds as a value: in a dict, list or tuple display, or
    alone (a call of it does not count)."""
    tag = expr[0]
    if tag == "n":
        names.add(expr[1])
    elif tag == "a":
        names.add(expr[2])
    elif tag == "t":
        for item in expr[1]:
            _collect_value_names(item, names)
    elif tag == "d":
        for _, value in expr[1]:
            _collect_value_names(value, names)
