"""TL401 eval-without-no-grad: an evaluation loop runs the model with autograd recording."""

from __future__ import annotations

from typing import Iterator

from torchlint.fixes import DISPLAY_ONLY, SAFE, Fix, torch_reference
from torchlint.rules.base import Effect, Finding, Rule
from torchlint.semantic import expr
from torchlint.semantic.chains import readers_of
from torchlint.semantic.context import DATA, EPOCH, STEP, ModuleContext
from torchlint.semantic.values import Bound, Instance, TorchModule

# Framework hooks that run with grad off already.
_FRAMEWORK_EVAL_HOOKS = frozenset(("validation_step", "test_step", "predict_step", "evaluation_step"))
# Calls that show grad is wanted: the evaluation differentiates (adversarial examples,
# saliency maps, meta-learning) or trains.
_NEEDS_GRAD = frozenset(("backward", "manual_backward", "grad", "requires_grad_", "enable_grad", "vjp", "jacobian", "hessian"))


class EvalWithoutNoGrad(Rule):
    code = "TL401"
    name = "eval-without-no-grad"
    summary = "Evaluation loop runs the model with autograd recording"
    fixes = (SAFE,)
    fix_scope = "on evaluation functions (see Fix safety)"
    effect = Effect.ANY_DEVICE

    def check(self, ctx: ModuleContext) -> Iterator[Finding]:
        if ctx.is_test:
            return
        for qualname, function in ctx.summary.functions.items():
            if not function.loops or function.name in _FRAMEWORK_EVAL_HOOKS or function.kind == "class-body":
                continue
            if ctx.function_grad_mode(qualname) is not None:
                continue
            roles = ctx.loop_roles(qualname)
            # Loops over a DataLoader's batches in evaluation code, or any loop of a plain
            # function (not a module's method) that runs after `.eval()` (a test loop over
            # images, a sampling loop).
            if not _switches_to_eval(ctx, ctx.relpath, qualname, 2):
                continue
            own_eval = not _in_module_class(ctx, function)
            if not any(role == DATA for role in roles.values()) and not own_eval:
                continue
            reported_loops: set = set()
            for index, call in enumerate(function.calls):
                if not call.loops or call.decorator:
                    continue
                if any(roles.get(loop) == STEP for loop in call.loops):
                    continue  # a training step
                data_loops = [loop for loop in call.loops if roles.get(loop) == DATA]
                if not data_loops and not own_eval:
                    continue
                loop = data_loops[-1] if data_loops else call.loops[-1]
                if roles.get(loop) == EPOCH:
                    continue  # a loop around training
                if loop in reported_loops or _loop_needs_grad(function, loop):
                    continue
                model = _model_called(ctx, qualname, call)
                if model is None:
                    continue
                if not ctx.grad_enabled(qualname, call):
                    continue
                if _callee_disables_grad(ctx, qualname, call):
                    continue
                reported_loops.add(loop)
                yield Finding(
                    call.span,
                    f"`{model}` runs in an evaluation loop (after `.eval()`) with autograd recording: "
                    "every batch builds a graph and keeps its activations, which costs time and the "
                    "memory a larger batch could use; run the loop under `torch.no_grad()`",
                    lambda qualname=qualname: self._fix(ctx, qualname),
                )

    def _fix(self, ctx: ModuleContext, qualname: str) -> Fix:
        """`@torch.no_grad()` on the evaluation function, when no caller differentiates
        what it returns (none of them trains)."""
        function = ctx.function(qualname)
        message = f"Decorate `{function.name}` with `@torch.no_grad()`"
        trains = any(role == STEP for role in ctx.loop_roles(qualname).values())
        if function.kind != "function" or function.yields is not None or trains or _needs_grad(function):
            return Fix(DISPLAY_ONLY, "Wrap the loop in `with torch.no_grad():`")
        for caller_module, caller, index, _ in ctx.callers(qualname):
            if _differentiates_result(ctx.function(caller, caller_module), index):
                return Fix(DISPLAY_ONLY, message + " (not applied: a caller computes gradients of its result)")
        torch = torch_reference(ctx.summary, ctx.source)
        if torch is None:
            return Fix(DISPLAY_ONLY, message)
        name, imports = torch
        text = ctx.source.index.line_text(function.span.line)
        if not text.lstrip().startswith(("def ", "async def ")):
            return Fix(DISPLAY_ONLY, message)
        edit = ctx.source.insert_line_before(function.span.line, f"@{name}.no_grad()")
        return Fix(SAFE, f"Decorate `{function.name}` with `@{name}.no_grad()`", [edit, *imports])


