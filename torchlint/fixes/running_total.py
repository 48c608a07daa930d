"""TL301's one safe fix, on the stdlib `ast`: a running total of `.item()`s kept on the
device. `total += loss.item()` becomes `total += loss.detach().double()`, and every read of
`total` becomes `float(total)`. The edits are proven here (a local name started at a float
literal, grown only by `+=` of numbers and of the proven `.item()`s, read outside the step
or under an `if` in it); which `.item()`s read GPU tensors the rule proves. Built on `ast`,
not libcst (cheap enough for `check`, which shows whether a finding is fixable): the edits
are plain text replacements."""

from __future__ import annotations

import ast
import re

from torchlint.fixes.model import Edit

_NESTED_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)
_LOOPS = (ast.For, ast.AsyncFor, ast.While)


def running_total_edits(view, proven: set, is_number, target: tuple) -> list | None:
    """The edits that keep the total grown by the `.item()` at `target` (a span key) on the
    device, or None when the total is not provably a plain running sum. `proven`: span keys
    of the `.item()`s of GPU tensors; `is_number(name)`: the name holds a Python number."""
    return _Accumulator(view, proven, is_number).edits(target)


def span_key(span) -> tuple:
    return (span.line, span.col, span.end_line, span.end_col)


class _Accumulator:
    def __init__(self, view, proven: set, is_number) -> None:
        self.view = view
        self.proven = proven
        self.is_number = is_number

    def column(self, line: int, byte_col: int) -> int:
        return len(self.view.index.line_text(line).encode("utf-8")[:byte_col].decode("utf-8", "replace"))

    def key(self, node) -> tuple:
        return (node.lineno, self.column(node.lineno, node.col_offset), node.end_lineno, self.column(node.end_lineno, node.end_col_offset))

    def find(self, tree, target_key: tuple):
        return self.view.derived(tree, "tl301.items", self.item_calls).get(target_key)

    def item_calls(self, tree) -> dict:
        """The `.item()` calls of `tree` by position."""
        found: dict = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "item":
                found.setdefault(self.key(node), node)
        return found

    def edits(self, target_key: tuple) -> list | None:
        view, line = self.view, target_key[0]
        tree = view.tree_for(line)  # the top-level statement that holds the call
        target = self.find(tree, target_key) if tree is not None else None
        if target is not None and isinstance(_scope_of(view.parents(tree), target), ast.Module):
            # A total in module-level code may be read anywhere in the module.
            tree = view.tree_for(line, whole=True)
            target = self.find(tree, target_key) if tree is not None else None
        if target is None:
            return None
        return self.proven_edits(target, view.parents(tree))

    def proven_edits(self, target, parents) -> list | None:
        statement = parents.get(target)
        while statement is not None and not isinstance(statement, (ast.stmt, ast.Lambda, *_NESTED_SCOPES)):
            statement = parents.get(statement)
        if not isinstance(statement, ast.AugAssign) or not isinstance(statement.op, ast.Add):
            return None
        if not isinstance(statement.target, ast.Name):
            return None
        name = statement.target.id
        scope = parents.get(statement)
        while scope is not None and not isinstance(scope, (ast.Module, *_NESTED_SCOPES)):
            scope = parents.get(scope)
        if not isinstance(scope, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef)):
            return None
        if isinstance(scope, (ast.FunctionDef, ast.AsyncFunctionDef)):
            arguments = scope.args
            params = arguments.posonlyargs + arguments.args + arguments.kwonlyargs + [a for a in (arguments.vararg, arguments.kwarg) if a]
            if any(a.arg == name for a in params):
                return None

        items, reads = [], []
        for node in _own_nodes(scope):
            if isinstance(node, _NESTED_SCOPES):
                if _mentions(node, name):
                    return None  # read or bound by a nested function, class or comprehension
            elif isinstance(node, (ast.Global, ast.Nonlocal)) and name in node.names:
                return None
            elif isinstance(node, (ast.ExceptHandler, ast.MatchAs, ast.MatchStar)) and getattr(node, "name", None) == name:
                return None
            elif isinstance(node, ast.alias) and (node.asname or node.name.partition(".")[0]) == name:
                return None
            elif isinstance(node, ast.Name) and node.id == name:
                parent = parents.get(node)
                if isinstance(node.ctx, ast.Load):
                    reads.append(node)
                elif isinstance(parent, ast.AugAssign) and parent.target is node:
                    if not isinstance(parent.op, ast.Add) or _mentions(parent.value, name):
                        return None
                    if not self.numeric(parent.value, name, items):
                        return None
                elif isinstance(parent, (ast.Assign, ast.AnnAssign)) and _float_literal(parent.value):
                    if isinstance(parent, ast.Assign) and parent.targets != [node]:
                        return None
                else:
                    return None  # a loop target, `with ... as`, a walrus, `del`, a tuple or int start
        if not any(item is target for item in items):
            return None

        loop = parents.get(statement)
        while loop is not None and loop is not scope and not isinstance(loop, _LOOPS):
            loop = parents.get(loop)
        if isinstance(loop, _LOOPS) and any(_every_iteration(parents, read, loop) for read in reads):
            return None  # converted at every step anyway: nothing gained

        edits = []
        for item in items:
            receiver = item.func.value
            start = (receiver.end_lineno, self.column(receiver.end_lineno, receiver.end_col_offset))
            end = (item.end_lineno, self.column(item.end_lineno, item.end_col_offset))
            if not re.fullmatch(r"\s*\.\s*item\s*\(\s*\)", self.text_between(start, end)):
                return None
            edits.append(Edit(start, end, ".detach().double()"))
        for read in reads:
            parent = parents.get(read)
            if (
                isinstance(parent, ast.Call) and isinstance(parent.func, ast.Name) and parent.func.id == "float"
                and parent.args == [read] and not parent.keywords
            ):
                continue  # already `float(total)`
            line, col, end_line, end_col = self.key(read)
            if self.text_between((line, col), (end_line, end_col)) != name:
                return None  # positions `ast` gets wrong (inside some f-strings before 3.12)
            edits.append(Edit((line, col), (end_line, end_col), f"float({name})"))
        return edits

    def text_between(self, start: tuple, end: tuple) -> str:
        index = self.view.index
        return self.view.text[index.offset(*start):index.offset(*end)]

    def numeric(self, expr, name: str, items: list) -> bool:
        """Only numbers and proven GPU `.item()`s: the sum means the same on the device."""
        if isinstance(expr, ast.BinOp):
            if isinstance(expr.op, (ast.Add, ast.Sub, ast.Mult)):
                return self.numeric(expr.left, name, items) and self.numeric(expr.right, name, items)
            if isinstance(expr.op, ast.Div):  # by a non-zero literal: no ZeroDivisionError to lose
                divisor = expr.right
                return self.numeric(expr.left, name, items) and _number_literal(divisor) and divisor.value != 0
            return False
        if isinstance(expr, ast.UnaryOp) and isinstance(expr.op, ast.USub):
            return self.numeric(expr.operand, name, items)
        if _number_literal(expr):
            return True
        if isinstance(expr, ast.Call):
            if isinstance(expr.func, ast.Attribute) and expr.func.attr == "item" and self.key(expr) in self.proven:
                items.append(expr)
                return True
            func = expr.func
            if isinstance(func, ast.Name) and func.id == "len" and len(expr.args) == 1 and not expr.keywords:
                return True
            return isinstance(func, ast.Attribute) and func.attr in ("size", "numel")
        if isinstance(expr, ast.Subscript):
            return isinstance(expr.value, ast.Attribute) and expr.value.attr == "shape"
        if isinstance(expr, ast.Name):
            return expr.id != name and self.is_number(expr.id)
        return False


