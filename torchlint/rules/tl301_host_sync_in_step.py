"""TL301 host-sync-in-step: the host waits for the GPU at every training step."""

from __future__ import annotations

import re
from typing import Iterator

from torchlint.fixes import DISPLAY_ONLY, SAFE, Fix, name_is_free
from torchlint.project.summary import spelled_name
from torchlint.rules.base import Finding, Rule
from torchlint.semantic import grad
from torchlint.semantic.context import ModuleContext, expr_text
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
    no_fix_reason = "no automatic fix: move the sync into the logging branch, or keep the value on the device"
    fix_availability = "safe, running totals"

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
                if ctx.training.runs_per_training_step(ctx.relpath, qualname, call):
                    fix = None
                    if call.func[0] == "a" and call.func[2] == "item":
                        fix = lambda qualname=qualname, index=index: _accumulator_fix(ctx, qualname, index)
                    _keep_first(found, call.statement_line or call.span.line, call.span, message, fix)
            for use in function.host_uses:
                message = self._host_use_sync(ctx, qualname, use)
                if message is None or under_sync_test(use.guard):
                    continue
                if ctx.training.runs_per_training_step(ctx.relpath, qualname, use):
                    _keep_first(found, use.statement_line or use.span.line, use.span, message)
            for span, message, fix in sorted(found.values(), key=lambda entry: (entry[0].line, entry[0].col)):
                yield Finding(span, message, fix)

    def _hot(self, ctx: ModuleContext, qualname: str) -> bool:
        """Code of this function may run per training step, on an accelerator; evaluation
        functions (decorated with `no_grad`, or switching a model to `.eval()` without
        training) are not, even when full-batch training runs them every step."""
        training = ctx.training
        function = ctx.function(qualname)
        if function.kind == "class-body":
            return False
        if grad.function_mode(ctx.ev, ctx.relpath, qualname) == grad.OFF:
            return False
        if _evaluates(ctx, qualname):
            return False
        hot = (ctx.relpath, qualname) in training.per_step_functions() or bool(function.loops)
        return hot and bool(training.hot_evidence(ctx.relpath, qualname))

    # -- calls -----------------------------------------------------------------------

    def _call_sync(self, ctx: ModuleContext, qualname: str, index: int, call) -> str | None:
        func = call.func
        frame = (ctx.relpath, qualname)
        if func[0] == "a" and func[2] in _SYNC_METHODS + ("to",):
            if func[2] == "to" and ctx.ev.move_device(call, frame) != "cpu":
                return None
            if not _on_device(ctx, qualname, func[1], lenient=func[2] == "item"):
                return None
            if self._needed(ctx, qualname, index):
                return None
            shown = _shown(func[1], f".{func[2]}()" if func[2] != "to" else ".to(\"cpu\")")
            return (
                f"`{shown}` copies a value to the host and waits for the GPU at every training step; "
                "keep it on the device (`total += loss.detach()`) and convert it where you log, "
                "or only every N steps"
            )
        name = spelled_name(func)
        if name in ("float", "int", "bool", "print", "synchronize", "add_scalar", "add_scalars", "log"):
            callee = ctx.callee(qualname, call)
            if callee in _CONVERSIONS:
                tensors = [a for a in call.args if a[0] != "*" and _on_device(ctx, qualname, a)]
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
            if callee in _LOGGERS and any(_on_device(ctx, qualname, v) for a in call.args if a[0] == "d" for _, v in a[1]):
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
                if ["c", index] in call.args and spelled_name(call.func) in _NUMBER_WRAPPERS:
                    index, wrapped = position, True
                    break
        bound = ctx.binding_of_call(qualname, index)
        if bound is None:
            # Used inline: `range(n.item())`, `env.step(action.item())`, `x[: n.item()]`.
            return _used_as_number(function, ["c", index])
        name = bound[0]
        return _used_as_number(function, ["n", name])

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
    evals = any(
        call.func[0] == "a" and call.func[2] == "eval" and not call.args and not call.keywords for call in function.calls
    )
    return evals and not any(ctx.training.is_step_call(ctx.relpath, qualname, call) for call in function.calls)


def _keep_first(found: dict, statement: int, span, message: str, fix=None) -> None:
    current = found.get(statement)
    if current is None or (span.line, span.col) < (current[0].line, current[0].col):
        found[statement] = (span, message, fix)


def _operands(expr) -> list:
    """The parts of a condition that are converted to bool: `a and not b` -> a, b."""
    if expr[0] == "u" and expr[1] == "not":
        return _operands(expr[2])
    if expr[0] == "b" and expr[1] in ("and", "or"):
        return _operands(expr[2]) + _operands(expr[3])
    return [expr]


def _on_device(ctx: ModuleContext, qualname: str, expr, lenient: bool = False) -> bool:
    """The expression is a tensor that is (or may be) on the accelerator: its values are
    tensors, not all on the host, or values we cannot see into (an unknown, a library
    object); a constant, a numpy value or a project object rules it out. With `lenient`
    (for `.item()`, a tensor method in training code), no known tensor is needed."""
    values = ctx.values(expr, qualname)
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
    return any(
        call.func[0] == "a" and call.func[1] == ["c", index] and call.func[2] == "numpy" for call in function.calls
    )


