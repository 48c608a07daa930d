"""Grad mode: does a call run with autograd recording, or under `torch.no_grad()`?

A call runs without grad when an enclosing `with` turns it off (`torch.no_grad()`,
`torch.inference_mode()`, `torch.set_grad_enabled(False)`), when its function is
decorated so, or when every call site of its function runs without grad (callers a few
levels up). `torch.enable_grad()` turns it back on. Anything we cannot read counts as
"maybe off", so rules about grad being on stay silent.
"""

from __future__ import annotations

from torchlint.project.summary import Call
from torchlint.semantic.evaluate import Evaluator
from torchlint.semantic.values import UNKNOWN, External, Function, only_const

NO_GRAD = frozenset((
    "torch.no_grad", "torch.inference_mode", "torch.autograd.no_grad", "torch.autograd.grad_mode.no_grad",
    "torch.autograd.grad_mode.inference_mode", "torch.autograd.inference_mode",
))
ENABLE_GRAD = frozenset(("torch.enable_grad", "torch.autograd.enable_grad", "torch.autograd.grad_mode.enable_grad"))
SET_GRAD_ENABLED = frozenset(("torch.set_grad_enabled", "torch.autograd.set_grad_enabled", "torch.autograd.grad_mode.set_grad_enabled"))

ON, OFF, UNKNOWN_MODE = "on", "off", "unknown"


def context_mode(ev: Evaluator, expr, frame: tuple) -> str | None:
    """What a `with` context or a decorator does to grad mode: OFF, ON, UNKNOWN_MODE
    (`set_grad_enabled(flag)`), or None when it is no grad-mode manager."""
    names = set()
    call = None
    if expr[0] == "c":
        call = ev.function(*frame).calls[expr[1]]
        names = {t.qualname for t, _ in ev.targets(call, frame) if isinstance(t, External)}
    else:
        names = {v.qualname for v in ev.eval(expr, frame) if isinstance(v, External)}
    if names & NO_GRAD:
        return OFF
    if names & ENABLE_GRAD:
        return ON
    if names & SET_GRAD_ENABLED and call is not None:
        if not call.args:
            return UNKNOWN_MODE
        value = only_const(ev.eval(call.args[0], frame))
        return {True: ON, False: OFF}.get(value, UNKNOWN_MODE) if isinstance(value, bool) else UNKNOWN_MODE
    return None


def mode_at(ev: Evaluator, module: str, qualname: str, call: Call) -> str | None:
    """Grad mode set by the `with` blocks around the call in its own function, innermost
    first; None when none sets it."""
    function = ev.function(module, qualname)
    frame = (module, qualname)
    block = call.with_block
    while block >= 0:
        with_ = function.withs[block]
        for context in reversed(with_.contexts):
            mode = context_mode(ev, context, frame)
            if mode is not None:
                return mode
        block = with_.parent
    return None


def function_mode(ev: Evaluator, module: str, qualname: str) -> str | None:
    """Grad mode a function's decorators set (`@torch.no_grad()`, `@torch.inference_mode()`,
    a project decorator whose wrapper runs the function under `torch.no_grad()`); an
    unknown decorator may set it (UNKNOWN_MODE)."""
    function = ev.function(module, qualname)
    if function is None:
        return None
    frame = (module, function.defined_in or "<module>")
    for decorator in function.decorators:
        mode = context_mode(ev, decorator, frame)
        if mode is not None:
            return mode
        values = ev.eval(decorator, frame)
        for value in values:
            if isinstance(value, Function) and _wraps_in_no_grad(ev, value):
                return OFF
        if any(value is UNKNOWN for value in values):
            return UNKNOWN_MODE
    return None


def _wraps_in_no_grad(ev: Evaluator, decorator: Function) -> bool:
    """A project decorator whose inner wrapper runs under `with torch.no_grad():`."""
    summary = ev.project.summary(decorator.module)
    if summary is None:
        return False
    prefix = decorator.qualname + ".<locals>."
    for qualname, function in summary.functions.items():
        if qualname == decorator.qualname or qualname.startswith(prefix):
            frame = (decorator.module, qualname)
            for with_ in function.withs:
                if any(context_mode(ev, context, frame) == OFF for context in with_.contexts):
                    return True
    return False


def grad_enabled(ev: Evaluator, module: str, qualname: str, call: Call, depth: int = 3) -> bool:
    """Is the call sure to run with grad on? False when a context, a decorator, or every
    call site of its function (`depth` levels up) turns grad off or may."""
    mode = mode_at(ev, module, qualname, call)
    if mode is not None:
        return mode == ON
    return _function_grad_enabled(ev, module, qualname, depth)


def _function_grad_enabled(ev: Evaluator, module: str, qualname: str, depth: int) -> bool:
    def compute():
        mode = function_mode(ev, module, qualname)
        if mode is not None:
            return mode == ON
        function = ev.function(module, qualname)
        if function is None or function.kind == "module" or depth == 0:
            return True
        callers = ev.callers(module, qualname)
        for caller_module, caller, index, _ in callers:
            call = ev.function(caller_module, caller).calls[index]
            if not grad_enabled(ev, caller_module, caller, call, depth - 1):
                return False
        return True

    return bool(ev.memo("grad-enabled", (module, qualname, depth), compute, False))

