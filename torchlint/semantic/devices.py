"""Devices: which device a `.to(...)`, `.cuda()` or `.type(...)` call names, the kind of
a device value ("cpu", "cuda", "any", ...), and where a torch function's result lives.
"""

from __future__ import annotations

from torchlint.project.summary import Call
from torchlint.semantic import api
from torchlint.semantic.values import UNKNOWN, Const, Device, External, Opaque, Seq, StrPrefix, Tensor, Tup


class Devices:
    """Device moves and device kinds (a mixin of `Evaluator`)."""

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