def _round_trip(ctx: ModuleContext, qualname: str) -> bool:
    """The function copies values to the host for an algorithm that runs there and sends
    the result back (`path = maximum_path(neg.cpu().numpy()); torch.from_numpy(path).to(device)`):
    its syncs are the algorithm's."""
    function = ctx.function(qualname)
    if any(ctx.training.is_step_call(ctx.relpath, qualname, call) for call in function.calls):
        return False  # the training step itself: its conversions are not one algorithm's
    back = {"torch.from_numpy", "torch.as_tensor", "torch.tensor"}
    for index, call in enumerate(function.calls):
        if ctx.callee(qualname, call) in back:
            for other in function.calls:
                func = other.func
                if func[0] == "a" and func[1] == ["c", index] and func[2] in ("to", "cuda"):
                    return True
    return False


def _mentions_expr(value, expr) -> bool:
    if value == expr:
        return True
    return isinstance(value, list) and any(_mentions_expr(part, expr) for part in value[1:] if isinstance(part, list))


def _used_as_number(function, expr) -> bool:
    """The expression is (part of) an argument of a call that needs a Python number: a
    range, a size (`torch.zeros(n.item() + 1)`), `env.step`."""
    for call in function.calls:
        name = spelled_name(call.func)
        if name in _NEEDS_NUMBER and (
            any(_mentions_expr(a, expr) for a in call.args) or any(_mentions_expr(v, expr) for _, v in call.keywords)
        ):
            if name == "step" and _optimizer_like(call.func):
                continue
            return True
    return False


def _optimizer_like(func) -> bool:
    receiver = func[1] if func[0] == "a" else None
    text = (expr_text(receiver) or "") if receiver is not None else ""
    return bool(re.search(r"(?i)(optim|sched|scaler|opt$)", text))


def _times_itself(ctx: ModuleContext, qualname: str) -> bool:
    function = ctx.function(qualname)
    return any(ctx.callee(qualname, call) in _TIMERS for call in function.calls)


def _shown(expr, suffix: str) -> str:
    text = expr_text(expr)
    return f"{text}{suffix}" if text else suffix.lstrip(".") or "..."


# -- the one safe fix: a running total kept on the device ---------------------------------

_KEEP_ON_DEVICE = "Keep the running value on the device (`total += loss.detach()`) and convert it where you log"


def _accumulator_fix(ctx: ModuleContext, qualname: str, index: int) -> Fix:
    """`total += loss.item()` becomes `total += loss.detach().double()`, and every read of
    `total` becomes `float(total)`. Proven only for a local name started at a float literal,
    grown only by `+=` of numbers and `.item()`s of GPU tensors, and read outside the step
    (or under an `if` in it), in code that targets CUDA: float64 on the device adds exactly
    what Python adds, so every printed figure stays the same to the last digit."""
    display = Fix(DISPLAY_ONLY, _KEEP_ON_DEVICE)
    function = ctx.function(qualname)
    if ctx.training.hot_evidence(ctx.relpath, qualname) != "cuda":
        return display  # float64 is not available on every accelerator (MPS)
    if not name_is_free(ctx.summary, "float") or "float" in function.bindings:
        return display
    proven = set()
    for position, call in enumerate(function.calls):
        func = call.func
        if func[0] == "a" and func[2] == "item" and not call.args and not call.keywords:
            values = ctx.values(func[1], qualname)
            if values and all(isinstance(v, Tensor) for v in values) and any(v.device != "host" for v in values):
                node = ctx.source.call_node(call.span)
                if node is not None:
                    proven.add(id(node))
    target = ctx.source.call_node(function.calls[index].span)
    if target is None or id(target) not in proven:
        return display

    def is_number(name: str) -> bool:
        values = ctx.values(["n", name], qualname)
        return bool(values) and all(
            isinstance(v, Const) and isinstance(v.value, (int, float)) and not isinstance(v.value, bool) for v in values
        )

    try:
        edits = _accumulator_edits(ctx.source, target, proven, is_number)
    except Exception:  # libcst could not resolve the scope: no fix rather than a wrong one
        edits = None
    if not edits:
        return display
    return Fix(SAFE, "Accumulate on the device (`.detach().double()`) and convert with `float()` where the total is read", edits)


