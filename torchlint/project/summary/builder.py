"""Building a module's summary from the stdlib parser's tree: `summarize(source)`.

`_Builder` walks the tree once, keeping a scope per function being summarized: the
loops, guards and `with` blocks around the current position and the reads of each name.
This module holds the walk's skeleton (positions, scopes, bindings, function and class
definitions); statements.py and expressions.py hold the handlers for each kind of node.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

from torchlint.project.summary.expressions import ExpressionBuilder
from torchlint.project.summary.model import UNKNOWN_EXPR, Binding, Class, Expr, Function, HostUse, ModuleSummary, Span
from torchlint.project.summary.statements import StatementBuilder

# Attribute names of backend switches whose assignments are kept (with their values).
_BACKEND_SWITCHES = frozenset(("benchmark", "deterministic", "allow_tf32"))


def _dotted(node) -> str | None:
    """`torch.backends.cudnn.benchmark` for an Attribute chain rooted at a name."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    return ".".join(reversed(parts))


def summarize(source: str) -> ModuleSummary:
    """The summary of one module's text. Never raises on valid Python; a syntax error is
    recorded in `syntax_error` with Python's own message and position. A large module is
    parsed a group of top-level statements at a time, so that its whole tree is never in
    memory at once."""
    from torchlint.project.statements import GroupsDisagree, parse_in_groups, parse_quietly

    builder = _Builder(source)
    try:
        try:
            builder.start_module()
            for tree in parse_in_groups(source):
                builder.body(tree.body)
                del tree
        except GroupsDisagree:
            builder = _Builder(source)
            builder.start_module()
            builder.body(parse_quietly(source).body)
        builder.finish_scope(builder.scope)
    except SyntaxError as error:
        return ModuleSummary({}, {}, syntax_error=[error.msg, error.lineno or 1, error.offset or 1])
    except (ValueError, MemoryError) as error:
        return ModuleSummary({}, {}, syntax_error=[str(error) or type(error).__name__, 1, 1])
    except RecursionError:
        return ModuleSummary({}, {}, syntax_error=["nesting too deep to analyse", 1, 1])
    return ModuleSummary(builder.functions, builder.classes, builder.has_main_guard, _comments(source))


def _comments(source: str) -> dict:
    """Comment text by line, for rules that honour a reason written next to the code.
    A `#` inside a string is not told apart here; rules only look for words in it."""
    found = {}
    if "#" not in source:
        return found
    for number, line in enumerate(source.splitlines(), start=1):
        position = line.find("#")
        if position >= 0:
            found[number] = line[position + 1 :].strip()[:200]
    return found


@dataclass
class _Scope:
    function: Function
    loops: list = field(default_factory=list)  # loop indexes, outermost first
    guards: list = field(default_factory=list)  # (gate kind, loop depth when entered)
    withs: list = field(default_factory=list)
    conditional: int = 0  # depth of if/try/loop/match blocks
    order: int = 0
    reads: dict = field(default_factory=dict)  # name -> [[order, line, col, call]]
    owner_class: Class | None = None  # for methods: where `self.x = ...` goes
    self_name: str | None = None
    tests: list = field(default_factory=list)  # host-use indexes of the `if` tests around


