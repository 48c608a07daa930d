"""What the set-up rules (TL402, TL403) share: where a module trains on CUDA (reported
once per module, at its first training step loop), and what the trained models are made
of."""

from __future__ import annotations

import re
from dataclasses import dataclass

from torchlint.project.summary import Span
from torchlint.semantic import expr
from torchlint.semantic.context import STEP, ModuleContext
from torchlint.semantic.values import Bound, Class, Const, External, Function, Instance, TorchModule

# torchvision's classification and segmentation models are convolutional (not the
# transformers among them); its detection models train on images of varying sizes.
_TORCHVISION_CONV = re.compile(r"^torchvision\.models\.(?!.*(?:vit_|swin_|detection|optical_flow|mvit|video\.s3d))")
_CONV = re.compile(r"^torch\.nn\.(?:Lazy)?Conv(?:Transpose)?([123])d$")
# Architectures of `timm.create_model("...")` / `torchvision.models.get_model("...")` that convolve.
_CONV_ARCHITECTURE = re.compile(
    r"^(?:tv_|tf_|timm/)?(?:resnet|resnext|wide_resnet|seresnet|seresnext|efficientnet|mobilenet|convnext|regnet|"
    r"densenet|vgg|inception|xception|dla|dpn|res2net|resnest|ghostnet|mixnet|mnasnet|hrnet|cspresnet|cspdarknet|"
    r"darknet|nfnet|dm_nfnet|rexnet|senet|legacy_seresnet|squeezenet|shufflenet|alexnet|repvgg|googlenet)"
)
_FACTORIES = ("timm.create_model", "torchvision.models.get_model")
_CONTAINERS = ("torch.nn.Sequential", "torch.nn.ModuleList")


@dataclass
class TrainingLoop:
    qualname: str
    span: Span  # the loop's `for`/`while` line: where the finding points
    models: list  # the models whose forward pass runs in it
    outermost_line: int  # the first line of the outermost loop around it (set-up goes before)


def training_loops(ctx: ModuleContext, evidence_kinds=("cuda",)) -> list:
    """The module's training step loops on an accelerator, one per function (its first,
    by line), with their models: the entry points where set-up advice applies."""
    found: dict = {}
    for value, qualname, evidence in ctx.models_trained_here():
        if evidence in evidence_kinds:
            found.setdefault(qualname, []).append(value)
    loops = []
    for qualname, models in found.items():
        function = ctx.function(qualname)
        best = None
        for index, role in ctx.loop_roles(qualname).items():
            if role != STEP:
                continue
            loop = function.loops[index]
            if best is None or loop.span.line < best.span.line:
                text = ctx.source.index.line_text(loop.span.line)
                outer = loop
                while outer.parent >= 0:
                    outer = function.loops[outer.parent]
                span = Span(loop.span.line, loop.span.col, loop.span.line, len(text.rstrip()))
                best = TrainingLoop(qualname, span, models, outer.span.line)
        if best is not None:
            loops.append(best)
    return sorted(loops, key=lambda loop: loop.span.line)


def convolution_dims(ctx: ModuleContext, value, depth: int = 4) -> set:
    """The convolutions a model is built from: {1, 2, 3} by dimension; "2" for a
    torchvision CNN; empty when none is seen (a transformer, an MLP, an unknown model)."""
    if isinstance(value, TorchModule):
        match = _CONV.match(value.qualname)
        if match:
            return {int(match.group(1))}
        if value.qualname in _FACTORIES:
            return {2} if _architecture_convolves(ctx, value.site) else set()
        if value.qualname in _CONTAINERS and depth > 0:
            return _container_convolutions(ctx, value.site, depth - 1)
        return {2} if _TORCHVISION_CONV.match(value.qualname) else set()
    if isinstance(value, Instance):
        return ctx.project_fact(_class_convolutions, set(), key=(value.module, value.qualname), arguments=(value.module, value.qualname, depth))
    return set()


def _container_convolutions(ctx: ModuleContext, site, depth: int) -> set:
    """`nn.Sequential(nn.Conv2d(...), ...)`: the layers it is built from."""
    found = ctx.call_at(site)
    if found is None:
        return set()
    qualname, call = found
    dims: set = set()
    for arg in call.args:
        for value in ctx.values(expr.unstarred(arg), qualname, site[0]):
            dims |= convolution_dims(ctx, value, depth)
    return dims


def _architecture_convolves(ctx: ModuleContext, site) -> bool:
    found = ctx.call_at(site)
    if found is None:
        return False
    qualname, call = found
    names = call.args[:1] or [v for k, v in call.keywords if k in ("model_name", "name")]
    if not names:
        return False
    values = ctx.values(names[0], qualname, site[0])
    return bool(values) and all(isinstance(v, Const) and isinstance(v.value, str) and _CONV_ARCHITECTURE.match(v.value) for v in values)


def project_convolution_dims(ctx: ModuleContext) -> set:
    """The convolutions of every nn.Module class of the project: the fallback when the
    trained model cannot be resolved (a registry, a factory by name)."""
    return ctx.project_fact(_project_convolution_dims, set())


def _project_convolution_dims(ctx: ModuleContext) -> set:
    found: set = set()
    for module in ctx.project_modules():
        summary = ctx.module_summary(module)
        for qualname in (summary.classes if summary is not None else ()):
            if ctx.is_nn_module_class(qualname, module):
                found |= convolution_dims(ctx, Instance(module, qualname, None), depth=0)
    return found


def _class_convolutions(ctx: ModuleContext, module: str, qualname: str, depth: int) -> set:
    found: set = set()
    seen: set = set()
    pending = []
    for class_module, class_qualname in ctx.class_chain(qualname, module):
        info = ctx.class_summary(class_qualname, class_module)
        for method in info.methods.values():
            pending.append((class_module, method, depth))
    while pending and len(seen) < 200:
        function_module, function_qualname, budget = pending.pop()
        if (function_module, function_qualname) in seen:
            continue
        seen.add((function_module, function_qualname))
        function = ctx.function(function_qualname, function_module)
        if function is None:
            continue
        for call in function.calls:
            for target, _ in ctx.targets(function_qualname, call, function_module):
                if isinstance(target, External):
                    match = _CONV.match(target.qualname)
                    if match:
                        found.add(int(match.group(1)))
                    elif _TORCHVISION_CONV.match(target.qualname):
                        found.add(2)
                elif budget > 0 and isinstance(target, Class) and ctx.is_nn_module_class(target.qualname, target.module):
                    for class_module, class_qualname in ctx.class_chain(target.qualname, target.module):
                        for method in ctx.class_summary(class_qualname, class_module).methods.values():
                            pending.append((class_module, method, budget - 1))
                elif budget > 0 and isinstance(target, Function):
                    pending.append((target.module, target.qualname, budget - 1))
                elif budget > 0 and isinstance(target, Bound) and target.function is not None:
                    pending.append((target.function.module, target.function.qualname, budget - 1))
    return found
