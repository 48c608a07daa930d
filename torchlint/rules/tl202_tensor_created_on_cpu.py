"""TL202 tensor-created-on-cpu: a tensor is filled on the host every step, only to be
copied to the device."""

from __future__ import annotations

from typing import Iterator

from torchlint.fixes import DISPLAY_ONLY, SAFE, UNSAFE, Fix, with_keyword
from torchlint.project.summary import Call
from torchlint.rules.base import Effect, Finding, Rule
from torchlint.semantic import api, expr
from torchlint.semantic.chains import chain_end, is_self_transform
from torchlint.semantic.context import ModuleContext
from torchlint.semantic.flow import tainted_expression
from torchlint.semantic.values import Tensor, only_const

_MOVE_OPTIONS = ("non_blocking", "copy")


class TensorCreatedOnCpu(Rule):
    code = "TL202"
    name = "tensor-created-on-cpu"
    summary = "Tensor filled on the CPU every step, then copied to the device"
    fixes = (SAFE, UNSAFE)
    fix_scope = "by factory (safe for deterministic factories, unsafe for random ones)"
    effect = Effect.GPU_ONLY

    def check(self, ctx: ModuleContext) -> Iterator[Finding]:
        if ctx.is_test:
            return
        for qualname, index, call in ctx.calls():
            name = expr.called_name(call)
            if name not in api.FILLING_FACTORIES and name not in api.LEGACY_CONSTRUCTORS:
                continue
            callee = ctx.callee(qualname, call)
            module, _, factory = (callee or "").rpartition(".")
            if module != "torch":
                continue
            if factory in api.LEGACY_CONSTRUCTORS and not _filled(ctx.function(qualname), index):
                continue  # `torch.FloatTensor(data)`: host data, like torch.tensor
            if expr.keyword(call, "device") is not None or expr.has_star_kwargs(call) or expr.has_star_args(call):
                continue
            if _host_code(ctx, qualname):
                continue  # datasets and collate functions build host tensors on purpose
            move = _move_of(ctx, qualname, index) or _derived_move(ctx, qualname, index)
            if move is None:
                continue
            move_index, device = move
            if not ctx.runs_per_training_step(qualname, call):
                continue  # built once, per epoch, every k steps or only in evaluation
            if not ctx.accelerator_evidence(qualname):
                continue
            device_text = _device_text(ctx, qualname, move_index)
            shown = device_text or "..."
            suggestion = f"torch.{factory}(..., device={shown})"
            if factory in api.LEGACY_CONSTRUCTORS:
                suggestion = f"torch.zeros(..., dtype=..., device={shown})` (or `torch.full`, `torch.empty`"
            yield Finding(
                call.span,
                f"`torch.{factory}(...)` fills the tensor on the CPU and copies it to the device "
                f"at every step; create it there: `{suggestion}`",
                lambda qualname=qualname, index=index, move_index=move_index, factory=factory, device_text=device_text: self._fix(
                    ctx, qualname, index, move_index, factory, device_text
                ),
            )

    def _fix(self, ctx: ModuleContext, qualname: str, index: int, move_index: int, factory: str, device: str | None) -> Fix:
        shown = device or "..."
        if factory in api.LEGACY_CONSTRUCTORS:
            return Fix(DISPLAY_ONLY, f"Create the tensor on the device: `torch.zeros(..., dtype=..., device={shown})`")
        function = ctx.function(qualname)
        call, move = function.calls[index], function.calls[move_index]
        message = f"Create the tensor on the device: `torch.{factory}(..., device={shown})`"
        if expr.chained_on(move, index) is None or not _only_moves(move):
            return Fix(DISPLAY_ONLY, message + " (applied only to a `.to(device)`/`.cuda()` chained on the call)")
        if not _names_a_device(ctx, qualname, move):
            return Fix(DISPLAY_ONLY, message + " (the move's target may be another tensor)")
        if factory in api.SAME_VALUES_ON_ANY_DEVICE or (factory == "arange" and _integer_arguments(ctx, qualname, call)):
            applicability, note = SAFE, ""
        else:
            # Random streams differ between CPU and CUDA; computed values may differ in the last bit.
            applicability, note = UNSAFE, " (values differ: another random stream or rounding on the device)"

        def build() -> Fix:
            node = ctx.source.call_node(call.span)
            move_node = ctx.source.call_node(move.span)
            if node is None or move_node is None:
                return Fix(DISPLAY_ONLY, message)
            spelled = device if device is not None else _device_source(ctx, move_node)
            if spelled is None:
                return Fix(DISPLAY_ONLY, message)
            final = f"Create the tensor on the device: `torch.{factory}(..., device={spelled})`"
            edit = ctx.source.replace_node(move_node, with_keyword(node, "device", spelled))
            if edit is None:
                return Fix(DISPLAY_ONLY, final)
            return Fix(applicability, final + note, [edit])

        return Fix(applicability, message + note, build=build)


