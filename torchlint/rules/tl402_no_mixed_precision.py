"""TL402 no-mixed-precision: training on a GPU in float32 throughout, where autocast to
bfloat16/float16 runs matrix multiplies and convolutions on the tensor cores."""

from __future__ import annotations

import ast
import re
from typing import Iterator

from torchlint.fixes import DISPLAY_ONLY, UNSAFE, Edit, Fix, torch_reference
from torchlint.rules.base import Effect, Finding, Rule
from torchlint.rules.setup import training_loops
from torchlint.semantic import api, expr
from torchlint.semantic.context import ModuleContext

# Calls that mean the project already uses reduced precision somewhere (or decides it).
_AMP_CALLS = frozenset(("autocast", "GradScaler", "half", "bfloat16", "MixedPrecision", "MixedPrecisionPolicy"))
# Keywords that set (or deliberately keep) a precision: `Trainer(precision=...)`,
# `TrainingArguments(fp16=...)`, `Accelerator(mixed_precision=...)`, a config's `amp=`.
_PRECISION_KEYWORDS = frozenset((
    "precision", "fp16", "bf16", "mixed_precision", "amp", "use_amp", "half", "fp16_opt_level", "bf16_full_eval",
    "fp16_full_eval", "autocast", "enable_amp",
))
_REDUCED_DTYPES = frozenset(("float16", "bfloat16", "half"))
# Command-line flags that switch AMP on: deliberate fp32 when off by default.
_AMP_FLAG = re.compile(r"^--?(?:use[-_])?(?:amp|fp16|bf16|half|mixed[-_]precision|autocast|precision|apex)\b", re.IGNORECASE)
# Libraries whose models are launch-bound (reinforcement learning): tiny networks.
_RL_LIBRARIES = ("gym.", "gymnasium.", "envpool.", "dm_control.", "procgen.", "pettingzoo.", "ale_py.")
_AMP_HOWTO = "https://docs.pytorch.org/docs/stable/notes/amp_examples.html"


class NoMixedPrecision(Rule):
    code = "TL402"
    name = "no-mixed-precision"
    summary = "GPU training in float32 with no mixed precision anywhere in the project"
    fixes = (UNSAFE,)
    fix_scope = "for a plain block of assignments that computes the loss (see Fix safety)"
    effect = Effect.GPU_ONLY
    no_fix_reason = "no automatic fix: wrap the forward pass and loss in `torch.autocast`"

    def check(self, ctx: ModuleContext) -> Iterator[Finding]:
        if ctx.is_test:
            return
        if ctx.project_fact(_precision_decided, True):
            return  # the project uses reduced precision somewhere, or decides it with a flag
        for qualname, _, call in ctx.calls():
            name = expr.called_name(call)
            if name not in ("Trainer", "TrainingArguments", "Seq2SeqTrainingArguments"):
                continue
            callee = ctx.callee(qualname, call)
            if expr.has_star_kwargs(call):
                continue  # `**config` may set the precision
            if callee in api.LIGHTNING_TRAINERS:
                yield Finding(
                    call.span,
                    "The Lightning `Trainer` trains in 32-bit precision (its default); on a GPU with "
                    "tensor cores pass `precision=\"bf16-mixed\"` (or `\"16-mixed\"`)",
                    Fix(DISPLAY_ONLY, "Pass `precision=\"bf16-mixed\"`"),
                )
            elif callee in api.HF_TRAINING_ARGUMENTS:
                yield Finding(
                    call.span,
                    "The Trainer trains in float32 (`fp16` and `bf16` are off by default); on a GPU with "
                    "tensor cores set `bf16=True` (or `fp16=True`)",
                    Fix(DISPLAY_ONLY, "Set `bf16=True`"),
                )
        for loop in training_loops(ctx):
            yield Finding(
                loop.span,
                "This loop trains on CUDA in float32 throughout: no `torch.autocast`, no `GradScaler`, no "
                "half-precision model anywhere in the project; autocast to bfloat16 (or float16 with a "
                "GradScaler) runs matrix multiplies and convolutions on the tensor cores",
                lambda loop=loop: _autocast_fix(ctx, loop),
            )


def _precision_decided(ctx: ModuleContext) -> bool:
    """Does any module use reduced precision (autocast, GradScaler, `.half()`, a float16 or
    bfloat16 dtype, apex), set a precision option (even to 32: a deliberate choice), take a
    flag that enables AMP, or train reinforcement-learning agents (launch-bound models)?"""
    for module in ctx.project_modules():
        summary = ctx.module_summary(module)
        if summary is None:
            continue
        top = summary.functions.get("<module>")
        for bindings in (top.bindings.values() if top is not None else ()):
            for binding in bindings:
                imported = expr.imported(binding.value) if binding.kind == "import" else None
                if imported is not None and isinstance(imported[0], str):
                    path = imported[0] + "." + str(imported[1] or "")
                    if path.startswith(("apex", "torch.cuda.amp", "torch.amp", "deepspeed")) or ".amp." in path:
                        return True
    for module, qualname, call in ctx.project_calls():
        name = expr.called_name(call)
        if name in _AMP_CALLS:
            return True
        if name == "Accelerator":
            return True  # Accelerate takes the precision from its config or `accelerate launch`
        if any(k in _PRECISION_KEYWORDS for k, _ in call.keywords):
            return True
        if _mentions_reduced_dtype(call.args) or any(_mentions_reduced_dtype([v]) for _, v in call.keywords):
            return True
        if name == "add_argument" and call.args and expr.string_constant(call.args[0]) is not None:
            if any(_AMP_FLAG.match(expr.string_constant(a) or "") for a in call.args):
                return True
        if name in ("make", "step") and expr.method(call) and expr.name(expr.receiver(call)) in ("gym", "gymnasium", "envpool"):
            return True
    return False


