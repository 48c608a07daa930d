"""Accelerator evidence: does the code around a function set up or use an accelerator
("cuda", "accel" or None)? Its own calls, its enclosing functions, its class's methods,
its callers; for per-step code, the training loops that run it; for a Lightning Trainer,
its `accelerator`.
"""

from __future__ import annotations

from torchlint.semantic import api
from torchlint.semantic.values import External, Framework


class Evidence:
    """Accelerator evidence around functions (a mixin of `Training`)."""

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


def strongest_evidence(*kinds) -> str | None:
    """The strongest of these evidence kinds: "cuda", else "accel" when any is set, else None."""
    if "cuda" in kinds:
        return "cuda"
    for kind in kinds:
        if kind:
            return "accel"
    return None


def _dotted(expr) -> str | None:
    if expr[0] == "n":
        return expr[1]
    if expr[0] == "a":
        head = _dotted(expr[1])
        return f"{head}.{expr[2]}" if head else None
    return None
