"""Summarizing statements: one `on_<node>` method per kind of `ast` statement that
binds names, opens a loop, guard, `with` or `try` block, or records a return. The guard
kind of each block comes from semantic/guards.py. Mixed into the builder (builder.py)."""

from __future__ import annotations

import ast

from torchlint.project.summary.expressions import BINOPS
from torchlint.project.summary.model import UNKNOWN_EXPR, Binding, Expr, Loop, With
from torchlint.semantic.guards import GATE_EVAL, GATE_EXCEPT, gate_after, gate_of, training_test


class StatementBuilder:
    """The statement handlers of `_Builder`; `statement()` dispatches to them."""

    def body(self, statements) -> None:
        scope = self.scope
        pushed = 0
        for statement in statements:
            self.statement(statement)
            rest = gate_after(statement)
            if rest:
                # `if step % k != 0: return` (or `continue`): the rest of the block runs every
                # k steps; `if self.training: return loss`: the rest runs in evaluation.
                scope.guards.append((rest, len(scope.loops)))
                pushed += 1
        del scope.guards[len(scope.guards) - pushed :]

    def block(self, statements) -> None:
        self.scope.conditional += 1
        self.body(statements)
        self.scope.conditional -= 1

    def statement(self, node) -> None:
        self.statement_line = node.lineno
        handler = getattr(self, "on_" + type(node).__name__, None)
        if handler is not None:
            handler(node)
        else:
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.expr):
                    self.expr(child)
                elif isinstance(child, ast.stmt):
                    self.statement(child)

    def on_Expr(self, node: ast.Expr) -> None:
        value = self.expr(node.value)
        if value[0] == "c":
            self.scope.function.calls[value[1]].statement = True

    def on_Assign(self, node: ast.Assign) -> None:
        value = self.expr(node.value)
        for target in node.targets:
            self.visit_target(target)
            self.bind_target(target, value, "assign", node)

    def on_AnnAssign(self, node: ast.AnnAssign) -> None:
        if node.value is None:
            return
        value = self.expr(node.value)
        self.visit_target(node.target)
        self.bind_target(node.target, value, "assign", node)

    def on_AugAssign(self, node: ast.AugAssign) -> None:
        value = self.expr(node.value)
        self.visit_target(node.target)
        if isinstance(node.target, ast.Name):
            op = BINOPS.get(type(node.op), "?")
            self.bind(node.target.id, ["b", op, ["n", node.target.id], value], "augassign", node)
        elif isinstance(node.target, (ast.Attribute, ast.Subscript)):
            self.bind_target(node.target, ["b", BINOPS.get(type(node.op), "?"), UNKNOWN_EXPR, value], "augassign", node)

    def on_Return(self, node: ast.Return) -> None:
        value = self.expr(node.value) if node.value is not None else ["k", None]
        self.scope.function.returns.append(value)
        self.leave_loop()

    def on_Break(self, node) -> None:
        self.leave_loop()

    def leave_loop(self) -> None:
        """A `break` or `return` inside a loop (not one in a nested loop's own body only)."""
        scope = self.scope
        if scope.loops:
            scope.function.loops[scope.loops[-1]].breaks = True

    def on_Global(self, node: ast.Global) -> None:
        self.scope.function.globals.extend(node.names)

    def on_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if alias.asname:
                self.bind(alias.asname, ["imp", alias.name, None, 0], "import", node)
            else:
                head = alias.name.split(".")[0]
                self.bind(head, ["imp", head, None, 0], "import", node)

    def on_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = node.module or ""
        for alias in node.names:
            if alias.name == "*":
                self.scope.function.bindings.setdefault("*", []).append(
                    Binding(["imp", module, "*", node.level], "import", node.lineno, node.col_offset,
                            node.lineno, self.scope.conditional > 0, 0)
                )
                continue
            self.bind(alias.asname or alias.name, ["imp", module, alias.name, node.level], "import", node)

    def on_If(self, node: ast.If) -> None:
        self.host_use("test", node.test, self.expr(node.test))
        scope = self.scope
        scope.tests.append(len(scope.function.host_uses) - 1)
        if scope.function.kind == "module" and _is_main_guard(node.test):
            self.has_main_guard = True
        gate = gate_of(node.test)
        mode = training_test(node.test)
        scope.guards.append((GATE_EVAL if mode is False else gate, len(scope.loops)))
        self.block(node.body)
        scope.guards.pop()
        # `else` runs when the guard does not: most iterations, for an every-k guard.
        scope.guards.append((GATE_EVAL if mode is True else "", len(scope.loops)))
        self.block(node.orelse)
        scope.guards.pop()
        scope.tests.pop()

    def on_For(self, node) -> None:
        iterable = self.expr(node.iter)
        self.loop(node, "for", iterable)
    on_AsyncFor = on_For

    def on_While(self, node: ast.While) -> None:
        # The test runs each iteration: recorded inside the loop.
        self.loop(node, "while", None, test=node.test)

    def loop(self, node, kind: str, iterable: Expr | None, test=None) -> None:
        scope = self.scope
        function = scope.function
        index = len(function.loops)
        function.loops.append(Loop(kind, iterable, self.span(node), scope.loops[-1] if scope.loops else -1, self.gate(),
                                   branch=self.in_branch()))
        scope.loops.append(index)
        scope.conditional += 1
        if test is not None:
            self.host_use("test", test, self.expr(test))
        if kind == "for":
            self.visit_target(node.target)
            self.bind_target(node.target, ["e", iterable], "loop", node)
        self.body(node.body)
        scope.loops.pop()
        self.body(node.orelse)
        scope.conditional -= 1

    def on_With(self, node) -> None:
        scope = self.scope
        contexts = []
        for item in node.items:
            context = self.expr(item.context_expr)
            contexts.append(context)
            if item.optional_vars is not None:
                self.visit_target(item.optional_vars)
                self.bind_target(item.optional_vars, ["w", context], "with", node)
        function = scope.function
        index = len(function.withs)
        function.withs.append(With(contexts, self.span(node), scope.withs[-1] if scope.withs else -1))
        scope.withs.append(index)
        self.body(node.body)
        scope.withs.pop()
    on_AsyncWith = on_With

    def on_Try(self, node) -> None:
        scope = self.scope
        self.block(node.body)
        for handler in node.handlers:
            if handler.type is not None:
                self.expr(handler.type)
            if handler.name:
                self.bind(handler.name, UNKNOWN_EXPR, "other", handler)
            scope.guards.append((GATE_EXCEPT, len(scope.loops)))
            self.block(handler.body)
            scope.guards.pop()
        self.block(node.orelse)
        self.body(node.finalbody)
    on_TryStar = on_Try

    def on_Match(self, node) -> None:
        self.expr(node.subject)
        for case in node.cases:
            if case.guard is not None:
                self.expr(case.guard)
            self.block(case.body)

    def on_Assert(self, node: ast.Assert) -> None:
        self.host_use("test", node.test, self.expr(node.test))
        if node.msg is not None:
            self.expr(node.msg)


def _is_main_guard(test) -> bool:
    if not isinstance(test, ast.Compare) or len(test.comparators) != 1:
        return False
    sides = [test.left, test.comparators[0]]
    names = [s for s in sides if isinstance(s, ast.Name) and s.id == "__name__"]
    strings = [s for s in sides if isinstance(s, ast.Constant) and s.value == "__main__"]
    return bool(names and strings)
