"""TL301 host-sync-in-step: the host waits for the GPU at every training step."""

from __future__ import annotations

import re
from typing import Iterator

from torchlint.fixes import DISPLAY_ONLY, SAFE, Fix, name_is_free
from torchlint.fixes.running_total import running_total_edits, span_key
from torchlint.rules.base import Effect, Finding, Rule
from torchlint.semantic import expr
from torchlint.semantic.context import ModuleContext
from torchlint.semantic.grad import OFF as GRAD_OFF
from torchlint.semantic.values import UNKNOWN, Const, Opaque, Tensor

# Tensor methods that copy to the host (`.numpy()` only works on host tensors: the
# `.cpu()` before it is the sync).
_SYNC_METHODS = ("item", "cpu", "tolist")
_CONVERSIONS = frozenset(("builtins.float", "builtins.int", "builtins.bool", "builtins.print"))
_SYNCHRONIZE = frozenset(("torch.cuda.synchronize", "torch.accelerator.synchronize", "torch.xpu.synchronize", "torch.mps.synchronize"))
_TIMERS = frozenset((
    "time.time", "time.perf_counter", "time.monotonic", "time.process_time", "timeit.default_timer",
    "torch.cuda.Event", "torch.cuda.event.Event",
))
_LOGGERS = frozenset(("wandb.log",))
# Functions that hand a value to the environment or the caller on purpose (RL actions).
_ACTING = re.compile(r"(?i)(^|_)(act|action|actions|select_action|choose_action|get_action|sample_action|policy)($|_)")
# Libraries whose values live on the host.
_HOST_LIBRARIES = ("numpy.", "builtins.", "math.", "random.", "pandas.", "PIL.", "cv2.", "time.", "scipy.", "sklearn.")
_NUMBER_WRAPPERS = frozenset(("int", "float", "round", "abs", "max", "min", "ceil", "floor"))
# Calls whose argument must be a Python number: a value synced for them is needed.
_NEEDS_NUMBER = frozenset((
    "range", "zeros", "ones", "empty", "full", "arange", "randn", "rand", "randint", "view", "reshape", "expand",
    "narrow", "split", "repeat", "new_zeros", "new_ones", "new_full", "new_empty", "linspace", "pad", "step",
))


