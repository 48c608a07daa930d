"""TL403 cudnn-benchmark-off: a convolutional network trains on CUDA with cuDNN's
autotuner off, so every convolution runs with a heuristic choice of algorithm."""

from __future__ import annotations

from typing import Iterator

from torchlint.fixes import DISPLAY_ONLY, UNSAFE, Fix, torch_reference
from torchlint.rules.base import Effect, Finding, Rule
from torchlint.rules.setup import convolution_dims, project_convolution_dims, training_loops
from torchlint.semantic import api, expr
from torchlint.semantic.context import ModuleContext
from torchlint.semantic.values import Const

_MESSAGE = (
    "A convolutional network trains on CUDA with `torch.backends.cudnn.benchmark` never set, "
    "so cuDNN picks convolution algorithms by heuristics instead of timing them once; set "
    "`torch.backends.cudnn.benchmark = True` before training (inputs of a fixed size)"
)


class CudnnBenchmarkOff(Rule):
    code = "TL403"
    name = "cudnn-benchmark-off"
    summary = "Convolutional network trained without torch.backends.cudnn.benchmark = True"
    fixes = (UNSAFE,)
    fix_scope = "(see Fix safety)"
    effect = Effect.GPU_ONLY
    no_fix_reason = "no automatic fix: set `benchmark=True` on the Trainer"

    def check(self, ctx: ModuleContext) -> Iterator[Finding]:
        if ctx.is_test:
            return
        setting = ctx.project_fact(_benchmark_setting, "unset")
        if setting == "set":
            return  # set somewhere in the project (even behind a flag): its authors decide
        yield from self._lightning(ctx)
        for loop in training_loops(ctx, ("cuda", "accel")):
            dims = set()
            for model in loop.models:
                dims |= convolution_dims(ctx, model)
            if not any(ctx.has_parameters(m) for m in loop.models):
                dims = project_convolution_dims(ctx)  # the model is not resolved: what the project builds
            if not dims or dims == {1}:
                continue  # no convolutions, or 1-d ones (sequences of varying length)
            yield Finding(loop.span, _MESSAGE, lambda loop=loop: self._fix(ctx, loop))

    def _lightning(self, ctx: ModuleContext) -> Iterator[Finding]:
        """A Lightning `Trainer(...)` without `benchmark=True` (its default leaves cuDNN's
        autotuner off), in a project whose modules convolve in 2-d or 3-d."""
        for qualname, _, call in ctx.calls():
            if expr.called_name(call) != "Trainer" or ctx.callee(qualname, call) not in api.LIGHTNING_TRAINERS:
                continue
            if expr.has_star_kwargs(call):
                continue  # `Trainer(**config)`: the setting may be in it
            if not (project_convolution_dims(ctx) - {1}):
                continue
            yield Finding(
                call.span,
                "The Lightning `Trainer` leaves cuDNN's autotuner off (`benchmark` defaults to off) for a "
                "convolutional network; pass `benchmark=True` when the inputs have a fixed size",
                Fix(DISPLAY_ONLY, "Pass `benchmark=True`"),
            )

    def _fix(self, ctx: ModuleContext, loop) -> Fix:
        """`torch.backends.cudnn.benchmark = True` on a line before the outermost loop
        around the training step (the epoch loop)."""
        message = "Set `torch.backends.cudnn.benchmark = True` before training"
        torch = torch_reference(ctx.summary, ctx.source)
        if torch is None:
            return Fix(DISPLAY_ONLY, message)
        name, imports = torch
        text = ctx.source.index.line_text(loop.outermost_line).lstrip()
        if not text.startswith(("for ", "while ", "async for ")):
            return Fix(DISPLAY_ONLY, message)
        edit = ctx.source.insert_line_before(loop.outermost_line, f"{name}.backends.cudnn.benchmark = True")
        # Unsafe: the autotuner may pick non-deterministic algorithms, so results can differ
        # from run to run in the last bits.
        return Fix(UNSAFE, message + " (autotuned algorithms may not be deterministic)", [edit, *imports])


def _benchmark_setting(ctx: ModuleContext) -> str:
    """"set" when the project sets `cudnn.benchmark` to anything but False (or gives a
    reason for False in a comment), or passes `benchmark=` other than False to a Trainer;
    "unset" otherwise."""
    for module, summary, qualname, function in ctx.project_functions():
        for dotted, value, line in function.setting_stores:
            if not dotted.endswith("cudnn.benchmark"):
                continue
            values = ctx.values(value, qualname, module)
            if not values or not all(isinstance(v, Const) and v.value is False for v in values):
                return "set"
            if summary.comments.get(line) or summary.comments.get(line - 1):
                return "set"  # a reason given for keeping it off
    for module, qualname, call in ctx.project_calls():
        if expr.called_name(call) == "Trainer":
            for keyword, value in call.keywords:
                if keyword == "benchmark":
                    values = ctx.values(value, qualname, module)
                    if not values or not all(isinstance(v, Const) and v.value is False for v in values):
                        return "set"
    return "unset"
