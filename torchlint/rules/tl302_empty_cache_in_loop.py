"""TL302 empty-cache-in-loop: the allocator's cache is emptied every step, so every step
allocates device memory again."""

from __future__ import annotations

from typing import Iterator

from torchlint.fixes import DISPLAY_ONLY, UNSAFE, Edit, Fix
from torchlint.rules.base import Effect, Finding, Rule
from torchlint.semantic import expr
from torchlint.semantic.context import ModuleContext

EMPTY_CACHE = frozenset(("torch.cuda.empty_cache", "torch.mps.empty_cache", "torch.xpu.empty_cache", "torch.npu.empty_cache"))


class EmptyCacheInLoop(Rule):
    code = "TL302"
    name = "empty-cache-in-loop"
    summary = "torch.cuda.empty_cache() runs every step"
    fixes = (UNSAFE,)
    fix_scope = "opt-in with `--unsafe-fixes` (see Fix safety)"
    effect = Effect.GPU_ONLY
    no_fix_reason = "no automatic fix: the call is not directly in the loop that runs it"

    def check(self, ctx: ModuleContext) -> Iterator[Finding]:
        if ctx.is_test:
            return
        for qualname, index, call in ctx.calls():
            if expr.method(call) != "empty_cache":
                continue
            callee = ctx.callee(qualname, call)
            if callee not in EMPTY_CACHE:
                continue
            if ctx.is_conditional(qualname, call):
                continue  # under a condition: memory management for some inputs, not every step
            if not ctx.frequency(qualname, call).hot:
                continue  # per epoch, per validation, every k steps, or once
            yield Finding(
                call.span,
                f"`{callee}()` runs at every step: it waits for the device and hands the cached "
                "memory back, so the next step allocates it again; call it once after the loop, "
                "or not at all",
                lambda qualname=qualname, call=call, callee=callee: self._fix(ctx, qualname, call, callee),
            )

    def _fix(self, ctx: ModuleContext, qualname: str, call, callee: str) -> Fix:
        """Move the call after the loop it sits in directly (a statement of that loop's
        body). Unsafe: peak memory and fragmentation change."""
        message = f"Move `{callee}()` after the loop"
        function = ctx.function(qualname)
        if not call.statement or not call.loops or function.loops[call.loops[-1]].kind == "comp":
            return Fix(DISPLAY_ONLY, message + " (applied only to a call directly in the loop)")
        loop = function.loops[call.loops[-1]]
        text = ctx.source.index.line_text(call.span.line)
        if call.span.line != call.span.end_line or text.strip().split("#")[0].strip() != _call_text(text, call):
            return Fix(DISPLAY_ONLY, message + " (applied only to a call alone on its line)")
        view = ctx.source

        def build() -> Fix:
            placement = _direct_statement_of_loop(view, loop.span, call.span.line)
            if placement is None:
                return Fix(DISPLAY_ONLY, message + " (applied only to a call directly in the loop)")
            only_statement = placement
            statement = text.strip()
            if only_statement:
                removal = Edit((call.span.line, call.span.col), (call.span.line, len(text)), "pass")
            else:
                removal = Edit((call.span.line, 0), (call.span.line + 1, 0), "")
            after = view.insert_line_after(loop.span.end_line, loop.span.line, statement)
            return Fix(UNSAFE, message + " (peak memory changes)", [removal, after])

        return Fix(UNSAFE, message + " (peak memory changes)", build=build)


def _call_text(line: str, call) -> str:
    return line[call.span.col : call.span.end_col].strip()


def _direct_statement_of_loop(view, loop_span, line: int) -> bool | None:
    """Is the statement on `line` a direct statement of the body of the loop at
    `loop_span`? True when it is the body's only statement, False when there are
    others, None when it is nested deeper (or not found)."""
    import libcst as cst

    from torchlint.positions import node_positions

    loops = []

    class Loops(cst.CSTVisitor):
        def visit_For(self, node) -> None:
            loops.append(node)

        def visit_While(self, node) -> None:
            loops.append(node)

    view.module.visit(Loops())
    positions = node_positions(view.module, loops)
    for node in loops:
        where = positions.get(id(node))
        if where is None or where.start.line != loop_span.line:
            continue
        body = node.body
        if not isinstance(body, cst.IndentedBlock):
            return None
        statements = list(body.body)
        starts = node_positions(view.module, statements)
        for statement in statements:
            found = starts.get(id(statement))
            if found is not None and found.start.line == line:
                if not isinstance(statement, cst.SimpleStatementLine) or len(statement.body) != 1:
                    return None
                return len(statements) == 1
        return None
    return None
