"""TL105 blocking-host-to-device-copy: a batch from a pinned DataLoader is copied to the
device and the host waits for the copy, every step."""

from __future__ import annotations

from typing import Iterator

from torchlint.fixes import SAFE, Fix, keyword_fix
from torchlint.rules.base import Effect, Finding, Rule
from torchlint.semantic import expr
from torchlint.semantic.context import Frequency, ModuleContext
from torchlint.semantic.loaders import CUSTOM_BATCH, MAKES_ACCELERATOR_TENSORS
from torchlint.semantic.values import Bound, Const, Function, Opaque, Tensor

# Calls whose result is the batch on the device: a binding from one is no host rebuild.
_MOVES = ("to", "cuda")


class BlockingHostToDeviceCopy(Rule):
    code = "TL105"
    name = "blocking-host-to-device-copy"
    summary = "Batch from a pinned DataLoader copied to the device without non_blocking=True"
    fixes = (SAFE,)
    effect = Effect.GPU_ONLY

    def check(self, ctx: ModuleContext) -> Iterator[Finding]:
        if ctx.is_test or not ctx.project_fact(_pins_memory, False):
            return
        for qualname, index, call in ctx.calls():
            method = expr.method(call)
            if method not in _MOVES or call.statement:
                continue  # (a discarded move is TL203's finding)
            if any(k in ("non_blocking", "async") or k is None for k, _ in call.keywords):
                continue  # set (even to False, on purpose), or hidden in **kwargs
            if any(expr.is_starred(a) or isinstance(expr.constant(a, None), bool) for a in call.args):
                continue  # positional non_blocking
            if method == "to" and len(call.args) > 1:
                continue
            if method == "to" and ctx.move_target(qualname, call) not in ("cuda", "any"):
                continue  # to the CPU, to another dtype: no host-to-device copy to overlap
            moved = expr.receiver(call)
            if not _straight_from_loader(ctx, qualname, moved, index):
                continue  # a tensor rebuilt on the host (`x.float()`, `torch.cat(...)`) is not pinned
            values = _receiver_values(ctx, qualname, moved, index)
            if not values or not all(isinstance(v, Tensor) and v.source is not None for v in values):
                continue
            if not any(v.device == "host" for v in values):
                continue  # placed by a framework, or already on the device
            sources = {v.source for v in values}
            if not all(_pinned(ctx, site) for site in sources):
                continue  # unpinned loaders: TL102's finding
            if ctx.frequency(qualname, call) not in (Frequency.PER_STEP, Frequency.PER_BATCH):
                continue
            if ctx.accelerator_evidence(qualname) != "cuda":
                continue
            yield Finding(
                call.span,
                "A batch from a pinned DataLoader is copied to the GPU and the host waits for "
                "the copy at every step; add `non_blocking=True` so that the copy overlaps "
                "with compute",
                lambda call=call: self._fix(ctx, call),
            )

    def _fix(self, ctx: ModuleContext, call) -> Fix:
        return keyword_fix(ctx.source, call.span, "non_blocking", "True", SAFE, "Add `non_blocking=True`")


def _pins_memory(ctx: ModuleContext) -> bool:
    """Does any call of the project pass `pin_memory` (or enough positional arguments to
    reach it)? Without one, no loader is pinned: a cheap first sieve."""
    for _, _, call in ctx.project_calls():
        if len(call.args) > 7 or any(k in ("pin_memory", None) for k, _ in call.keywords):
            return True
    return False


def _receiver_values(ctx: ModuleContext, qualname: str, receiver, move: int) -> frozenset:
    """The values of the moved name as this move reads it (the binding that reaches it),
    or of the expression."""
    name = expr.name(receiver)
    if name is not None:
        bindings = ctx.function(qualname).bindings.get(name, ())
        reaching = [b for b in bindings if any(use[2] == move for use in b.uses)]
        if len(reaching) == 1:
            return ctx.binding_values(qualname, name, reaching[0])
    return ctx.values(receiver, qualname)


def _pinned(ctx: ModuleContext, site) -> bool:
    """The loader is built with `pin_memory=True` (a constant, an argparse default, or
    `torch.cuda.is_available()`), and its batches are tensors that pinning reaches."""
    bound = ctx.loader_arguments(site)
    if bound is None or bound.opaque:
        return False
    pin = bound.get("pin_memory")
    if pin is None:
        return False
    # Pinned on the runs that use the GPU: `True`, `torch.cuda.is_available()`, or a
    # setting that is one of them (`torch.cuda.is_available() and use_gpu`). On the other
    # runs `non_blocking=True` changes nothing.
    if not any(
        (isinstance(v, Const) and v.value is True) or (isinstance(v, Opaque) and v.qualname == "torch.cuda.is_available")
        for v in pin.values
    ):
        return False
    return not ({CUSTOM_BATCH, MAKES_ACCELERATOR_TENSORS} & ctx.loader_traits(site))


def _straight_from_loader(ctx: ModuleContext, qualname: str, receiver, move: int) -> bool:
    """The moved expression is a loader's batch as it came (a loop target, an unpacked or
    indexed part of one, a parameter a step function receives, what an accessor such as
    `imgs, pids = self.parse_data(batch)` returns), not a tensor computed from it on the
    host."""
    return _as_loaded(ctx, ctx.relpath, qualname, receiver, 2, move)


def _as_loaded(ctx: ModuleContext, module: str, qualname: str, moved, depth: int, move: int | None = None) -> bool:
    function = ctx.function(qualname, module)
    moved = expr.strip_access(moved)
    items = expr.display_items(moved)
    if items is not None:
        return all(_as_loaded(ctx, module, qualname, item, depth) for item in items)
    if expr.result_of(moved) is not None:
        return _accessor_call(ctx, module, qualname, expr.result_of(moved), depth)
    if expr.name(moved) is None:
        return False
    bindings = function.bindings.get(expr.name(moved))
    if not bindings:
        return False
    if move is not None:
        # The binding the move reads (its receiver read is recorded with the call), when
        # known: a later `x = vae.encode(x)` does not make the loaded `x` another tensor.
        reaching = [b for b in bindings if any(use[2] == move for use in b.uses)]
        bindings = reaching or bindings
    for binding in bindings:
        if binding.kind in ("loop", "param"):
            continue
        if binding.kind != "assign":
            return False
        value = expr.strip_access(binding.value)
        if expr.name(value) is not None:
            continue  # `x, y = batch`, `x = batch["image"]`
        producer = expr.result_of(value)
        if producer is not None:
            if expr.method(function.calls[producer]) in _MOVES:
                continue  # `x = x.to(device)`: the device copy itself
            if _accessor_call(ctx, module, qualname, producer, depth):
                continue
        return False
    return True


def _accessor_call(ctx: ModuleContext, module: str, qualname: str, index: int, depth: int) -> bool:
    """A call of project functions that only hand back parts of their arguments."""
    if depth == 0:
        return False
    call = ctx.function(qualname, module).calls[index]
    if expr.function_name(call) in ("next", "iter") and call.args:
        return True  # `images, targets = next(batch_iterator)`: the loader's batch itself
    callees = []
    for target, _ in ctx.targets(qualname, call, module):
        callee = target.function if isinstance(target, Bound) else target if isinstance(target, Function) else None
        if callee is None:
            return False
        callees.append(callee)
    if not callees:
        return False
    for callee in callees:
        function = ctx.function(callee.qualname, callee.module)
        if function is None or not function.returns or function.calls and len(function.calls) > 8:
            return False
        if not all(_as_loaded(ctx, callee.module, callee.qualname, value, depth - 1) for value in function.returns):
            return False
    return True