def _host_code(ctx: ModuleContext, qualname: str) -> bool:
    """Dataset methods and collate functions run on the host by design."""
    for function in ctx.enclosing_functions(qualname):
        if "collate" in function.name.lower() or function.name in ("__getitem__", "__iter__", "__next__", "worker_init_fn"):
            return True
        if function.owner is not None:
            bases = ctx.library_bases(function.owner)
            if any(b.startswith("torch.utils.data.") and b.endswith("Dataset") for b in bases):
                return True
    return False


def _move_of(ctx: ModuleContext, qualname: str, index: int) -> tuple[int, str] | None:
    """(index of the `.to(device)`/`.cuda()` call that moves this factory's result, its
    device kind): chained (`torch.zeros(n).cuda()`, also through `Variable(...)`), or the
    first use of the name it is assigned to, in the same function (`t = torch.zeros(n)`
    ... `t = t.to(device)`)."""
    function = ctx.function(qualname)
    receivers = {index}
    for position, call in enumerate(function.calls):
        if expr.first_argument_result(call) in receivers and ctx.callee(qualname, call) in api.PASS_THROUGH:
            receivers.add(position)  # `Variable(torch.zeros(n))`
        elif expr.chained_on(call, receivers) is not None:
            kind = _move_kind(ctx, qualname, call)
            if kind is not None:
                return position, kind
            if expr.method(call) not in api.TENSOR_METHODS:
                return None
            receivers.add(position)  # `torch.zeros(n).float().cuda()`, `.fill_(0)`
    for name, bindings in function.bindings.items():
        for binding in bindings:
            if binding.kind != "assign" or expr.result_of(binding.value) not in receivers:
                continue
            if function.item_stores.get(name):
                return None  # filled element by element on the host, on purpose
            others = [b for b in bindings if b is not binding]
            if any(not is_self_transform(function, name, b) for b in others):
                return None  # the name is reused for something else
            if not binding.uses:
                return None
            first = binding.uses[0]
            if first[2] < 0:
                return None
            position = chain_end(function, first[2])
            move = function.calls[position]
            kind = _move_kind(ctx, qualname, move)
            if kind is None or move.statement:
                return None  # `t.to(device)` alone moves nothing: TL203's business
            rebinds = any(expr.result_of(b.value) == position for b in others)
            if not rebinds and len(binding.uses) > 1:
                return None  # the host tensor is used again after the copy
            return position, kind
    return None


def _chained(ctx: ModuleContext, qualname: str, index: int) -> set[int]:
    """The factory call and the calls chained on it (`.float()`, `.fill_(0)`, `Variable(...)`)."""
    function = ctx.function(qualname)
    chain = {index}
    for position, call in enumerate(function.calls):
        if expr.first_argument_result(call) in chain and ctx.callee(qualname, call) in api.PASS_THROUGH:
            chain.add(position)
        elif expr.chained_on(call, chain) is not None and expr.method(call) in api.TENSOR_METHODS:
            chain.add(position)
    return chain