def _needs_grad(function) -> bool:
    """The function differentiates (adversarial examples, saliency, meta-learning) or
    trains: it calls `backward()`/`torch.autograd.grad`, or sets `requires_grad`."""
    if "requires_grad" in function.attr_stores:
        return True
    for call in function.calls:
        if expr.called_name(call) in _NEEDS_GRAD or expr.mentions_attribute(call.func, "requires_grad"):
            return True
    return False


def _loop_needs_grad(function, loop: int) -> bool:
    """The loop's body differentiates (or the function sets `requires_grad` anywhere)."""
    if "requires_grad" in function.attr_stores:
        return True
    return any(
        loop in call.loops and (expr.called_name(call) in _NEEDS_GRAD or expr.mentions_attribute(call.func, "requires_grad"))
        for call in function.calls
    )


def _differentiates_result(function, index: int) -> bool:
    """Does the function compute gradients from what call `index` returns? Anything that
    reads the result (calls given it, names bound from it) is followed, generously."""
    return any(expr.called_name(function.calls[position]) in _NEEDS_GRAD for position in readers_of(function, index))


def _switches_to_eval(ctx: ModuleContext, module: str, qualname: str, depth: int) -> bool:
    """`.eval()` is called on a module here, or in a caller (`depth` levels up) before it."""
    function = ctx.function(qualname, module)
    if function is None:
        return False
    if any(expr.is_bare_method_call(call, "eval") for call in function.calls):
        return True
    if depth == 0:
        return False
    return any(_switches_to_eval(ctx, m, q, depth - 1) for m, q, _, _ in ctx.callers(qualname, module))


def _in_module_class(ctx: ModuleContext, function) -> bool:
    """A method of an nn.Module class (its `forward` loops over layers, not batches)."""
    owner = function.owner
    while owner is None and function.parent:
        function = ctx.summary.functions.get(function.parent)
        if function is None:
            return False
        owner = function.owner
    return owner is not None and ctx.is_nn_module_class(owner)


def _model_called(ctx: ModuleContext, qualname: str, call) -> str | None:
    """The spelled name of the model whose forward the call runs (`model(x)`,
    `self.net(x)`), or None when it calls something else (a loss, a layer without
    parameters, a function)."""
    for target, _ in ctx.targets(qualname, call):
        if isinstance(target, (Instance, TorchModule)) and ctx.has_parameters(target):
            if isinstance(target, Instance) and not ctx.is_nn_module_class(target.qualname, target.module):
                continue
            text = expr.source_text(call.func)
            return f"{text}(...)" if text else "the model"
    return None


def _callee_disables_grad(ctx: ModuleContext, qualname: str, call) -> bool:
    """The model's forward (or the method called) turns grad off itself: decorated with
    no_grad, or running (part of) its body under `with torch.no_grad():` (an inference
    mode of the model)."""
    for target, _ in ctx.targets(qualname, call):
        method = None
        if isinstance(target, Instance):
            method = ctx.find_method(target.qualname, "forward", target.module)
        elif isinstance(target, Bound) and target.function is not None:
            method = target.function
        if method is None:
            continue
        if ctx.function_grad_mode(method.qualname, method.module) is not None:
            return True
        if ctx.with_turns_grad_off(method.qualname, method.module):
            return True
    return False

