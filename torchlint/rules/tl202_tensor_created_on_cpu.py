"""TL202 tensor-created-on-cpu: a tensor is filled on the host every step, only to be
copied to the device."""

from __future__ import annotations

from typing import Iterator

from torchlint.fixes import DISPLAY_ONLY, SAFE, UNSAFE, Fix, with_keyword
from torchlint.project.summary import Call
from torchlint.rules.base import Finding, Rule
from torchlint.semantic import api
from torchlint.semantic.context import ModuleContext, expr_text
from torchlint.semantic.training import PER_STEP
from torchlint.semantic.values import only_const

_MOVE_OPTIONS = ("non_blocking", "copy")


class TensorCreatedOnCpu(Rule):
    code = "TL202"
    name = "tensor-created-on-cpu"
    summary = "Tensor filled on the CPU every step, then copied to the device"
    fix_availability = "safe or unsafe"

    def check(self, ctx: ModuleContext) -> Iterator[Finding]:
        for qualname, index, call in ctx.calls():
            func = call.func
            name = func[1] if func[0] == "n" else func[2] if func[0] == "a" else None
            if name not in api.FILLING_FACTORIES:
                continue
            callee = ctx.callee(qualname, call)
            if callee is None or callee.rpartition(".")[0] != "torch":
                continue
            factory = callee.rpartition(".")[2]
            if any(k == "device" or k is None for k, _ in call.keywords) or any(a[0] == "*" for a in call.args):
                continue
            if _host_code(ctx, qualname):
                continue  # datasets and collate functions build host tensors on purpose
            move = _move_of(ctx, qualname, index)
            if move is None:
                continue
            move_index, device = move
            if ctx.frequency(qualname, call) != PER_STEP:
                continue  # built once (or every k steps): the copy costs next to nothing
            if not ctx.training.evidence(ctx.relpath, qualname):
                continue
            device_text = _device_text(ctx, qualname, move_index)
            yield Finding(
                call.span,
                f"`torch.{factory}(...)` fills the tensor on the CPU and copies it to the device "
                f"at every step; create it there: `torch.{factory}(..., device={device_text})`",
                lambda qualname=qualname, index=index, move_index=move_index, factory=factory, device_text=device_text: self._fix(
                    ctx, qualname, index, move_index, factory, device_text
                ),
            )

    def _fix(self, ctx: ModuleContext, qualname: str, index: int, move_index: int, factory: str, device: str) -> Fix:
        function = ctx.function(qualname)
        call, move = function.calls[index], function.calls[move_index]
        message = f"Create the tensor on the device: `torch.{factory}(..., device={device})`"
        chained = move.func[0] == "a" and move.func[1] == ["c", index]
        if not chained or not _only_moves(move):
            return Fix(DISPLAY_ONLY, message + " (applied only to a `.to(device)`/`.cuda()` chained on the call)")
        node = ctx.source.call_node(call.span)
        move_node = ctx.source.call_node(move.span)
        if node is None or move_node is None:
            return Fix(DISPLAY_ONLY, message)
        edit = ctx.source.replace_node(move_node, with_keyword(node, "device", device))
        if edit is None:
            return Fix(DISPLAY_ONLY, message)
        if factory in api.SAME_VALUES_ON_ANY_DEVICE or (factory == "arange" and _integer_arguments(ctx, qualname, call)):
            return Fix(SAFE, message, [edit])
        # Random streams differ between CPU and CUDA; computed values may differ in the last bit.
        return Fix(UNSAFE, message + " (values differ: another random stream or rounding on the device)", [edit])


def _host_code(ctx: ModuleContext, qualname: str) -> bool:
    """Dataset methods and collate functions run on the host by design."""
    function = ctx.function(qualname)
    while function is not None:
        if "collate" in function.name.lower() or function.name in ("__getitem__", "__iter__", "__next__", "worker_init_fn"):
            return True
        if function.owner is not None:
            externals = ctx.ev.externals_of(ctx.relpath, function.owner)
            if any(b.startswith("torch.utils.data.") and b.endswith("Dataset") for b in externals):
                return True
        function = ctx.summary.functions.get(function.parent) if function.parent else None
    return False