def _filled(function, index: int) -> bool:
    """`torch.FloatTensor(n, m).fill_(0)`: the constructor was given sizes."""
    return any(expr.chained_on(c, index) is not None and expr.method(c) in api.FILLS for c in function.calls)


def _derived_move(ctx: ModuleContext, qualname: str, index: int) -> tuple[int, str] | None:
    """A move of a tensor computed from the factory's result in the same function, where
    the factory is used inline: `labels = torch.cat([torch.arange(n)] * 2)`,
    `mask = (labels[None] == labels[:, None]).float()`, `mask = mask.to(device)`."""
    function = ctx.function(qualname)
    chain = _chained(ctx, qualname, index)
    if any(expr.result_of(b.value) in chain for bindings in function.bindings.values() for b in bindings):
        return None  # bound to a name: only its first use counts (see _move_of)
    calls, names = ctx.derived_from(qualname, {index})
    if len(calls) == 1 and not names:
        return None
    for position, call in enumerate(function.calls):
        moved = expr.receiver(call)
        if expr.method(call) in ("to", "cuda") and not call.statement and tainted_expression(moved, calls, names):
            kind = _move_kind(ctx, qualname, call)
            if kind is None:
                continue
            if any(function.item_stores.get(name) for name in expr.names_read(moved) & names):
                return None  # filled element by element on the host before the copy, on purpose
            return position, kind
    return None


def _device_source(ctx: ModuleContext, move_node) -> str | None:
    """The device argument of a libcst `.to(...)` call, as written."""
    from torchlint.fixes import argument_node

    node = argument_node(move_node, "device", 0)
    return ctx.source.module.code_for_node(node) if node is not None else None


def _move_kind(ctx: ModuleContext, qualname: str, call: Call) -> str | None:
    """The device kind a move sends the tensor to, when that is an accelerator."""
    if expr.method(call) == "to":
        kind = ctx.move_target(qualname, call)
        return kind if kind not in (None, "cpu", "meta") else None
    return ctx.move_target(qualname, call)


def _only_moves(move: Call) -> bool:
    """`.to(device)`, `.to(device, non_blocking=True)`, `.cuda()`, `.cuda(0)`: nothing but a
    move (a dtype or memory format would have to be carried over too)."""
    keywords = [k for k, _ in move.keywords]
    if expr.has_star_args(move) or any(k not in ("device", *_MOVE_OPTIONS) for k in keywords):
        return False
    if expr.method(move) == "cuda":
        return not move.args or (len(move.args) == 1 and expr.int_constant(move.args[0]) is not None)
    return len(move.args) + keywords.count("device") == 1


def _integer_arguments(ctx: ModuleContext, qualname: str, call: Call) -> bool:
    values = [only_const(ctx.values(a, qualname)) for a in call.args]
    return bool(values) and all(type(v) is int for v in values)


def _device_text(ctx: ModuleContext, qualname: str, move_index: int) -> str | None:
    """The device a move names, as source text, when the summary can spell it."""
    move = ctx.function(qualname).calls[move_index]
    argument = _device_argument(move)
    if expr.method(move) == "cuda":
        if argument is None:
            return '"cuda"'
        if expr.int_constant(argument) is not None:
            return f'"cuda:{expr.int_constant(argument)}"'
    return expr.source_text(argument) if argument is not None else None


def _device_argument(move: Call):
    """The device a move names: `device=`, else its first positional argument."""
    found = expr.keyword(move, "device")
    if found is not None:
        return found
    positional = expr.positional(move)
    return positional[0] if positional else None


def _names_a_device(ctx: ModuleContext, qualname: str, move: Call) -> bool:
    """Is the move's argument a device (not another tensor, whose dtype `.to()` would
    also take)?"""
    if expr.method(move) == "cuda" or any(k == "device" for k, _ in move.keywords):
        return True
    argument = _device_argument(move)
    if argument is None:
        return False
    values = ctx.values(argument, qualname)
    if any(isinstance(v, Tensor) for v in values):
        return False
    return ctx.device_kind(values, strict=True) is not None or ctx.spelled_like_device(argument)
