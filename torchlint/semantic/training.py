"""Training contexts and frequency: which loops are training steps, how often a call
runs, which loaders feed which loops, which models are trained, and whether the code
around a training loop uses an accelerator.

- A *step call* is `loss.backward()`, `optimizer.step()` (also `scaler.step`,
  `manual_backward`, `accelerator.backward`), or a call of a function that performs one
  outside a loop of its own.
- A *step loop* is the loop that runs one training step per iteration: among the loops
  around a step call, the innermost that iterates a DataLoader's batches, else the
  innermost. Loops around a step loop, or around a call of a function that has its own
  step loop, are *epoch loops*. A *data loop* iterates a DataLoader's batches (training or
  evaluation).
- Frequency of a call: PER_STEP inside a step or data loop, or anywhere in a function
  that runs per step (called from such a loop, a framework's per-step hook, `forward()` of
  a module called per step); EVERY_K when a guard (`if step % k == 0`, `if args.debug`,
  `if i == 0`, `except`) stands between it and that loop; PER_EPOCH in an epoch loop;
  ONCE otherwise.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from torchlint.project.summary import Call, spelled_name
from torchlint.semantic import api
from torchlint.semantic.evaluate import Evaluator
from torchlint.semantic.values import (
    UNKNOWN,
    Dataset,
    Bound,
    Class,
    External,
    Framework,
    Function,
    Instance,
    Loader,
    Optimizer,
    Seq,
    Tensor,
    TorchModule,
    Tup,
)

ONCE, PER_EPOCH, PER_STEP, EVERY_K = "once", "per-epoch", "per-step", "every-k"
STEP, EPOCH, DATA = "step", "epoch", "data"


@dataclass(frozen=True)
class Consumer:
    """Where a DataLoader's batches are used: a loop, or a framework that runs the loop."""

    role: str  # "train" | "eval"
    module: str
    qualname: str  # the function around the loop (or the framework call)
    how: str  # "loop" | "lightning" | "ignite" | "accelerate"
    moves_batches: bool  # the batches are sent to a device (by the code or the framework)
    evidence: str | None  # "cuda", "accel" or None: does the code around it use an accelerator?
    loop: int = -1  # the loop of `qualname` that iterates the batches ("loop" consumers)


