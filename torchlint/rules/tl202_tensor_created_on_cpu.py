"""TL202 tensor-created-on-cpu: a tensor is filled on the host every step, only to be
copied to the device."""

from __future__ import annotations

from typing import Iterator

from torchlint.fixes import DISPLAY_ONLY, SAFE, UNSAFE, Fix, with_keyword
from torchlint.project.summary import Call, spelled_name
from torchlint.rules.base import Finding, Rule
from torchlint.semantic import api
from torchlint.semantic.context import ModuleContext, expr_text
from torchlint.semantic.flow import derived, tainted_expression
from torchlint.semantic.values import Tensor, only_const

_MOVE_OPTIONS = ("non_blocking", "copy")


class TensorCreatedOnCpu(Rule):
    code = "TL202"
    name = "tensor-created-on-cpu"
    summary = "Tensor filled on the CPU every step, then copied to the device"
    fix_availability = "safe or unsafe"

    def check(self, ctx: ModuleContext) -> Iterator[Finding]:
        if ctx.is_test:
            return
        for qualname, index, call in ctx.calls():
            func = call.func
            name = spelled_name(func)
            if name not in api.FILLING_FACTORIES and name not in api.LEGACY_CONSTRUCTORS:
                continue
            callee = ctx.callee(qualname, call)
            if callee is None or callee.rpartition(".")[0] != "torch":
                continue
            factory = callee.rpartition(".")[2]
            if factory in api.LEGACY_CONSTRUCTORS and not _filled(ctx.function(qualname), index):
                continue  # `torch.FloatTensor(data)`: host data, like torch.tensor
            if any(k == "device" or k is None for k, _ in call.keywords) or any(a[0] == "*" for a in call.args):
                continue
            if _host_code(ctx, qualname):
                continue  # datasets and collate functions build host tensors on purpose
            move = _move_of(ctx, qualname, index) or _derived_move(ctx, qualname, index)
            if move is None:
                continue
            move_index, device = move
            if not ctx.training.runs_per_training_step(ctx.relpath, qualname, call):
                continue  # built once, per epoch, every k steps or only in evaluation
            if not ctx.training.hot_evidence(ctx.relpath, qualname):
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
        chained = move.func[0] == "a" and move.func[1] == ["c", index]
        if not chained or not _only_moves(move):
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
            receivers.add(position)  # `torch.zeros(n).float().cuda()`, `.fill_(0)`
    for name, bindings in function.bindings.items():
        for binding in bindings:
            if binding.kind != "assign" or binding.value[0] != "c" or binding.value[1] not in receivers:
                continue
            if function.item_stores.get(name):
                return None  # filled element by element on the host, on purpose
            others = [b for b in bindings if b is not binding]
            if any(not _is_self_transform(name, b, function) for b in others):
                return None  # the name is reused for something else
            if not binding.uses:
                return None
            first = binding.uses[0]
            if first[2] < 0:
                return None
            position = _chain_end(function, first[2])
            move = function.calls[position]
            kind = _move_kind(ctx, frame, move)
            if kind is None or move.statement:
                return None  # `t.to(device)` alone moves nothing: TL203's business
            rebinds = any(b.value == ["c", position] for b in others)
            if not rebinds and len(binding.uses) > 1:
                return None  # the host tensor is used again after the copy
            return position, kind
    return None


def _chained(ctx: ModuleContext, qualname: str, index: int) -> set[int]:
    """The factory call and the calls chained on it (`.float()`, `.fill_(0)`, `Variable(...)`)."""
    function = ctx.function(qualname)
    chain = {index}
    for position, call in enumerate(function.calls):
        func = call.func
        if call.args and call.args[0][0] == "c" and call.args[0][1] in chain and ctx.callee(qualname, call) in api.PASS_THROUGH:
            chain.add(position)
        elif func[0] == "a" and func[1][0] == "c" and func[1][1] in chain and func[2] in api.TENSOR_METHODS:
            chain.add(position)
    return chain


