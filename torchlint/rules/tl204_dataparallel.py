"""TL204 dataparallel: `nn.DataParallel` trains on several GPUs from one process, which
scatters the batch, replicates the model and gathers the outputs on the first GPU at every
step; DistributedDataParallel runs one process per GPU and overlaps the gradient
all-reduce with backward."""

from __future__ import annotations

from typing import Iterator

from torchlint.fixes import DISPLAY_ONLY, Fix
from torchlint.rules.base import Effect, Finding, Rule
from torchlint.semantic import expr
from torchlint.semantic.context import ModuleContext
from torchlint.semantic.values import Tup

_DATA_PARALLEL = frozenset(("torch.nn.DataParallel", "torch.nn.parallel.DataParallel", "torch.nn.parallel.data_parallel.DataParallel"))
_DDP_RECIPE = "https://docs.pytorch.org/tutorials/intermediate/ddp_tutorial.html"


class DataParallel(Rule):
    code = "TL204"
    name = "dataparallel"
    summary = "nn.DataParallel used for training (DistributedDataParallel is faster)"
    effect = Effect.ANY_DEVICE
    no_fix_reason = "no automatic fix: moving to DistributedDataParallel changes how the script is launched"

    def check(self, ctx: ModuleContext) -> Iterator[Finding]:
        if ctx.is_test:
            return
        for qualname, _, call in ctx.calls():
            if expr.called_name(call) != "DataParallel" or ctx.callee(qualname, call) not in _DATA_PARALLEL:
                continue
            if _single_device(ctx, qualname, call):
                continue  # one GPU: a wrapper kept for checkpoint names, or inside a DDP set-up
            if not _on_training_path(ctx, ctx.relpath, qualname, 2):
                continue  # evaluation or a demo: wrapped to load a DataParallel checkpoint
            yield Finding(
                call.span,
                "`nn.DataParallel` trains from one process: every step it scatters the batch, copies the "
                "model to each GPU and gathers the outputs on the first, which the PyTorch docs call "
                f"slower than DistributedDataParallel even on one machine; use DistributedDataParallel ({_DDP_RECIPE})",
                Fix(DISPLAY_ONLY, f"Use `torch.nn.parallel.DistributedDataParallel`, one process per GPU ({_DDP_RECIPE})"),
            )


def _on_training_path(ctx: ModuleContext, module: str, qualname: str, depth: int) -> bool:
    """Does the function train, call (two levels down) a function that trains, or get
    called by one that does (`build_model()` called from `train()`)?"""
    if _trains_below(ctx, module, qualname, depth):
        return True
    if depth == 0:
        return False
    return any(
        _on_training_path(ctx, caller_module, caller, depth - 1)
        for caller_module, caller, _, _ in ctx.callers(qualname, module)
    )


def _trains_below(ctx: ModuleContext, module: str, qualname: str, depth: int) -> bool:
    if ctx.trains(qualname, module):
        return True
    if depth == 0:
        return False
    function = ctx.function(qualname, module)
    for call in function.calls if function is not None else ():
        for callee in ctx.callees(qualname, call, module):
            if _trains_below(ctx, callee.module, callee.qualname, depth - 1):
                return True
    return False


def _single_device(ctx: ModuleContext, qualname: str, call) -> bool:
    device_ids = dict((k, v) for k, v in call.keywords if k is not None).get("device_ids")
    if device_ids is None and len(call.args) > 1 and not expr.is_starred(call.args[1]):
        device_ids = call.args[1]
    if device_ids is None:
        return False
    items = expr.display_items(device_ids)
    if items is not None and len(items) == 1 and not expr.is_starred(items[0]):
        return True  # `device_ids=[args.gpu]`
    values = ctx.values(device_ids, qualname)
    return bool(values) and all(isinstance(v, Tup) and len(v.items) == 1 for v in values)