class Training:
    def __init__(self, evaluator: Evaluator) -> None:
        self.ev = evaluator
        self._per_step: dict | None = None
        self._per_step_roots: dict = {}  # (module, qualname) -> {(module, qualname, "train" | "eval")}
        self._root_evidence: dict = {}  # roots whose framework brings its own accelerator evidence
        self._moves: list | None = None
        self._consumers: dict | None = None

    # -- step calls and functions that train -------------------------------------------------

    def overrides(self, module: str, qualname: str, name: str) -> list:
        """Methods `name` of the project's subclasses of a class (template methods)."""
        found = []
        for sub_module, sub_qualname in self.ev.subclasses(module, qualname):
            info = self.ev.class_summary(sub_module, sub_qualname)
            if info is not None and name in info.methods:
                found.append(Function(sub_module, info.methods[name]))
        return found

    def is_step_call(self, module: str, qualname: str, call: Call) -> bool:
        func = call.func
        if func[0] != "a":
            return False
        name = func[2]
        if name in ("backward", "manual_backward"):
            return True
        if name != "step":
            return False
        receiver = func[1]
        spelled = receiver[1] if receiver[0] == "n" else receiver[2] if receiver[0] == "a" else None
        if isinstance(spelled, str) and api.looks_like_optimizer(spelled) and "sched" not in spelled.lower():
            return True
        values = self.ev.eval(receiver, (module, qualname))
        return any(isinstance(v, Optimizer) for v in values)

    def callees(self, module: str, qualname: str, call: Call, forward: bool = False) -> list:
        """Project functions a call runs: functions, methods, constructors (`__init__`)
        and, with forward=True, `forward()` of the project modules it calls."""
        found = []
        for target, _ in self.ev.targets(call, (module, qualname)):
            if isinstance(target, Function):
                found.append(target)
            elif isinstance(target, Bound) and target.function is not None:
                found.append(target.function)
                receiver = target.receiver
                if isinstance(receiver, Instance) and receiver.site is None:
                    # `self.step(batch)` in a base class runs the subclasses' overrides too.
                    found.extend(self.overrides(receiver.module, receiver.qualname, target.name))
            elif isinstance(target, Class):
                init = self.ev.find_method(target.module, target.qualname, "__init__")
                if init is not None:
                    found.append(init)
            elif isinstance(target, Instance):
                # Calling an object runs its `__call__`; a module's runs `forward()`.
                method = self.ev.find_method(target.module, target.qualname, "__call__")
                if method is None and forward:
                    method = self.ev.find_method(target.module, target.qualname, "forward")
                if method is not None:
                    found.append(method)
        return found

    def performs_step(self, module: str, qualname: str, index: int) -> bool:
        call = self.ev.function(module, qualname).calls[index]
        if self.is_step_call(module, qualname, call):
            return True
        return any(self.trains_once(f.module, f.qualname) for f in self.callees(module, qualname, call))

    def trains_once(self, module: str, qualname: str) -> bool:
        """Calling the function runs a training step (not inside a loop of its own)."""
        return bool(self.ev.memo("trains_once", (module, qualname), lambda: self._trains_once(module, qualname), False))

    def _trains_once(self, module: str, qualname: str) -> bool:
        function = self.ev.function(module, qualname)
        if function is None:
            return False
        for index, call in enumerate(function.calls):
            if not call.loops and not call.decorator and self.performs_step(module, qualname, index):
                return True
        return False

    def trains_in_loop(self, module: str, qualname: str) -> bool:
        """The function has a training loop of its own (possibly in a callee)."""
        return bool(self.ev.memo("trains_in_loop", (module, qualname), lambda: self._trains_in_loop(module, qualname), False))

    def _trains_in_loop(self, module: str, qualname: str) -> bool:
        return any(role == STEP for role in self.loop_roles(module, qualname).values()) or any(
            self.trains_in_loop(f.module, f.qualname)
            for call in self.ev.function(module, qualname).calls
            for f in self.callees(module, qualname, call)
        )

    # -- loops -------------------------------------------------------------------------------

    def loop_roles(self, module: str, qualname: str) -> dict:
        """loop index -> STEP, EPOCH or DATA (loops with no role are left out)."""
        return self.ev.memo("roles", (module, qualname), lambda: self._loop_roles(module, qualname), {})

    def _loop_roles(self, module: str, qualname: str) -> dict:
        function = self.ev.function(module, qualname)
        if function is None or not function.loops:
            return {}
        data = {i for i in range(len(function.loops)) if self.loop_sources(module, qualname, i)}
        roles: dict = {i: DATA for i in data}
        epochs: set = set()
        for index, call in enumerate(function.calls):
            if not call.loops or call.decorator:
                continue
            if self.performs_step(module, qualname, index):
                data_loops = [loop for loop in call.loops if loop in data]
                step = data_loops[-1] if data_loops else call.loops[-1]
                roles[step] = STEP
                epochs.update(loop for loop in call.loops[: call.loops.index(step)])
            elif any(self.trains_in_loop(f.module, f.qualname) for f in self.callees(module, qualname, call)):
                epochs.update(call.loops)
        for loop in epochs:
            if roles.get(loop) != STEP:
                roles[loop] = EPOCH
        return roles

    def loop_sources(self, module: str, qualname: str, index: int) -> frozenset:
        """DataLoader sites whose batches this loop iterates (or takes with `next()`)."""
        return self.ev.memo("loop-sources", (module, qualname, index), lambda: self._loop_sources(module, qualname, index))

    def _loop_sources(self, module: str, qualname: str, index: int) -> frozenset:
        function = self.ev.function(module, qualname)
        loop = function.loops[index]
        frame = (module, qualname)
        sources = set()
        if loop.iter is not None:
            sources |= batch_sources(self.ev.eval(["e", loop.iter], frame), parts=False)
        for call in function.calls:
            if call.loops and call.loops[-1] == index and call.func == ["n", "next"] and call.args:
                sources |= batch_sources(self.ev.elements(self.ev.eval(call.args[0], frame)), parts=False)
        return frozenset(sources)

    # -- frequency ---------------------------------------------------------------------------

    def per_step_functions(self) -> dict:
        """(module, qualname) -> why it runs per step."""
        if self._per_step is None:
            self._per_step = {}
            self._per_step_roots = {}
            self._compute_per_step()
        return self._per_step

    def hot_evidence(self, module: str, qualname: str) -> str | None:
        """Accelerator evidence for code that runs per step: its own surroundings, or those
        of the training loops that run it (a `forward()` knows nothing of the device the
        loop sets up)."""
        found = self.evidence(module, qualname)
        if found == "cuda":
            return found
        self.per_step_functions()
        for root in self._per_step_roots.get((module, qualname), ()):
            kind = self._root_evidence.get(root) or self.evidence(root[0], root[1])
            if kind == "cuda":
                return kind
            found = found or kind
        return found

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
        for module in project.modules():
            summary = project.summary(module)
            if summary is None:
                continue
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

    def frequency(self, module: str, qualname: str, call: Call) -> str:
        roles = self.loop_roles(module, qualname)
        in_hot_loop = any(roles.get(loop) in (STEP, DATA) for loop in call.loops)
        if in_hot_loop or (module, qualname) in self.per_step_functions():
            return EVERY_K if self.gated(module, qualname, call) else PER_STEP
        if any(roles.get(loop) == EPOCH for loop in call.loops):
            return PER_EPOCH
        return ONCE

    # -- moves ---------------------------------------------------------------------------------

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

    def moved_batch_sources(self) -> dict:
        """Loader site -> device kind its batches are moved to."""
        moved: dict = {}
        for _, _, _, receivers, kind in self.moves():
            for source in batch_sources(receivers):
                moved[source] = kind if moved.get(source) in (None, kind) else "any"
        return moved

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
                for model in _models_in(value):
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
                    for model in _models_in(value):
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
                    found.extend(_models_in(child))
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

    # -- models ----------------------------------------------------------------------------------

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
        for module in project.modules():
            summary = project.summary(module)
            if summary is None:
                continue
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
                for model in _models_in(value):
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

    # -- loaders ---------------------------------------------------------------------------------

    def consumers(self, site) -> list:
        """Where the batches of the DataLoader built at `site` are used."""
        if self._consumers is None:
            self._consumers = self._compute_consumers()
        return self._consumers.get(site, [])

    def _compute_consumers(self) -> dict:
        found: dict = {}
        ev = self.ev
        moved = self.moved_batch_sources()
        project = ev.project
        for module in project.modules():
            summary = project.summary(module)
            if summary is None:
                continue
            for qualname, function in summary.functions.items():
                if not function.loops or function.yields is not None:
                    continue  # a generator's loop hands the batches on: its caller's loop uses them
                roles = self.loop_roles(module, qualname)
                for index, loop in enumerate(function.loops):
                    sources = self.loop_sources(module, qualname, index)
                    if not sources:
                        continue
                    role = "train" if roles.get(index) == STEP or self._trains_inside(module, qualname, index) else "eval"
                    if role == "eval" and loop.breaks:
                        continue  # an evaluation that stops early (a few samples): not a loader's workload
                    evidence = self.evidence(module, qualname)
                    for source in sources:
                        found.setdefault(source, []).append(
                            Consumer(role, module, qualname, "loop", source in moved, _strongest(evidence, moved.get(source)), index)
                        )
        for consumer_site, role, loaders, how, evidence in self._framework_consumers():
            for loader in loaders:
                found.setdefault(loader, []).append(Consumer(role, consumer_site[0], consumer_site[1], how, True, evidence))
        return found

    def _trains_inside(self, module: str, qualname: str, index: int) -> bool:
        """A training step runs inside this loop (it is a step loop or encloses one)."""
        function = self.ev.function(module, qualname)
        return any(
            index in call.loops and (self.performs_step(module, qualname, position) or any(
                self.trains_in_loop(f.module, f.qualname) for f in self.callees(module, qualname, call)))
            for position, call in enumerate(function.calls)
        )

    def _framework_consumers(self) -> list:
        """Loaders handed to a framework's training or evaluation loop."""
        ev = self.ev
        found = []
        for module, qualname, index in ev.calls_named("fit", "validate", "test", "run"):
            function = ev.function(module, qualname)
            call = function.calls[index]
            if call.func[0] != "a":
                continue
            frame = (module, qualname)
            frameworks = [r for r in ev.eval(call.func[1], frame) if isinstance(r, Framework)]
            for framework in frameworks:
                if framework.kind == "lightning-trainer":
                    evidence = self._lightning_evidence(framework)
                    bound = ev.bind(call, frame, ("model", "train_dataloaders", "val_dataloaders", "datamodule", "ckpt_path"))
                    train_role = "train" if call.func[2] == "fit" else "eval"
                    for key, role in (("train_dataloaders", train_role), ("val_dataloaders", "eval"), ("dataloaders", "eval")):
                        arg = bound.get(key) or (bound.get("train_dataloader") if key == "train_dataloaders" else None)
                        if arg is not None:
                            found.append(((module, qualname), role, _loaders_in(arg.values, ev), "lightning", evidence))
                    for key in ("datamodule", "model"):
                        arg = bound.get(key)
                        if arg is None:
                            continue
                        for value in arg.values:
                            if isinstance(value, Instance):
                                for method, role in (("train_dataloader", train_role), ("val_dataloader", "eval")):
                                    target = ev.find_method(value.module, value.qualname, method)
                                    if target is not None:
                                        found.append(((module, qualname), role, _loaders_in(ev.returns(target.module, target.qualname), ev), "lightning", evidence))
                elif framework.kind == "ignite-engine" and call.func[2] == "run" and call.args:
                    loaders = _loaders_in(ev.eval(call.args[0], frame), ev)
                    role, evidence = self._ignite_role(framework)
                    found.append(((module, qualname), role, loaders, "ignite", evidence))
        # `def train_dataloader(self)` of a LightningModule or DataModule, wherever it is used.
        for module in ev.project.modules():
            summary = ev.project.summary(module)
            if summary is None:
                continue
            for class_qualname, info in summary.classes.items():
                externals = ev.externals_of(module, class_qualname)
                if not ({api.LIGHTNING_MODULE, api.LIGHTNING_DATAMODULE} & externals):
                    continue
                for method, role in (("train_dataloader", "train"), ("val_dataloader", "eval"), ("test_dataloader", "eval")):
                    # A method, or a method assigned to the attribute (`self.train_dataloader = self._train`).
                    targets = [
                        v.function if isinstance(v, Bound) else v
                        for v in ev.instance_attribute(Instance(module, class_qualname, None), method)
                        if isinstance(v, Function) or (isinstance(v, Bound) and v.function is not None)
                    ]
                    for target in targets:
                        loaders = _loaders_in(ev.returns(target.module, target.qualname), ev)
                        found.append(((target.module, target.qualname), role, loaders, "lightning", "cuda"))
        return found

    def _lightning_evidence(self, trainer: Framework) -> str | None:
        """A Lightning Trainer trains on CUDA when there is one (`accelerator="auto"`),
        unless told otherwise."""
        found = self.ev.project.call_at(*trainer.site)
        if found is None:
            return "cuda"
        qualname, call = found
        for keyword, value in call.keywords:
            if keyword == "accelerator":
                kind = self.ev.device_kind(self.ev.eval(value, (trainer.site[0], qualname)))
                if kind == "cpu":
                    return None
                return "cuda" if kind == "cuda" else "accel"
            if keyword in ("gpus",):
                return "cuda"
        return "cuda"

    def _ignite_role(self, engine: Framework) -> tuple:
        found = self.ev.project.call_at(*engine.site)
        if found is None:
            return "eval", None
        qualname, call = found
        frame = (engine.site[0], qualname)
        names = {t.qualname for t, _ in self.ev.targets(call, frame) if isinstance(t, External)}
        device = None
        for keyword, value in call.keywords:
            if keyword == "device":
                kind = self.ev.device_kind(self.ev.eval(value, frame))
                device = None if kind == "cpu" else ("cuda" if kind == "cuda" else "accel")
        if names & set(api.IGNITE_TRAINER_FACTORIES):
            return "train", device or self.evidence(engine.site[0], qualname)
        if any(n.endswith("create_supervised_evaluator") for n in names):
            return "eval", device or self.evidence(engine.site[0], qualname)
        for site, function in self.ev.ignite_engines():
            if site == engine.site:
                trains = self.trains_once(function.module, function.qualname)
                return ("train" if trains else "eval"), self.evidence(function.module, function.qualname) or self.evidence(engine.site[0], qualname)
        return "eval", None

    def module_trains(self, module: str) -> bool:
        """Some function of the module has a training loop or runs a framework's."""
        def compute():
            summary = self.ev.project.summary(module)
            if summary is None:
                return False
            for qualname, function in summary.functions.items():
                if any(role == STEP for role in self.loop_roles(module, qualname).values()):
                    return True
                for call in function.calls:
                    if call.func[0] == "a" and call.func[2] in ("fit", "train", "run"):
                        receivers = self.ev.eval(call.func[1], (module, qualname))
                        if any(isinstance(r, Framework) for r in receivers):
                            return True
            return False

        return bool(self.ev.memo("module-trains", module, compute, False))

    def in_training_program(self, module: str, qualname: str) -> bool:
        """The function is part of a program that trains: its module trains, or a caller's
        module does (three levels up)."""
        pending = [(module, qualname, 0)]
        seen = set()
        while pending:
            current_module, current, depth = pending.pop()
            if (current_module, current) in seen:
                continue
            seen.add((current_module, current))
            if self.module_trains(current_module):
                return True
            if depth < 3:
                for caller_module, caller, _, _ in self.ev.callers(current_module, current):
                    pending.append((caller_module, caller, depth + 1))
        return False

    # -- accelerator evidence --------------------------------------------------------------------

    def unit_evidence(self, module: str, qualname: str) -> str | None:
        """Does this function itself set up or use an accelerator? "cuda", "accel" or None.
        Decorators do not count: `@skipIf(not torch.cuda.is_available())` uses nothing."""
        return self.ev.memo("unit-evidence", (module, qualname), lambda: self._unit_evidence(module, qualname), None)

    def _unit_evidence(self, module: str, qualname: str):
        function = self.ev.function(module, qualname)
        if function is None:
            return None
        if function.cuda_strings:
            return "cuda"
        found = "accel" if function.mps_strings else None
        frame = (module, qualname)

        def concrete(kind):
            # Only a device we know is an accelerator counts: a `device` variable of
            # unknown origin could just as well be the CPU.
            return kind if kind in ("cuda", "mps", "xpu") else None

        for call in function.calls:
            if call.decorator:
                continue
            func = call.func
            kind = None
            if func[0] == "a" and func[2] == "cuda":
                kind = "cuda"
            elif func[0] == "a" and func[2] == "to":
                kind = concrete(self.ev.move_device(call, frame))
            else:
                spelled = _dotted(func)
                last = spelled.split(".")[-1] if spelled else None
                if last in ("device", "Accelerator") or (spelled is not None and "cuda" in spelled.split(".")):
                    for target, _ in self.ev.targets(call, frame):
                        if not isinstance(target, External):
                            continue
                        q = target.qualname
                        if q.startswith("torch.cuda."):
                            kind = "cuda"
                        elif q == "torch.device" and call.args:
                            kind = concrete(self.ev.device_kind(self.ev.eval(call.args[0], frame)))
                        elif q == api.ACCELERATOR:
                            kind = "accel"
                elif spelled is not None and spelled.startswith("torch.accelerator"):
                    kind = "cuda"  # the current accelerator: CUDA where there is one
                elif spelled is not None and spelled.startswith(("torch.backends.mps", "torch.xpu")):
                    kind = "accel"
            for keyword, value in call.keywords:
                if keyword == "device_map":
                    kind = kind or "accel"
                elif keyword == "device":
                    kind = kind or concrete(self.ev.device_kind(self.ev.eval(value, frame)))
            if kind == "cuda":
                return "cuda"
            if kind is not None:
                found = "accel"
        return found

    def evidence(self, module: str, qualname: str) -> str | None:
        """Accelerator evidence around a function: itself, the functions enclosing it, the
        methods of its class, the module's top-level code, and its callers (two levels up)."""
        return self.ev.memo("evidence", (module, qualname), lambda: self._evidence(module, qualname), None)

    def _evidence(self, module: str, qualname: str):
        units = set()
        visited = set()
        pending = [(module, qualname, 0)]
        while pending:
            current_module, current, depth = pending.pop()
            if (current_module, current) in visited:
                continue
            visited.add((current_module, current))
            units.add((current_module, current))
            function = self.ev.function(current_module, current)
            if function is None:
                continue
            if function.parent is not None:
                pending.append((current_module, function.parent, depth))
            if function.owner is not None:
                for owner_module, owner in self.ev.class_chain(current_module, function.owner)[0]:
                    info = self.ev.class_summary(owner_module, owner)
                    for method in info.methods.values():
                        units.add((owner_module, method))
            if depth < 2:
                for caller_module, caller, _, _ in self.ev.callers(current_module, current):
                    pending.append((caller_module, caller, depth + 1))
        best = None
        for unit in units:
            kind = self.unit_evidence(*unit)
            if kind == "cuda":
                return "cuda"
            best = best or kind
        return best


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