def _chain_end(function, position: int) -> int:
    """Follow `t.expand_as(x).float().to(device)` from the first call to the last one of
    tensor methods chained on it."""
    while function.calls[position].func[0] == "a" and function.calls[position].func[2] in api.TENSOR_METHODS:
        following = [i for i, c in enumerate(function.calls) if c.func[0] == "a" and c.func[1] == ["c", position]]
        if len(following) != 1:
            break
        position = following[0]
    return position


def _filled(function, index: int) -> bool:
    """`torch.FloatTensor(n, m).fill_(0)`: the constructor was given sizes."""
    return any(c.func[0] == "a" and c.func[1] == ["c", index] and c.func[2] in api.FILLS for c in function.calls)


def _derived_move(ctx: ModuleContext, qualname: str, index: int) -> tuple[int, str] | None:
    """A move of a tensor computed from the factory's result in the same function, where
    the factory is used inline: `labels = torch.cat([torch.arange(n)] * 2)`,
    `mask = (labels[None] == labels[:, None]).float()`, `mask = mask.to(device)`."""
    function = ctx.function(qualname)
    chain = _chained(ctx, qualname, index)
    if any(b.value[0] == "c" and b.value[1] in chain for bindings in function.bindings.values() for b in bindings):
        return None  # bound to a name: only its first use counts (see _move_of)
    calls, names = derived(ctx.ev, ctx.relpath, qualname, {index})
    if len(calls) == 1 and not names:
        return None
    frame = (ctx.relpath, qualname)
    for position, call in enumerate(function.calls):
        func = call.func
        if func[0] == "a" and func[2] in ("to", "cuda") and not call.statement and tainted_expression(func[1], calls, names):
            kind = _move_kind(ctx, frame, call)
            if kind is None:
                continue
            if any(function.item_stores.get(name) for name in _names_read(func[1]) & names):
                return None  # filled element by element on the host before the copy, on purpose
            return position, kind
    return None


def _device_source(ctx: ModuleContext, move_node) -> str | None:
    """The device argument of a libcst `.to(...)` call, as written."""
    from torchlint.fixes import argument_node

    node = argument_node(move_node, "device", 0)
    return ctx.source.module.code_for_node(node) if node is not None else None


def _names_read(expr) -> set[str]:
    found = set()
    stack = [expr]
    while stack:
        current = stack.pop()
        if isinstance(current, list) and current:
            if current[0] == "n" and len(current) == 2:
                found.add(current[1])
            else:
                stack.extend(item for item in current[1:] if isinstance(item, list))
    return found


def _move_kind(ctx: ModuleContext, frame, call: Call) -> str | None:
    func = call.func
    if func[0] != "a":
        return None
    if func[2] == "cuda":
        return "cuda"
    if func[2] == "type":
        return ctx.ev.tensor_type_device(call, frame)
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


def _device_text(ctx: ModuleContext, qualname: str, move_index: int) -> str | None:
    """The device a move names, as source text, when the summary can spell it."""
    move = ctx.function(qualname).calls[move_index]
    argument = _device_argument(move)
    if move.func[2] == "cuda":
        if argument is None:
            return '"cuda"'
        if argument[0] == "k" and type(argument[1]) is int:
            return f'"cuda:{argument[1]}"'
    return expr_text(argument) if argument is not None else None


def _device_argument(move: Call):
    for keyword, value in move.keywords:
        if keyword == "device":
            return value
    positional = [a for a in move.args if a[0] != "*"]
    return positional[0] if positional else None


def _names_a_device(ctx: ModuleContext, qualname: str, move: Call) -> bool:
    """Is the move's argument a device (not another tensor, whose dtype `.to()` would
    also take)?"""
    if move.func[2] == "cuda" or any(k == "device" for k, _ in move.keywords):
        return True
    argument = _device_argument(move)
    if argument is None:
        return False
    values = ctx.values(argument, qualname)
    if any(isinstance(v, Tensor) for v in values):
        return False
    return ctx.ev.device_kind(values, strict=True) is not None or ctx.ev.spelled_like_device(argument)