def _accumulator_edits(view, target, proven: set, is_number) -> list | None:
    import libcst as cst
    from libcst.metadata import FunctionScope, GlobalScope, MetadataWrapper, ParentNodeProvider, ScopeProvider

    wrapper = MetadataWrapper(view.module, unsafe_skip_copy=True)
    parents = wrapper.resolve(ParentNodeProvider)
    scopes = wrapper.resolve(ScopeProvider)

    statement = parents.get(target)
    while statement is not None and not isinstance(statement, cst.AugAssign):
        if isinstance(statement, (cst.BaseStatement, cst.BaseSmallStatement, cst.Lambda, cst.BaseComp)):
            return None
        statement = parents.get(statement)
    if statement is None or not isinstance(statement.operator, cst.AddAssign) or not isinstance(statement.target, cst.Name):
        return None
    name = statement.target.value
    scope = scopes.get(statement.target)
    if not isinstance(scope, (FunctionScope, GlobalScope)):
        return None

    def numeric(expr, items: list) -> bool:
        """Only numbers and proven GPU `.item()`s: the sum means the same on the device."""
        if isinstance(expr, cst.BinaryOperation):
            if isinstance(expr.operator, (cst.Add, cst.Subtract, cst.Multiply)):
                return numeric(expr.left, items) and numeric(expr.right, items)
            if isinstance(expr.operator, cst.Divide):  # by a non-zero literal: no ZeroDivisionError to lose
                divisor = expr.right
                return numeric(expr.left, items) and isinstance(divisor, (cst.Integer, cst.Float)) and divisor.evaluated_value != 0
            return False
        if isinstance(expr, cst.UnaryOperation) and isinstance(expr.operator, cst.Minus):
            return numeric(expr.expression, items)
        if isinstance(expr, (cst.Integer, cst.Float)):
            return True
        if isinstance(expr, cst.Call):
            if id(expr) in proven:
                items.append(expr)
                return True
            func = expr.func
            if isinstance(func, cst.Name) and func.value == "len" and len(expr.args) == 1:
                return True
            return isinstance(func, cst.Attribute) and func.attr.value in ("size", "numel")
        if isinstance(expr, cst.Subscript):
            return isinstance(expr.value, cst.Attribute) and expr.value.attr.value == "shape"
        if isinstance(expr, cst.Name):
            return expr.value != name and is_number(expr.value)
        return False

    items: list = []
    for assignment in scope.assignments[name]:
        node = getattr(assignment, "node", None)
        if not isinstance(node, cst.Name) or scopes.get(node) is not scope:
            return None  # an import, a parameter, a `global`/`nonlocal` store elsewhere
        parent = parents.get(node)
        if isinstance(parent, cst.AugAssign) and parent.target is node:
            if not isinstance(parent.operator, cst.AddAssign) or _mentions_name(parent.value, name):
                return None
            if not numeric(parent.value, items):
                return None
        elif isinstance(parent, cst.AssignTarget):
            assign = parents.get(parent)
            if not isinstance(assign, cst.Assign) or len(assign.targets) != 1 or not isinstance(assign.value, cst.Float):
                return None  # started at `0` (an int) would print differently if the loop never ran
        elif isinstance(parent, cst.AnnAssign) and parent.target is node:
            if not isinstance(parent.value, cst.Float):
                return None
        else:
            return None
    if not any(item is target for item in items):
        return None

    loop = _innermost_loop(parents, statement)
    reads = {}
    for assignment in scope.assignments[name]:
        for access in assignment.references:
            reads[id(access.node)] = access.node
    for access in scope.accesses[name]:
        reads[id(access.node)] = access.node
    for node in reads.values():
        if scopes.get(node) is not scope or not isinstance(node, cst.Name):
            return None  # read in a nested function, class or comprehension
        if loop is not None and _every_step(parents, node, loop):
            return None  # converted at every step anyway: nothing gained

    edits = []
    for item in items:
        receiver = item.func.value
        moved = cst.Call(func=cst.Attribute(value=cst.Call(func=cst.Attribute(value=receiver, attr=cst.Name("detach"))), attr=cst.Name("double")))
        edit = view.replace_node(item, moved)
        if edit is None:
            return None
        edits.append(edit)
    for node in reads.values():
        parent = parents.get(node)
        if isinstance(parent, cst.Arg) and isinstance(parents.get(parent), cst.Call):
            call = parents.get(parent)
            if isinstance(call.func, cst.Name) and call.func.value == "float" and len(call.args) == 1:
                continue  # already `float(total)`
        edit = view.replace_node(node, cst.Call(func=cst.Name("float"), args=[cst.Arg(value=node)]))
        if edit is None:
            return None
        edits.append(edit)
    return edits


def _mentions_name(expr, name: str) -> bool:
    import libcst.matchers as m

    return bool(m.findall(expr, m.Name(name)))


def _innermost_loop(parents, node):
    import libcst as cst

    while node is not None:
        node = parents.get(node)
        if isinstance(node, (cst.For, cst.While)):
            return node
        if isinstance(node, (cst.FunctionDef, cst.ClassDef, cst.Module)):
            return None
    return None


def _every_step(parents, node, loop) -> bool:
    """Does a read inside `loop` run at every iteration: not under an `if`, and not in the
    loop's `else`?"""
    import libcst as cst

    child, parent = node, parents.get(node)
    while parent is not None:
        if isinstance(parent, cst.If) and child is not parent.test:
            return False
        if parent is loop:
            return child is not loop.orelse
        if isinstance(parent, (cst.FunctionDef, cst.ClassDef, cst.Module)):
            return False
        child, parent = parent, parents.get(parent)
    return False