class HostSyncInStep(Rule):
    code = "TL301"
    name = "host-sync-in-step"
    summary = "Host waits for the GPU at every training step (.item(), .cpu(), print, if on a tensor)"
    fixes = (SAFE,)
    fix_scope = "for running totals of `.item()` (see Fix safety); other syncs are reported with where to move them"
    effect = Effect.GPU_ONLY
    no_fix_reason = "no automatic fix: move the sync into the logging branch, or keep the value on the device"

    def check(self, ctx: ModuleContext) -> Iterator[Finding]:
        if ctx.is_test:
            return
        for qualname, function in ctx.summary.functions.items():
            if not self._hot(ctx, qualname):
                continue
            # One finding per statement, at its first sync: a print or a dict of three
            # `.item()`s is one place to change.
            found: dict = {}
            tests = {}  # host-use index -> does that `if` test a GPU tensor?

            def under_sync_test(guard: int) -> bool:
                # Inside `if torch.min(y) < -1: print(...)`: the test is the finding; its
                # body runs only when the check fails.
                if guard < 0:
                    return False
                if guard not in tests:
                    tests[guard] = self._host_use_sync(ctx, qualname, function.host_uses[guard]) is not None
                return tests[guard]

            for index, call in enumerate(function.calls):
                message = self._call_sync(ctx, qualname, index, call)
                if message is None or under_sync_test(call.guard):
                    continue
                if ctx.runs_per_training_step(qualname, call):
                    fix = None
                    if expr.method(call) == "item":
                        fix = lambda qualname=qualname, index=index: _accumulator_fix(ctx, qualname, index)
                    _keep_first(found, call.statement_line or call.span.line, call.span, message, fix)
            for use in function.host_uses:
                message = self._host_use_sync(ctx, qualname, use)
                if message is None or under_sync_test(use.guard):
                    continue
                if ctx.runs_per_training_step(qualname, use):
                    _keep_first(found, use.statement_line or use.span.line, use.span, message)
            for span, message, fix in sorted(found.values(), key=lambda entry: (entry[0].line, entry[0].col)):
                yield Finding(span, message, fix)

    def _hot(self, ctx: ModuleContext, qualname: str) -> bool:
        """Code of this function may run per training step, on an accelerator; evaluation
        functions (decorated with `no_grad`, or switching a model to `.eval()` without
        training) are not, even when full-batch training runs them every step."""
        function = ctx.function(qualname)
        if function.kind == "class-body":
            return False
        if ctx.function_grad_mode(qualname) == GRAD_OFF:
            return False
        if _evaluates(ctx, qualname):
            return False
        hot = ctx.runs_per_step(qualname) or bool(function.loops)
        return hot and bool(ctx.accelerator_evidence(qualname))

    # -- calls -----------------------------------------------------------------------

    def _call_sync(self, ctx: ModuleContext, qualname: str, index: int, call) -> str | None:
        method, receiver = expr.method(call), expr.receiver(call)
        if method in _SYNC_METHODS + ("to",):
            if method == "to" and ctx.move_target(qualname, call) != "cpu":
                return None
            if not _on_device(ctx, qualname, receiver, lenient=method == "item"):
                return None
            if self._needed(ctx, qualname, index):
                return None
            shown = _shown(receiver, f".{method}()" if method != "to" else ".to(\"cpu\")")
            return (
                f"`{shown}` copies a value to the host and waits for the GPU at every training step; "
                "keep it on the device (`total += loss.detach()`) and convert it where you log, "
                "or only every N steps"
            )
        name = expr.called_name(call)
        if name in ("float", "int", "bool", "print", "synchronize", "add_scalar", "add_scalars", "log"):
            callee = ctx.callee(qualname, call)
            if callee in _CONVERSIONS:
                tensors = [a for a in expr.positional(call) if _on_device(ctx, qualname, a)]
                if not tensors:
                    return None
                if callee == "builtins.print":
                    return (
                        f"`print({_shown(tensors[0], '')})` formats a GPU tensor, which waits for the GPU at "
                        "every training step; print every N steps, or print a value kept on the host"
                    )
                if self._needed(ctx, qualname, index):
                    return None
                return (
                    f"`{name}(...)` of a GPU tensor copies it to the host and waits for the GPU at every "
                    "training step; keep it on the device and convert it where you log"
                )
            if callee in _SYNCHRONIZE:
                if _times_itself(ctx, qualname):
                    return None  # timing code needs the barrier
                return (
                    f"`{callee}()` at every training step stops the CPU from queueing work ahead of "
                    "the GPU; remove it (keep it only around timing code)"
                )
            if name in ("add_scalar", "add_scalars") and len(call.args) > 1 and _on_device(ctx, qualname, call.args[1]):
                return (
                    f"`{name}(...)` of a GPU tensor copies it to the host and waits for the GPU at every "
                    "training step; log every N steps"
                )
            if callee in _LOGGERS and any(_on_device(ctx, qualname, v) for a in call.args for _, v in expr.dict_entries(a) or ()):
                return (
                    f"`{callee}(...)` of a GPU tensor copies it to the host and waits for the GPU at every "
                    "training step; log every N steps"
                )
        return None

    def _needed(self, ctx: ModuleContext, qualname: str, index: int) -> bool:
        """The synced value is needed as a Python number: an action handed to the
        environment, a size or a loop bound."""
        function = ctx.function(qualname)
        if _ACTING.search(function.name):
            return True
        if _into_numpy(function, index) and _round_trip(ctx, qualname):
            return True
        # `int(n.item())`, `round(x.item())`: follow the value through number conversions.
        wrapped = True
        while wrapped:
            wrapped = False
            for position, call in enumerate(function.calls):
                if expr.result(index) in call.args and expr.called_name(call) in _NUMBER_WRAPPERS:
                    index, wrapped = position, True
                    break
        bound = ctx.binding_of_call(qualname, index)
        if bound is None:
            # Used inline: `range(n.item())`, `env.step(action.item())`, `x[: n.item()]`.
            return _used_as_number(function, expr.result(index))
        return _used_as_number(function, expr.named(bound[0]))

    # -- reads without a call --------------------------------------------------------------

    def _host_use_sync(self, ctx: ModuleContext, qualname: str, use) -> str | None:
        operands = _operands(use.expr) if use.kind == "test" else [use.expr]
        for operand in operands:
            if _on_device(ctx, qualname, operand):
                if use.kind == "test":
                    return (
                        "Testing a GPU tensor in `if`/`while`/`assert` waits for the GPU at every "
                        "training step to decide; check every N steps, or keep the condition on the "
                        "device (`torch.where`, `torch.nan_to_num`)"
                    )
                return (
                    f"Formatting a GPU tensor (`{_shown(operand, '')}`) waits for the GPU at every "
                    "training step; format every N steps, or a value kept on the host"
                )
        return None


def _evaluates(ctx: ModuleContext, qualname: str) -> bool:
    """The function switches a model to eval mode and runs no training step itself."""
    function = ctx.function(qualname)
    evals = any(expr.is_bare_method_call(call, "eval") for call in function.calls)
    return evals and not any(ctx.is_step_call(qualname, call) for call in function.calls)


def _keep_first(found: dict, statement: int, span, message: str, fix=None) -> None:
    current = found.get(statement)
    if current is None or (span.line, span.col) < (current[0].line, current[0].col):
        found[statement] = (span, message, fix)


def _operands(condition) -> list:
    """The parts of a condition that are converted to bool: `a and not b` -> a, b."""
    operator, *operands = expr.unary(condition) or expr.binary(condition) or (None,)
    if operator == "not" or operator in ("and", "or"):
        return [part for operand in operands for part in _operands(operand)]
    return [condition]


