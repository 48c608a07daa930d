"""TL203 discarded-device-move: `x.to(device)` as a statement does not move `x`."""

from __future__ import annotations

from typing import Iterator

from torchlint.fixes import DISPLAY_ONLY, SAFE, Edit, Fix
from torchlint.rules.base import Effect, Finding, Rule
from torchlint.semantic import expr
from torchlint.semantic.context import ModuleContext
from torchlint.semantic.values import Tensor

_MOVES = ("to", "cuda", "cpu")


class DiscardedDeviceMove(Rule):
    code = "TL203"
    name = "discarded-device-move"
    summary = "Result of a tensor's .to()/.cuda() is thrown away"
    fixes = (SAFE,)
    fix_scope = "for plain names"
    effect = Effect.GPU_ONLY

    def check(self, ctx: ModuleContext) -> Iterator[Finding]:
        for qualname, _, call in ctx.calls():
            if not call.statement or expr.method(call) not in _MOVES:
                continue
            receiver = expr.receiver(call)
            values = ctx.values(receiver, qualname)
            if not values or not all(isinstance(v, Tensor) and v.exact for v in values):
                continue  # modules (and batch objects) move in place; unknown receivers may too
            spelled = expr.source_text(receiver) or _source_text(ctx, call)
            text = _call_text(ctx, call)
            assignment = f"{spelled} = {text}"
            if expr.name(receiver) is not None:
                fix = Fix(SAFE, f"Assign the result: `{assignment}`",
                          [Edit((call.span.line, call.span.col), (call.span.line, call.span.col), f"{spelled} = ")])
            else:
                fix = Fix(DISPLAY_ONLY, f"Assign the result: `{assignment}` (applied only to plain names)")
            yield Finding(
                call.span,
                f"`{text}` returns a new tensor and the result is discarded, so `{spelled}` "
                f"stays where it was; assign it: `{assignment}`",
                fix,
            )


def _call_text(ctx: ModuleContext, call) -> str:
    span = call.span
    index = ctx.source.index
    start = index.offset(span.line, span.col)
    end = index.offset(span.end_line, span.end_col)
    return ctx.source.text[start:end]


def _source_text(ctx: ModuleContext, call) -> str:
    text = _call_text(ctx, call)
    return text.rpartition(".")[0] or text
