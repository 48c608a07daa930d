"""TL103 small-batch-size: too few samples per step to keep the GPU busy."""

from __future__ import annotations

from typing import Iterator

from torchlint.rules.base import Default, Effect, Finding, Rule
from torchlint.rules.loaders import loader_calls
from torchlint.semantic import api, expr
from torchlint.semantic.context import ModuleContext
from torchlint.semantic.values import first_origin, only_const

# Comments that are not a reason (test markers, tool directives).
_NOT_REASONS = ("expect:", "noqa", "type:", "pragma", "fmt:", "pylint", "torchlint")


class SmallBatchSize(Rule):
    code = "TL103"
    name = "small-batch-size"
    summary = "Training DataLoader with a very small batch size"
    effect = Effect.ANY_DEVICE
    no_fix_reason = "no automatic fix: a larger batch changes the optimisation"
    # On public repositories half of its findings were batch sizes a method prescribes
    # (batch 1 for image translation, memory-bound super-resolution): opt-in.
    default = Default.OPT_IN

    def check(self, ctx: ModuleContext) -> Iterator[Finding]:
        if ctx.is_test:
            return
        threshold = self.options.small_batch_threshold
        for loader in loader_calls(ctx):
            training = [c for c in loader.consumers if c.role == "train"]
            if not training:
                continue  # evaluation, sampling or visualisation loaders may be small
            arguments = loader.arguments
            if arguments.get("batch_sampler") is not None or arguments.get("collate_fn") is not None:
                continue  # whole batches from a sampler; a custom collate packs or pads variable-size samples
            if ctx.loader_class(loader.site) in api.OBJECT_BATCH_LOADERS:
                continue  # a sample is a whole graph or point cloud: the batch is not the unit of work
            found = arguments.get("batch_size")
            if found is None:
                if arguments.opaque:
                    continue
                size, why, origin = 1, "`batch_size=1` (the default)", None
            else:
                size = only_const(found.values)
                if type(size) is not int:
                    continue  # None (pre-batched data), unknown, or not a number
                origin = first_origin(found.values)
                why = f"`batch_size={size}`"
            if size >= threshold or size <= 0:
                continue
            modules = {loader.site[0]} | {c.module for c in training}
            if any(_accumulates(ctx, m) for m in modules):
                continue  # small micro-batches with gradient accumulation are deliberate
            if _explained(ctx, loader.site[0], loader.call.span.line, loader.call.span.end_line) or (
                origin is not None and _explained(ctx, origin[0], origin[1], origin[1])
            ):
                continue
            where = ""
            if origin is not None and origin[1] != loader.call.span.line:
                place = f"line {origin[1]}" if origin[0] == ctx.relpath else f"{origin[0]}:{origin[1]}"
                where = f" (set by {origin[2]} on {place})"
            yield Finding(
                loader.call.span,
                f"Training DataLoader uses {why}{where}: each step does too little work to fill "
                f"the GPU; use `batch_size={max(threshold, 32)}` or more (scale the learning rate "
                "with it, or accumulate gradients)",
            )


def _accumulates(ctx: ModuleContext, module: str) -> bool:
    """Gradient accumulation configured anywhere in the module: a name, keyword or
    command-line option about accumulating."""
    return bool(ctx.project_fact(_module_accumulates, False, key=module))


def _module_accumulates(ctx: ModuleContext, module: str) -> bool:
    summary = ctx.module_summary(module)
    if summary is None:
        return False
    for function in summary.functions.values():
        if any("accum" in name.lower() for name in function.bindings):
            return True
        for call in function.calls:
            if any(k and "accum" in k.lower() for k, _ in call.keywords):
                return True
            if expr.method(call) == "add_argument":
                if any("accum" in (expr.string_constant(a) or "").lower() for a in call.args):
                    return True
    for info in summary.classes.values():
        if any("accum" in attr.lower() for attr in info.self_attrs):
            return True
    return False


def _explained(ctx: ModuleContext, module: str, first: int, last: int) -> bool:
    """A comment on these lines says why the value is what it is."""
    summary = ctx.module_summary(module)
    if summary is None:
        return False
    for line in range(first, last + 1):
        text = summary.comments.get(line, "").strip().lower()
        if text and not text.startswith(_NOT_REASONS):
            return True
    return False