class _Builder(StatementBuilder, ExpressionBuilder):
    def __init__(self, source: str) -> None:
        self.lines = source.splitlines()
        self.statement_line = 1
        self.functions: dict[str, Function] = {}
        self.classes: dict[str, Class] = {}
        self.has_main_guard = False
        self.scope: _Scope | None = None

    # -- positions -------------------------------------------------------------------------

    def column(self, line: int, col: int) -> int:
        if 0 < line <= len(self.lines):
            text = self.lines[line - 1]
            if not text.isascii():
                return len(text.encode("utf-8")[:col].decode("utf-8", errors="replace"))
        return col

    def span(self, node) -> Span:
        end_line = getattr(node, "end_lineno", None) or node.lineno
        end_col = getattr(node, "end_col_offset", None)
        if end_col is None:
            end_col = node.col_offset
        return Span(node.lineno, self.column(node.lineno, node.col_offset), end_line, self.column(end_line, end_col))

    # -- scopes ----------------------------------------------------------------------------

    def start_module(self) -> None:
        function = Function("<module>", "<module>", Span(1, 0, max(1, len(self.lines)), 0), "module", [], [], {}, None, None, None)
        self.functions["<module>"] = function
        self.scope = _Scope(function)

    def finish_scope(self, scope: _Scope) -> None:
        """Give each binding the reads that follow it, up to the next binding of the name."""
        for name, bindings in scope.function.bindings.items():
            reads = scope.reads.get(name)
            if not reads:
                continue
            ordered = sorted(bindings, key=lambda b: b.order)
            for position, binding in enumerate(ordered):
                limit = ordered[position + 1].order if position + 1 < len(ordered) else None
                binding.uses = [
                    [line, col, call] for order, line, col, call in reads
                    if order > binding.order and (limit is None or order < limit)
                ]

    def enter(self, function: Function, owner_class: Class | None = None, self_name: str | None = None) -> _Scope:
        self.functions[function.qualname] = function
        saved = self.scope
        self.scope = _Scope(function, owner_class=owner_class, self_name=self_name)
        return saved

    def qualname(self, name: str) -> str:
        current = self.scope.function
        if current.kind == "module":
            return name
        if current.kind == "class-body":
            return f"{current.qualname[: -len('.<body>')]}.{name}"
        return f"{current.qualname}.<locals>.{name}"

    def unique(self, qualname: str) -> str:
        """Two definitions with one name (`if cuda: def f` / `else: def f`) stay apart."""
        if qualname not in self.functions and qualname not in self.classes:
            return qualname
        number = 2
        while f"{qualname}#{number}" in self.functions or f"{qualname}#{number}" in self.classes:
            number += 1
        return f"{qualname}#{number}"

    # -- bindings --------------------------------------------------------------------------

    def bind(self, name: str, value: Expr, kind: str, node, end_line: int | None = None) -> None:
        scope = self.scope
        scope.order += 1
        function = scope.function
        target = function
        if name in function.globals and function.kind != "module":
            target = self.functions["<module>"]
            value = ["in", function.qualname, value]  # evaluated where the assignment is
        binding = Binding(
            value, kind, node.lineno, self.column(node.lineno, node.col_offset),
            end_line or getattr(node, "end_lineno", None) or node.lineno,
            scope.conditional > 0 or target is not function, scope.order,
        )
        target.bindings.setdefault(name, []).append(binding)

    def bind_target(self, target, value: Expr, kind: str, statement) -> None:
        if isinstance(target, ast.Name):
            self.bind(target.id, value, kind, statement)
        elif isinstance(target, (ast.Tuple, ast.List)):
            elements = target.elts
            literal = value[0] == "t" and len(value[1]) == len(elements) and not any(e[0] == "*" for e in value[1])
            starred = any(isinstance(e, ast.Starred) for e in elements)
            for index, element in enumerate(elements):
                if isinstance(element, ast.Starred):
                    self.bind_target(element.value, UNKNOWN_EXPR, kind, statement)
                    continue
                if literal:
                    item = value[1][index]
                elif starred:
                    item = UNKNOWN_EXPR
                else:
                    item = ["i", value, ["k", index]]
                self.bind_target(element, item, kind, statement)
        elif isinstance(target, ast.Starred):
            self.bind_target(target.value, UNKNOWN_EXPR, kind, statement)
        elif isinstance(target, ast.Attribute):
            scope = self.scope
            if target.attr not in scope.function.attr_stores:
                scope.function.attr_stores.append(target.attr)
            if target.attr in _BACKEND_SWITCHES:
                dotted = _dotted(target)
                if dotted is not None:
                    scope.function.setting_stores.append([dotted, value, statement.lineno])
            if (
                scope.owner_class is not None
                and isinstance(target.value, ast.Name)
                and target.value.id == scope.self_name
            ):
                scope.order += 1
                binding = Binding(
                    value, kind, statement.lineno, self.column(statement.lineno, statement.col_offset),
                    getattr(statement, "end_lineno", None) or statement.lineno, scope.conditional > 0, scope.order,
                )
                scope.owner_class.self_attrs.setdefault(target.attr, []).append([scope.function.qualname, binding])
        elif isinstance(target, ast.Subscript):
            # `name[key] = value`; also `name[i][j] = value` and `name.attr[i] = value`,
            # recorded on `name` with an unknown key: the object is filled in place.
            root = target.value
            while isinstance(root, (ast.Subscript, ast.Attribute)):
                root = root.value
            if isinstance(root, ast.Name) and kind in ("assign", "augassign"):
                scope = self.scope
                scope.order += 1
                direct = target.value is root and not isinstance(target.slice, ast.Slice)
                key = self.expr(target.slice) if direct else UNKNOWN_EXPR
                scope.function.item_stores.setdefault(root.id, []).append(
                    [key, value, scope.conditional > 0, scope.order]
                )

    def visit_target(self, target) -> None:
        """Targets hold code too: `a[f(x)] = ...`, `self.model.weight = ...`."""
        if isinstance(target, ast.Name):
            return
        if isinstance(target, (ast.Tuple, ast.List)):
            for element in target.elts:
                self.visit_target(element)
        elif isinstance(target, ast.Starred):
            self.visit_target(target.value)
        elif isinstance(target, ast.Attribute):
            self.expr(target.value)
        elif isinstance(target, ast.Subscript):
            self.expr(target.value)
            if not isinstance(target.slice, ast.Slice):
                self.expr(target.slice)

    # -- definitions: functions, classes and lambdas ---------------------------------------

    def on_FunctionDef(self, node) -> None:
        decorators = [self.decorator(d) for d in node.decorator_list]
        defaults = self.defaults(node.args)
        qualname = self.unique(self.qualname(node.name))
        parent = self.scope
        owner = None
        if parent.function.kind == "class-body":
            owner = parent.function.qualname[: -len(".<body>")]
        params, kinds = _params(node.args)
        function = Function(
            node.name, qualname, self.span(node), "function", params, kinds, defaults,
            self._parent_qualname(parent), owner, parent.function.qualname, decorators,
        )
        self.bind(node.name, ["f", qualname], "def", node)
        if owner is not None:
            self.classes[owner].methods.setdefault(node.name, qualname)
        owner_class = self.classes.get(owner) if owner is not None else None
        is_static = any(d == ["n", "staticmethod"] for d in decorators)
        self_name = params[0] if owner_class is not None and params and not is_static else None
        saved = self.enter(function, owner_class, self_name)
        for index, name in enumerate(params):
            self.bind(name, ["p", index], "param", node)
        self.body(node.body)
        self.finish_scope(self.scope)
        self.scope = saved
    on_AsyncFunctionDef = on_FunctionDef

    def _parent_qualname(self, scope: _Scope) -> str:
        """Name resolution skips class bodies: a method's enclosing scope is the class's."""
        function = scope.function
        while function.kind == "class-body":
            function = self.functions[function.parent]
        return function.qualname

    def decorator(self, node) -> Expr:
        value = self.expr(node)
        calls = self.scope.function.calls
        if value[0] == "c":
            calls[value[1]].decorator = True
        return value

    def defaults(self, arguments: ast.arguments) -> dict:
        defaults = {}
        positional = arguments.posonlyargs + arguments.args
        for arg, default in zip(positional[len(positional) - len(arguments.defaults):], arguments.defaults):
            defaults[arg.arg] = self.expr(default)
        for arg, default in zip(arguments.kwonlyargs, arguments.kw_defaults):
            if default is not None:
                defaults[arg.arg] = self.expr(default)
        return defaults

    def on_ClassDef(self, node: ast.ClassDef) -> None:
        for decorator in node.decorator_list:
            self.decorator(decorator)
        bases = [self.expr(b) for b in node.bases]
        keywords = [[k.arg, self.expr(k.value)] for k in node.keywords]
        qualname = self.unique(self.qualname(node.name))
        parent = self.scope
        info = Class(node.name, qualname, self.span(node), parent.function.qualname, f"{qualname}.<body>", bases, keywords)
        self.classes[qualname] = info
        self.bind(node.name, ["cl", qualname], "class", node)
        body = Function(node.name, f"{qualname}.<body>", self.span(node), "class-body", [], [], {}, parent.function.qualname, None, parent.function.qualname)
        saved = self.enter(body)
        self.body(node.body)
        self.finish_scope(self.scope)
        self.scope = saved

    # -- where a call or host use is: its guard, its branch --------------------------------

    def gate(self) -> str:
        """The first gating guard between here and the innermost enclosing loop."""
        scope = self.scope
        depth = len(scope.loops)
        for kind, loop_depth in reversed(scope.guards):
            if loop_depth < depth:
                break
            if kind:
                return kind
        return ""

    def in_branch(self) -> bool:
        """Inside an if/else/except since the innermost loop (or the function) began."""
        depth = len(self.scope.loops)
        return any(loop_depth >= depth for _, loop_depth in self.scope.guards)

    def host_use(self, kind: str, node, expr: Expr) -> None:
        scope = self.scope
        scope.function.host_uses.append(
            HostUse(kind, expr, self.span(node), list(scope.loops), self.gate(), scope.conditional > 0, self.statement_line,
                    scope.tests[-1] if scope.tests else -1)
        )

    # -- expressions (the handlers are in expressions.py) ----------------------------------

    def expr(self, node) -> Expr:
        if node is None:
            return UNKNOWN_EXPR
        handler = _EXPRESSIONS.get(type(node))
        if handler is not None:
            return handler(self, node)
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.expr):
                self.expr(child)
        return UNKNOWN_EXPR

    def e_Lambda(self, node: ast.Lambda) -> Expr:
        defaults = self.defaults(node.args)
        qualname = self.unique(self.qualname(f"<lambda@{node.lineno}:{node.col_offset}>"))
        params, kinds = _params(node.args)
        function = Function("<lambda>", qualname, self.span(node), "lambda", params, kinds, defaults,
                            self._parent_qualname(self.scope), None, self.scope.function.qualname)
        saved = self.enter(function)
        for index, name in enumerate(params):
            self.bind(name, ["p", index], "param", node)
        function.returns.append(self.expr(node.body))
        self.finish_scope(self.scope)
        self.scope = saved
        return ["f", qualname]


_EXPRESSIONS = {
    getattr(ast, name[2:]): getattr(_Builder, name)
    for name in dir(_Builder)
    if name.startswith("e_") and hasattr(ast, name[2:])
}


def _params(arguments: ast.arguments) -> tuple[list, list]:
    names, kinds = [], []
    for arg in arguments.posonlyargs + arguments.args:
        names.append(arg.arg)
        kinds.append("pos")
    if arguments.vararg is not None:
        names.append(arguments.vararg.arg)
        kinds.append("vararg")
    for arg in arguments.kwonlyargs:
        names.append(arg.arg)
        kinds.append("kwonly")
    if arguments.kwarg is not None:
        names.append(arguments.kwarg.arg)
        kinds.append("kwarg")
    return names, kinds
