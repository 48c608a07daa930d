"""TL303 debug-mode-left-on: anomaly detection or the autograd profiler stays on for the
whole training run."""

from __future__ import annotations

import re
from typing import Iterator

from torchlint.rules.base import Effect, Finding, Rule
from torchlint.semantic import api, expr
from torchlint.semantic.context import ModuleContext

SET_ANOMALY = frozenset(("torch.autograd.set_detect_anomaly", "torch.autograd.anomaly_mode.set_detect_anomaly"))
ANOMALY_CONTEXT = frozenset(("torch.autograd.detect_anomaly", "torch.autograd.anomaly_mode.detect_anomaly"))
PROFILERS = frozenset((
    "torch.autograd.profiler.profile", "torch.autograd.profiler.emit_nvtx", "torch.autograd.profiler_legacy.profile",
    "torch.autograd.profile",
))
# Files and functions whose purpose is debugging or profiling keep their tools on.
_PURPOSE = re.compile(r"(?i)(profil|benchmark|bench_|debug|nvtx|trace)")


class DebugModeLeftOn(Rule):
    code = "TL303"
    name = "debug-mode-left-on"
    summary = "Anomaly detection or the autograd profiler left on around training"
    effect = Effect.ANY_DEVICE
    no_fix_reason = "no automatic fix: remove the call, or put it behind a flag"

    def check(self, ctx: ModuleContext) -> Iterator[Finding]:
        if ctx.is_test or _PURPOSE.search(ctx.relpath.rpartition("/")[2]):
            return
        for qualname, index, call in ctx.calls():
            name = expr.called_name(call)
            if name is None or call.gate or call.conditional:
                continue  # behind a flag (`if args.debug:`), inside a try, a loop or a branch
            if name not in ("set_detect_anomaly", "detect_anomaly", "profile", "emit_nvtx", "Trainer"):
                continue
            callee = ctx.callee(qualname, call)
            if callee is None or _PURPOSE.search(qualname):
                continue
            frame = (ctx.relpath, qualname)
            if callee in SET_ANOMALY:
                if not _literally(ctx, frame, call, 0, "mode", True):
                    continue  # `set_detect_anomaly(args.debug)`: behind a flag
                if not self._around_training(ctx, qualname, call, context=False):
                    continue
                what = "`torch.autograd.set_detect_anomaly(True)`"
            elif callee in ANOMALY_CONTEXT or callee in PROFILERS:
                # `profile(enabled=True, ...)`, also given first by position
                position = 0 if callee in PROFILERS else None
                given = any(k == "enabled" for k, _ in call.keywords) or (position == 0 and call.args)
                if given and not _literally(ctx, frame, call, position, "enabled", True):
                    continue  # `profile(args.enable_profiling)`: behind a flag
                if not self._around_training(ctx, qualname, call, context=True):
                    continue
                what = f"`{callee}()`"
            elif callee in api.LIGHTNING_TRAINERS:
                if not _literally(ctx, frame, call, None, "detect_anomaly", True):
                    continue
                what = "`Trainer(detect_anomaly=True)`"
            else:
                continue
            if callee in PROFILERS:
                why = "records every operator of every step on the host"
            else:
                why = "records a stack trace for every operator and checks every backward result"
            yield Finding(
                call.span,
                f"{what} stays on for the whole training run: it {why}, which slows each step "
                "several times; remove it, or turn it on behind a flag when you debug",
            )

    def _around_training(self, ctx: ModuleContext, qualname: str, call, context: bool) -> bool:
        """The call switches the mode for training. A context manager must enclose a
        training step or loop in its block (or sit in per-step code); a global switch must
        run, unconditionally, in a module or function that trains or leads to training."""
        function = ctx.function(qualname)
        if context:
            block = _with_block_of(function, call)
            if block is None:
                return False
            inside = [c for c in function.calls if _within(function, c.with_block, block)]
            return ctx.runs_per_training_step(qualname, call) or any(
                ctx.is_step_call(qualname, c) or any(ctx.trains(f.qualname, f.module) for f in ctx.callees(qualname, c))
                for c in inside
            )
        if function.kind == "module":
            return ctx.module_trains()
        return _leads_to_training(ctx, ctx.relpath, qualname, 3)


def _leads_to_training(ctx: ModuleContext, module: str, qualname: str, depth: int) -> bool:
    """The function trains, or is called without a condition from code that does."""
    if ctx.trains(qualname, module):
        return True
    if depth == 0:
        return False
    for caller_module, caller, index, _ in ctx.callers(qualname, module):
        site = ctx.function(caller, caller_module)
        call = site.calls[index]
        if call.gate or call.conditional:
            continue
        if site.kind == "module" and ctx.module_trains(caller_module):
            return True
        if _leads_to_training(ctx, caller_module, caller, depth - 1):
            return True
    return False


def _with_block_of(function, call) -> int | None:
    """The `with` whose context is this call (`with detect_anomaly():`)."""
    for index, with_ in enumerate(function.withs):
        if any(expr.result_of(context) == function.calls.index(call) for context in with_.contexts):
            return index
    return None


def _within(function, block: int, wanted: int) -> bool:
    while block >= 0:
        if block == wanted:
            return True
        block = function.withs[block].parent
    return False


def _literally(ctx: ModuleContext, frame, call, position: int | None, keyword: str, wanted) -> bool:
    """The argument (by keyword, or at `position`) is the literal `wanted`."""
    for name, value in call.keywords:
        if name == keyword:
            return expr.is_constant_value(value, wanted)
        if name is None:
            return False
    if position is not None and len(call.args) > position:
        return expr.is_constant_value(call.args[position], wanted)
    return False