def _strongest(*kinds) -> str | None:
    if "cuda" in kinds:
        return "cuda"
    for kind in kinds:
        if kind:
            return "accel"
    return None


def batch_sources(values, parts: bool = True) -> frozenset:
    """Loader sites of the batch tensors among these values (inside tuples too); with
    `parts=False`, not of the rows or fields reached by iterating a batch."""
    found = set()
    stack = list(values)
    seen = 0
    while stack and seen < 200:
        seen += 1
        value = stack.pop()
        if isinstance(value, Tensor) and value.source is not None and (parts or not value.part):
            found.add(value.source)
        elif isinstance(value, Tup):
            for item in value.items:
                stack.extend(item)
        elif isinstance(value, Seq):
            stack.extend(value.elements)
    return frozenset(found)


def _loaders_in(values, ev: Evaluator) -> list:
    found = []
    stack = list(values)
    while stack and len(found) < 50:
        value = stack.pop()
        if isinstance(value, Loader):
            found.append(value.site)
        elif isinstance(value, Tup):
            for item in value.items:
                stack.extend(item)
        elif isinstance(value, Seq):
            stack.extend(value.elements)
    return found


def _models_in(value) -> list:
    if isinstance(value, (Instance, TorchModule)) and value.site is not None:
        return [value]
    if isinstance(value, Tup):
        return [m for item in value.items for v in item for m in _models_in(v)]
    return []


def _dotted(expr) -> str | None:
    if expr[0] == "n":
        return expr[1]
    if expr[0] == "a":
        head = _dotted(expr[1])
        return f"{head}.{expr[2]}" if head else None
    return None