def _move_of(ctx: ModuleContext, qualname: str, index: int) -> tuple[int, str] | None:
    """(index of the `.to(device)`/`.cuda()` call that moves this factory's result, its
    device kind): chained (`torch.zeros(n).cuda()`, also through `Variable(...)`), or the
    first use of the name it is assigned to, in the same function (`t = torch.zeros(n)`
    ... `t = t.to(device)`)."""
    function = ctx.function(qualname)
    frame = (ctx.relpath, qualname)
    receivers = {index}
    for position, call in enumerate(function.calls):
        func = call.func
        if call.args and call.args[0][0] == "c" and call.args[0][1] in receivers and ctx.callee(qualname, call) in api.PASS_THROUGH:
            receivers.add(position)  # `Variable(torch.zeros(n))`
        elif func[0] == "a" and func[1][0] == "c" and func[1][1] in receivers:
            kind = _move_kind(ctx, frame, call)
            if kind is not None:
                return position, kind
            if func[2] not in api.TENSOR_METHODS:
                return None
            receivers.add(position)  # `torch.zeros(n).float().cuda()`
    for name, bindings in function.bindings.items():
        for binding in bindings:
            if binding.kind != "assign" or binding.value != ["c", index]:
                continue
            others = [b for b in bindings if b is not binding]
            if any(not _is_self_transform(name, b, function) for b in others):
                return None  # the name is reused for something else
            if not binding.uses:
                return None
            first = binding.uses[0]
            if first[2] < 0:
                return None
            move = function.calls[first[2]]
            kind = _move_kind(ctx, frame, move)
            if kind is None or move.statement:
                return None  # `t.to(device)` alone moves nothing: TL203's business
            rebinds = any(b.value == ["c", first[2]] for b in others)
            if not rebinds and len(binding.uses) > 1:
                return None  # the host tensor is used again after the copy
            return first[2], kind
    return None


def _move_kind(ctx: ModuleContext, frame, call: Call) -> str | None:
    func = call.func
    if func[0] != "a":
        return None
    if func[2] == "cuda":
        return "cuda"
    if func[2] != "to":
        return None
    kind = ctx.ev.move_device(call, frame)
    return kind if kind not in (None, "cpu", "meta") else None


def _is_self_transform(name: str, binding, function) -> bool:
    """`x = x.to(device)`: a rebinding that keeps what `x` is."""
    value = binding.value
    while value[0] == "c":
        func = function.calls[value[1]].func
        if func[0] != "a":
            return False
        value = func[1]
        if value == ["n", name]:
            return True
    return False


def _only_moves(move: Call) -> bool:
    """`.to(device)`, `.to(device, non_blocking=True)`, `.cuda()`, `.cuda(0)`: nothing but a
    move (a dtype or memory format would have to be carried over too)."""
    keywords = [k for k, _ in move.keywords]
    if any(a[0] == "*" for a in move.args) or any(k not in ("device", *_MOVE_OPTIONS) for k in keywords):
        return False
    if move.func[2] == "cuda":
        return not move.args or (len(move.args) == 1 and move.args[0][0] == "k" and type(move.args[0][1]) is int)
    return len(move.args) + keywords.count("device") == 1


def _integer_arguments(ctx: ModuleContext, qualname: str, call: Call) -> bool:
    values = [only_const(ctx.values(a, qualname)) for a in call.args]
    return bool(values) and all(type(v) is int for v in values)


def _device_text(ctx: ModuleContext, qualname: str, move_index: int) -> str:
    move = ctx.function(qualname).calls[move_index]
    if move.func[2] == "cuda":
        if move.args and move.args[0][0] == "k" and type(move.args[0][1]) is int:
            return f'"cuda:{move.args[0][1]}"'
        if move.args:
            return expr_text(move.args[0]) or '"cuda"'
        return '"cuda"'
    for keyword, value in move.keywords:
        if keyword == "device":
            return expr_text(value) or "device"
    if move.args:
        return expr_text(move.args[0]) or "device"
    return "device"