def _scope_of(parents: dict, node):
    scope = parents.get(node)
    while scope is not None and not isinstance(scope, (ast.Module, *_NESTED_SCOPES)):
        scope = parents.get(scope)
    return scope


def _own_nodes(scope):
    """The nodes of a scope, down to (and including, but not into) nested scopes."""
    stack = list(ast.iter_child_nodes(scope))
    while stack:
        node = stack.pop()
        yield node
        if not isinstance(node, _NESTED_SCOPES):
            stack.extend(ast.iter_child_nodes(node))


def _mentions(node, name: str) -> bool:
    for inner in ast.walk(node):
        if isinstance(inner, ast.Name) and inner.id == name:
            return True
        if isinstance(inner, (ast.Global, ast.Nonlocal)) and name in inner.names:
            return True
        if isinstance(inner, ast.arg) and inner.arg == name:
            return True
    return False


def _number_literal(node) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool)


def _float_literal(node) -> bool:
    # `0.0`, not `0`: an int start would print `0` rather than `0.0` if the loop never ran.
    return isinstance(node, ast.Constant) and type(node.value) is float


def _every_iteration(parents, node, loop) -> bool:
    """Does a read inside `loop` run at every iteration: not under an `if` (or a
    conditional expression), and not in the loop's `else`?"""
    child, parent = node, parents.get(node)
    while parent is not None:
        if isinstance(parent, (ast.If, ast.IfExp)) and child is not parent.test:
            return False
        if parent is loop:
            return not any(child is other for other in loop.orelse)
        if isinstance(parent, (ast.Module, *_NESTED_SCOPES)):
            return False
        child, parent = parent, parents.get(parent)
    return False
