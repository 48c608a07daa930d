"""TL201 model-not-on-device: the model trains on the CPU while an accelerator waits."""

from __future__ import annotations

from typing import Iterator

from torchlint.fixes import DISPLAY_ONLY, SAFE, Fix
from torchlint.project.summary import Binding
from torchlint.rules.base import Effect, Finding, Rule
from torchlint.semantic import expr
from torchlint.semantic.context import STEP, ModuleContext
from torchlint.project.summary import Span


class ModelNotOnDevice(Rule):
    code = "TL201"
    name = "model-not-on-device"
    summary = "Model trained in a loop but never moved to the device"
    fixes = (SAFE,)
    fix_scope = "where the device variable and moved inputs are known"
    effect = Effect.GPU_ONLY

    def check(self, ctx: ModuleContext) -> Iterator[Finding]:
        if ctx.is_test:
            return
        trained = ctx.trained_models_built_here()
        if not trained:
            return
        placed = ctx.placed_model_sites()
        for site, (value, contexts) in trained:
            if site in placed or getattr(value, "placed", False):
                continue
            if ctx.built_in_lightning_module(site):
                continue  # Lightning places the modules of a LightningModule
            accelerated = [c for c in contexts if c[2]]
            if not accelerated or not ctx.has_parameters(value):
                continue
            found = ctx.call_at(site)
            if found is None:
                continue
            qualname, call = found
            index = ctx.function(qualname).calls.index(call)
            bound = ctx.binding_of_call(qualname, index)
            if bound is None:
                continue  # built inline (`train(Net())`): no name to move
            spelled, binding = bound
            device = _loop_device(ctx, accelerated)
            yield Finding(
                Span(binding.line, binding.col, call.span.end_line, call.span.end_col),
                f"`{spelled}` is trained in a loop but never moved to the accelerator, so "
                f"forward and backward run on the CPU; add `{spelled}.to({device or 'device'})` before "
                "building the optimizer",
                lambda spelled=spelled, binding=binding, qualname=qualname, device=device: self._fix(ctx, qualname, spelled, binding, device),
            )

    def _fix(self, ctx: ModuleContext, qualname: str, spelled: str, binding: Binding, device: str | None) -> Fix:
        """`model = model.to(device)` right after the model is built, with the device the
        training loop already moves its inputs to (moving only the model would fail), and
        only where that device is bound on every path to the new line."""
        move = f"{spelled} = {spelled}.to({device or 'device'})"
        if device is None:
            return Fix(DISPLAY_ONLY, f"Add `{move}` and move the inputs too (the loop moves no inputs to a device variable)")
        if not _bound_before(ctx, qualname, device, binding):
            return Fix(DISPLAY_ONLY, f"Add `{move}` where `{device}` is defined")
        if ctx.source.index.line_indent(binding.line) != ctx.source.index.line_text(binding.line)[: binding.col]:
            return Fix(DISPLAY_ONLY, f"Add `{move}` after the model is built")  # `if x: model = Net()`
        edit = ctx.source.insert_line_after(binding.end_line, binding.line, move)
        return Fix(SAFE, f"Add `{move}` after the model is built", [edit])


def _loop_device(ctx: ModuleContext, contexts) -> str | None:
    """The device expression (`device`, `self.device`, `args.device`) a training loop moves
    its inputs to."""
    for module, qualname, _ in contexts:
        function = ctx.function(qualname, module)
        steps = {loop for loop, role in ctx.loop_roles(qualname, module).items() if role == STEP}
        for call in function.calls:
            if not steps.intersection(call.loops) or expr.method(call) != "to":
                continue
            if not ctx.is_accelerator_move(qualname, call, module):
                continue
            for keyword, value in call.keywords:
                if keyword == "device":
                    return expr.source_text(value) if expr.is_name_or_attribute(value) else None
            if call.args and expr.is_name_or_attribute(call.args[0]):
                return expr.source_text(call.args[0])
    return None


def _bound_before(ctx: ModuleContext, qualname: str, device: str, binding: Binding) -> bool:
    """Is the root name of `device` bound on every path to the line after `binding`?"""
    function = ctx.function(qualname)
    root, _, attr = device.partition(".")
    if root == "self" and function.owner is not None and function.params[:1] == ["self"]:
        info = ctx.summary.classes.get(function.owner)
        name = attr.partition(".")[0]
        for method, earlier in info.self_attrs.get(name, ()) if info is not None else ():
            if method == qualname and earlier.order < binding.order and not earlier.conditional:
                return True
        return False
    scope = function
    while scope is not None:
        bindings = scope.bindings.get(root)
        if bindings:
            if scope is function:
                return any(
                    b.kind == "param" or (not b.conditional and b.order < binding.order)
                    for b in bindings
                )
            if scope.kind == "module" and function.kind == "module":
                return any(not b.conditional and b.line < binding.line for b in bindings)
            return any(not b.conditional for b in bindings)
        scope = ctx.summary.functions.get(scope.parent) if scope.parent else None
    return False