def _on_device(ctx: ModuleContext, qualname: str, tensor, lenient: bool = False) -> bool:
    """The expression is a tensor that is (or may be) on the accelerator: its values are
    tensors, not all on the host, or values we cannot see into (an unknown, a library
    object); a constant, a numpy value or a project object rules it out. With `lenient`
    (for `.item()`, a tensor method in training code), no known tensor is needed."""
    values = ctx.values(tensor, qualname)
    if not values:
        return False
    tensors = [v for v in values if isinstance(v, Tensor)]
    for value in values:
        if isinstance(value, Tensor) or value is UNKNOWN:
            continue
        if lenient and isinstance(value, Const) and isinstance(value.value, (int, float)):
            continue  # `total = 0` before `total += loss`: `.item()` is not called on the 0
        if isinstance(value, Opaque) and not value.qualname.startswith(_HOST_LIBRARIES):
            continue
        return False
    if tensors:
        return any(v.device != "host" for v in tensors)
    return lenient


def _into_numpy(function, index: int) -> bool:
    """`x.cpu().numpy()`: the sync feeds a host (numpy) computation."""
    return any(expr.chained_on(call, index) is not None and expr.method(call) == "numpy" for call in function.calls)


def _round_trip(ctx: ModuleContext, qualname: str) -> bool:
    """The function copies values to the host for an algorithm that runs there and sends
    the result back (`path = maximum_path(neg.cpu().numpy()); torch.from_numpy(path).to(device)`):
    its syncs are the algorithm's."""
    function = ctx.function(qualname)
    if any(ctx.is_step_call(qualname, call) for call in function.calls):
        return False  # the training step itself: its conversions are not one algorithm's
    back = {"torch.from_numpy", "torch.as_tensor", "torch.tensor"}
    for index, call in enumerate(function.calls):
        if ctx.callee(qualname, call) in back:
            for other in function.calls:
                if expr.chained_on(other, index) is not None and expr.method(other) in ("to", "cuda"):
                    return True
    return False


def _mentions_expr(value, wanted) -> bool:
    if value == wanted:
        return True
    return isinstance(value, list) and any(_mentions_expr(part, wanted) for part in expr.subexpressions(value))


def _used_as_number(function, value) -> bool:
    """The expression is (part of) an argument of a call that needs a Python number: a
    range, a size (`torch.zeros(n.item() + 1)`), `env.step`."""
    for call in function.calls:
        name = expr.called_name(call)
        if name in _NEEDS_NUMBER and (
            any(_mentions_expr(a, value) for a in call.args) or any(_mentions_expr(v, value) for _, v in call.keywords)
        ):
            if name == "step" and _optimizer_like(call):
                continue
            return True
    return False


def _optimizer_like(call) -> bool:
    receiver = expr.receiver(call)
    text = (expr.source_text(receiver) or "") if receiver is not None else ""
    return bool(re.search(r"(?i)(optim|sched|scaler|opt$)", text))


def _times_itself(ctx: ModuleContext, qualname: str) -> bool:
    function = ctx.function(qualname)
    return any(ctx.callee(qualname, call) in _TIMERS for call in function.calls)


def _shown(shown, suffix: str) -> str:
    text = expr.source_text(shown)
    return f"{text}{suffix}" if text else suffix.lstrip(".") or "..."


# -- the one safe fix: a running total kept on the device ---------------------------------
# The values are proven here; the edits are proven and built on the stdlib `ast` in
# fixes/running_total.py.

_KEEP_ON_DEVICE = "Keep the running value on the device (`total += loss.detach()`) and convert it where you log"


def _accumulator_fix(ctx: ModuleContext, qualname: str, index: int) -> Fix:
    """`total += loss.item()` becomes `total += loss.detach().double()`, and every read of
    `total` becomes `float(total)`. Proven only for a local name started at a float literal,
    grown only by `+=` of numbers and `.item()`s of GPU tensors, and read outside the step
    (or under an `if` in it), in code that targets CUDA: float64 on the device adds exactly
    what Python adds, so every printed figure stays the same to the last digit."""
    display = Fix(DISPLAY_ONLY, _KEEP_ON_DEVICE)
    function = ctx.function(qualname)
    if ctx.accelerator_evidence(qualname) != "cuda":
        return display  # float64 is not available on every accelerator (MPS)
    if not name_is_free(ctx.summary, "float") or "float" in function.bindings:
        return display
    proven = set()
    for call in function.calls:
        if expr.is_bare_method_call(call, "item"):
            values = ctx.values(expr.receiver(call), qualname)
            if values and all(isinstance(v, Tensor) for v in values) and any(v.device != "host" for v in values):
                proven.add(span_key(call.span))
    target = span_key(function.calls[index].span)
    if target not in proven:
        return display

    def is_number(name: str) -> bool:
        values = ctx.values(expr.named(name), qualname)
        return bool(values) and all(
            isinstance(v, Const) and isinstance(v.value, (int, float)) and not isinstance(v.value, bool) for v in values
        )

    edits = running_total_edits(ctx.source, proven, is_number, target)
    if not edits:
        return display
    return Fix(SAFE, "Accumulate on the device (`.detach().double()`) and convert with `float()` where the total is read", edits)