def _mentions_reduced_dtype(exprs) -> bool:
    """`torch.float16`, `torch.bfloat16`, `torch.half`, `"float16"` inside the arguments."""
    for argument in exprs:
        if not isinstance(argument, list) or not argument:
            continue
        if expr.attribute_name(argument) in _REDUCED_DTYPES:
            return True
        if expr.constant(argument, None) in ("float16", "bfloat16", "fp16", "bf16"):
            return True
        if _mentions_reduced_dtype(expr.subexpressions(argument)):
            return True
    return False


# -- the fix: autocast around the forward pass and the loss ------------------------------


def _autocast_fix(ctx: ModuleContext, loop) -> Fix:
    """`with torch.autocast("cuda", dtype=torch.bfloat16):` around the statements of the
    step loop's body that compute the loss: the assignments that end with `loss = ...`
    right before (not necessarily directly) `loss.backward()`. Only for a plain block of
    assignments directly in the loop; otherwise the finding says what to write."""
    message = f"Wrap the forward pass and the loss in `with torch.autocast(\"cuda\", dtype=torch.bfloat16):` ({_AMP_HOWTO})"
    display = Fix(DISPLAY_ONLY, message)
    torch = torch_reference(ctx.summary, ctx.source)
    if torch is None:
        return display
    name, imports = torch
    block = _loss_block(ctx.source, loop.span.line)
    if block is None:
        return display
    first, last, indent, unit = block
    index = ctx.source.index
    lines = [index.line_text(n) for n in range(first, last + 1)]
    body = [(unit + line) if line.strip() else line for line in lines]
    newline = index.newline
    content = f"{indent}with {name}.autocast(\"cuda\", dtype={name}.bfloat16):{newline}" + newline.join(body)
    edit = Edit((first, 0), (last, len(lines[-1])), content)
    # Unsafe: bfloat16 matmuls and convolutions round differently, so the results change
    # (usually within the run-to-run noise of training).
    return Fix(UNSAFE, f"Wrap the loss computation in `with {name}.autocast(\"cuda\", dtype={name}.bfloat16):` "
                       "(results change within bfloat16 rounding)", [edit, *imports])


def _loss_block(view, loop_line: int):
    """(first line, last line, indentation, indent unit) of the assignments computing the
    loss in the loop at `loop_line`, or None."""
    tree = view.tree_for(loop_line)
    loop = view.derived(tree, "tl402.loops", _loops_by_line).get(loop_line) if tree else None
    if loop is None:
        return None
    body = loop.body
    backward = next((i for i, st in enumerate(body) if _is_backward(st)), None)
    if backward is None:
        return None
    loss = body[backward].value.func.value.id
    end = next((i for i in range(backward - 1, -1, -1) if _assigns(body[i], loss)), None)
    if end is None:
        return None
    start = end
    while start > 0 and isinstance(body[start - 1], (ast.Assign, ast.AnnAssign, ast.AugAssign)) and not _moves_only(body[start - 1]):
        start -= 1
    if any(not isinstance(st, (ast.Assign, ast.AnnAssign, ast.AugAssign)) for st in body[start:end + 1]):
        return None
    first, last = body[start].lineno, body[end].end_lineno
    line_text = view.index.line_text
    if any(_multiline_string(node) for st in body[start:end + 1] for node in ast.walk(st)):
        return None  # re-indenting would change the string
    if line_text(first)[: body[start].col_offset].strip() or line_text(last)[body[end].end_col_offset:].strip().startswith(";"):
        return None  # shares a line with another statement
    indent = line_text(first)[: body[start].col_offset]
    outer = line_text(loop.lineno)[: loop.col_offset]
    unit = indent[len(outer):] if indent.startswith(outer) and len(indent) > len(outer) else "    "
    return first, last, indent, unit


def _loops_by_line(tree) -> dict:
    loops: dict = {}
    for node in ast.walk(tree):
        if isinstance(node, (ast.For, ast.While)):
            loops.setdefault(node.lineno, node)
    return loops


def _is_backward(statement) -> bool:
    if not isinstance(statement, ast.Expr) or not isinstance(statement.value, ast.Call):
        return False
    func = statement.value.func
    return isinstance(func, ast.Attribute) and func.attr == "backward" and isinstance(func.value, ast.Name)


def _assigns(statement, name: str) -> bool:
    targets = statement.targets if isinstance(statement, ast.Assign) else [getattr(statement, "target", None)]
    return any(isinstance(t, ast.Name) and t.id == name for t in targets) and not isinstance(statement, ast.AugAssign)


def _moves_only(statement) -> bool:
    """`x, y = x.to(device), y.to(device)`: copying the batch, not computing with it."""
    calls = [n for n in ast.walk(statement.value) if isinstance(n, ast.Call)] if statement.value is not None else []
    return bool(calls) and all(isinstance(c.func, ast.Attribute) and c.func.attr in ("to", "cuda", "float", "long") for c in calls)


def _multiline_string(node) -> bool:
    """A string literal spanning lines: re-indenting its lines would change its value."""
    return isinstance(node, (ast.Constant, ast.JoinedStr)) and node.end_lineno != node.lineno
