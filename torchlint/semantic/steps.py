"""Training steps: which calls perform one (`loss.backward()`, `optimizer.step()`, a call
of a function that trains), which functions train once or in a loop of their own, the
role of each loop (STEP, EPOCH, DATA), and whether a module or program trains.
"""

from __future__ import annotations

from torchlint.project.summary import Call
from torchlint.semantic import api
from torchlint.semantic.values import Bound, Class, Framework, Function, Instance, Optimizer

STEP, EPOCH, DATA = "step", "epoch", "data"


class Steps:
    """Step calls, functions that train, loop roles (a mixin of `Training`)."""

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

    def _trains_inside(self, module: str, qualname: str, index: int) -> bool:
        """A training step runs inside this loop (it is a step loop or encloses one)."""
        function = self.ev.function(module, qualname)
        return any(
            index in call.loops and (self.performs_step(module, qualname, position) or any(
                self.trains_in_loop(f.module, f.qualname) for f in self.callees(module, qualname, call)))
            for position, call in enumerate(function.calls)
        )

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
