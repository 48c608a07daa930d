"""TL404 zero-grad-without-set-to-none: on torch before 2.0, `zero_grad()` fills every
gradient with zeros at every step, where setting them to None costs nothing."""

from __future__ import annotations

import re
from typing import Iterator

from torchlint.fixes import DISPLAY_ONLY, UNSAFE, Fix, keyword_fix
from torchlint.rules.base import Effect, Finding, Rule
from torchlint.semantic import api, expr
from torchlint.semantic.context import Frequency, ModuleContext
from torchlint.semantic.values import Instance, Optimizer, TorchModule

# `p.grad`, `param.grad.data`: code that reads gradients could find None after the change.
_READS_GRAD = re.compile(r"\.grad\b(?!_)")


class ZeroGradWithoutSetToNone(Rule):
    code = "TL404"
    name = "zero-grad-without-set-to-none"
    summary = "zero_grad() zero-fills gradients every step (torch < 2.0 default)"
    fixes = (UNSAFE,)
    fix_scope = "(see Fix safety)"
    effect = Effect.TORCH_1_ONLY
    no_fix_reason = "no automatic fix: `set_to_none` needs torch 1.7 or newer"

    def check(self, ctx: ModuleContext) -> Iterator[Finding]:
        if ctx.is_test:
            return
        target = ctx.torch_target
        if not target.before((2, 0)):
            return  # since 2.0 `zero_grad()` sets gradients to None by default
        for qualname, index, call in ctx.calls():
            if expr.method(call) != "zero_grad":
                continue
            if expr.has_star_kwargs(call) or expr.has_star_args(call):
                continue  # hidden in *args/**kwargs
            given = dict(call.keywords).get("set_to_none", call.args[0] if call.args else None)
            if given is not None and not expr.is_constant_value(given, False):
                continue  # True, or a value we cannot read
            if not _zeroes_parameters(ctx, qualname, expr.receiver(call)):
                continue
            if ctx.frequency(qualname, call) not in (Frequency.PER_STEP, Frequency.PER_BATCH, Frequency.EVERY_K):
                continue
            if _reads_grad(ctx, qualname, call):
                continue  # the gradients are read: None where zeros were could break it
            if target.before((1, 7)):
                instead = "setting each gradient to None (`p.grad = None`; `set_to_none=True` needs torch 1.7)"
            else:
                instead = "`zero_grad(set_to_none=True)` (the default since torch 2.0)"
            yield Finding(
                call.span,
                f"`{'zero_grad(set_to_none=False)' if given else 'zero_grad()'}` writes zeros into every "
                f"gradient at every step on {target.describe()}; {instead} skips that memory traffic",
                lambda call=call, given=given: self._fix(ctx, call, given),
            )

    def _fix(self, ctx: ModuleContext, call, given) -> Fix:
        message = "Use `zero_grad(set_to_none=True)`"
        if not ctx.torch_target.admits_only_from((1, 7)):
            return Fix(DISPLAY_ONLY, message + " (needs torch 1.7 or newer; older: set each `p.grad = None`)")
        # Unsafe: a parameter whose gradient is None is skipped by the optimizer (no
        # weight decay or momentum step for it), where a zero gradient was applied.
        unsafe = message + " (optimizers skip parameters without a gradient)"
        return keyword_fix(ctx.source, call.span, "set_to_none", "True", UNSAFE, unsafe, given=given is not None, fallback=message)


def _zeroes_parameters(ctx: ModuleContext, qualname: str, receiver) -> bool:
    """The receiver is an optimizer or a model (by value, or by an optimizer's name)."""
    values = ctx.values(receiver, qualname)
    if any(isinstance(v, (Optimizer, TorchModule)) for v in values):
        return True
    if any(isinstance(v, Instance) and "torch.nn.Module" in ctx.library_bases(v.qualname, v.module) for v in values):
        return True
    spelled = expr.last_name(receiver)
    return isinstance(spelled, str) and api.looks_like_optimizer(spelled)


def _reads_grad(ctx: ModuleContext, qualname: str, call) -> bool:
    """Does the step read `.grad` (the body of the innermost loop around the zeroing, or
    the whole function)? Where a parameter got no gradient, it would find None instead of
    zeros."""
    function = ctx.function(qualname)
    if call.loops:
        span = function.loops[call.loops[-1]].span
    elif qualname == "<module>":
        return False
    else:
        span = function.span
    index = ctx.source.index
    return any(_READS_GRAD.search(index.line_text(n)) for n in range(span.line, span.end_line + 1))
