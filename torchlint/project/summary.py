"""One module's summary: plain data computed from the stdlib parser, cached as JSON.

A summary records what the semantic layer needs to follow values across modules and to
say how often a line runs, and nothing else: for every function (module-level code is
the function "<module>", a class body "<Class>.<body>") its parameters, the bindings of
each local name with the expression they bind, every call with its arguments and the
loops, guards and `with` blocks around it, the loops with what they iterate, and the
returned expressions. Expressions are nested lists (see `Expr` below), so a summary
depends only on the file's text: the cache keys it by content hash.

Expr, the first element names the form:
    ["k", value]              a constant (int, float, str, bytes as None, bool, None)
    ["s", prefix]             an f-string whose literal text starts with `prefix`
    ["n", name]               a name read
    ["a", base, attr]         an attribute
    ["c", index]              the result of calls[index] of the same function
    ["t", [items]]            a tuple, list or set display (items may be ["*", e])
    ["q", element]            a comprehension (its elements look like `element`)
    ["d", [[key|None, value]]] a dict display (None: a `**` splat)
    ["i", base, index]        a subscript (index is an Expr, ["?"] for slices)
    ["b", op, left, right]    a binary operation (op: + - * / // % @ ** ...) or a single
                              comparison (op: == != < <= > >= is in ...)
    ["u", op, operand]        a unary operation (op: - + not ~)
    ["if", body, orelse]      a conditional expression (the test is not kept)
    ["e", iterable]           one element of iterating `iterable` (loop targets)
    ["w", context]            what `with context as x` binds
    ["f", qualname]           a function or lambda defined here
    ["cl", qualname]          a class defined here
    ["imp", module, name, level]  an import: `from module import name` (name None:
                              `import module`), level = leading dots of a relative one
    ["p", index]              parameter `index` of the function
    ["in", qualname, expr]    `expr` as evaluated in another function of the module (a
                              `global` name assigned in a function)
    ["?"]                     anything else
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field

SUMMARY_VERSION = 11

Expr = list
UNKNOWN_EXPR: Expr = ["?"]


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


def spelled_name(func: Expr) -> str | None:
    """The last name a callee is spelled with: `f` for `f(...)` and `x.f(...)`."""
    if func[0] == "n":
        return func[1]
    if func[0] == "a":
        return func[2]
    return None

_CUDA_STRING = re.compile(r"^\s*cuda\b")
_MPS_STRING = re.compile(r"^\s*mps\b")
# `if step % k == 0`, `if args.debug`, `if i == 0`: code under such a guard does not run
# on every iteration of the loop around it.
GATE_EVERY_K, GATE_FLAG, GATE_ONCE, GATE_EXCEPT, GATE_RARE = "every-k", "flag", "once", "except", "rare"
GATE_EVAL = "eval"  # the evaluation-mode path of a module (`if not self.training:`)
GATE_TYPE = "type"  # a branch for one type of value among several

_BINOPS = {
    ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//", ast.Mod: "%",
    ast.MatMult: "@", ast.Pow: "**", ast.LShift: "<<", ast.RShift: ">>", ast.BitOr: "|",
    ast.BitAnd: "&", ast.BitXor: "^",
}
_UNARY = {ast.USub: "-", ast.UAdd: "+", ast.Not: "not", ast.Invert: "~"}
_COMPARISONS = {
    ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=",
    ast.Is: "is", ast.IsNot: "is not", ast.In: "in", ast.NotIn: "not in",
}


@dataclass(slots=True)
class Span:
    """Lines 1-based; columns 0-based, in characters (not UTF-8 bytes as `ast` counts)."""

    line: int
    col: int
    end_line: int
    end_col: int


@dataclass(slots=True)
class Call:
    func: Expr
    args: list  # positional Exprs; ["*", e] for `*e`
    keywords: list  # [name, Expr]; [None, e] for `**e`
    span: Span
    loops: list  # indexes of the enclosing loops of the function, outermost first
    gate: str  # "" or the kind of guard between the call and its innermost loop
    statement: bool = False  # used as a statement: its result is thrown away
    with_block: int = -1  # the innermost enclosing `with` of the function, or -1
    decorator: bool = False  # a decorator expression (runs once, at definition time)
    conditional: bool = False  # inside an if/try/loop/match of its function
    statement_line: int = 0  # the first line of the statement the call is part of
    branch: bool = False  # inside an if/else/except between it and its innermost loop (or its function)
    guard: int = -1  # the host use (an `if` test) of the innermost `if` around it, or -1


@dataclass(slots=True)
class Loop:
    kind: str  # "for" | "while" | "comp" (a comprehension's `for`)
    iter: Expr | None  # what a `for` iterates
    span: Span
    parent: int  # the enclosing loop, or -1
    gate: str  # a guard between this loop and its parent loop
    breaks: bool = False  # a `break` (or `return`) leaves it early: it may not run to the end
    branch: bool = False  # inside an if/else/except between it and its parent loop (or its function)


@dataclass(slots=True)
class With:
    contexts: list  # the context-manager Exprs
    span: Span
    parent: int  # the enclosing `with`, or -1


@dataclass(slots=True)
class HostUse:
    """A value the host reads without a call: the test of an `if`/`while`/`assert`/ternary
    ("test"), or a field of an f-string or a `%` operand ("format"). On an accelerator
    tensor, each one waits for the device."""

    kind: str
    expr: Expr
    span: Span
    loops: list
    gate: str
    conditional: bool = False
    statement_line: int = 0
    guard: int = -1  # the host use (an `if` test) of the innermost `if` around it, or -1


@dataclass(slots=True)
class Binding:
    value: Expr
    kind: str  # assign | augassign | param | import | def | class | loop | with | other
    line: int
    col: int
    end_line: int  # the last line of the statement (where a line can be added after it)
    conditional: bool  # inside an if/try/loop/match of its function: not on every path
    order: int  # source order within the function
    # Later reads of the name before it is bound again, in source order:
    # [line, col, call] with call = the index of the call the read is the receiver of
    # (`name.method(...)`), else -1.
    uses: list = field(default_factory=list)


@dataclass(slots=True)
class Function:
    name: str
    qualname: str
    span: Span
    kind: str  # "module" | "function" | "lambda" | "class-body"
    params: list  # names, in order (self included)
    param_kinds: list  # "pos" | "kwonly" | "vararg" | "kwarg", per param
    defaults: dict  # param name -> Expr
    parent: str | None  # the enclosing function's qualname (None for "<module>"), class bodies skipped
    owner: str | None  # the class a method belongs to
    defined_in: str | None  # where the `def` runs: its defaults and decorators are evaluated there
    decorators: list = field(default_factory=list)  # Exprs
    bindings: dict = field(default_factory=dict)  # name -> [Binding]
    item_stores: dict = field(default_factory=dict)  # name -> [[key Expr, value Expr, conditional, order]]
    globals: list = field(default_factory=list)
    calls: list = field(default_factory=list)
    loops: list = field(default_factory=list)
    withs: list = field(default_factory=list)
    returns: list = field(default_factory=list)
    yields: list | None = None  # a generator's yielded Exprs (`yield from x`: ["e", x]); None for functions
    cuda_strings: int = 0
    mps_strings: int = 0
    host_uses: list = field(default_factory=list)  # [HostUse]
    attr_stores: list = field(default_factory=list)  # attribute names assigned (`x.requires_grad = True`)
    # Backend switches assigned: [dotted target, value Expr, line] (`torch.backends.cudnn.benchmark = True`).
    setting_stores: list = field(default_factory=list)


@dataclass(slots=True)
class Class:
    name: str
    qualname: str
    span: Span
    parent: str  # the function (or "<module>") the class statement is in
    body: str  # qualname of the class-body function
    bases: list  # Exprs, evaluated in the parent
    keywords: list  # [name, Expr]
    methods: dict = field(default_factory=dict)  # name -> function qualname
    # `self.attr = value` in a method: attr -> [[method qualname, Binding]]
    self_attrs: dict = field(default_factory=dict)


@dataclass(slots=True)
class ModuleSummary:
    functions: dict  # qualname -> Function ("<module>" included)
    classes: dict  # qualname -> Class
    has_main_guard: bool = False
    comments: dict = field(default_factory=dict)  # line -> comment text
    syntax_error: list | None = None  # [message, line, col] when the file does not parse


# -- JSON ------------------------------------------------------------------------------
# Each record is a list of its fields in order (Exprs stay the lists they are): compact,
# and decoding is a constructor call per record rather than a walk over every value.


def _span(s: Span) -> list:
    return [s.line, s.col, s.end_line, s.end_col]


def _binding(b: Binding) -> list:
    return [b.value, b.kind, b.line, b.col, b.end_line, b.conditional, b.order, b.uses]


def _function(f: Function) -> list:
    return [
        f.name, f.qualname, _span(f.span), f.kind, f.params, f.param_kinds, f.defaults, f.parent, f.owner,
        f.defined_in, f.decorators, {k: [_binding(b) for b in v] for k, v in f.bindings.items()}, f.item_stores, f.globals,
        [[c.func, c.args, c.keywords, _span(c.span), c.loops, c.gate, c.statement, c.with_block, c.decorator,
          c.conditional, c.statement_line, c.branch, c.guard] for c in f.calls],
        [[lp.kind, lp.iter, _span(lp.span), lp.parent, lp.gate, lp.breaks, lp.branch] for lp in f.loops],
        [[w.contexts, _span(w.span), w.parent] for w in f.withs],
        f.returns, f.yields, f.cuda_strings, f.mps_strings,
        [[u.kind, u.expr, _span(u.span), u.loops, u.gate, u.conditional, u.statement_line, u.guard] for u in f.host_uses],
        f.attr_stores,
        f.setting_stores,
    ]


def _class(c: Class) -> list:
    return [
        c.name, c.qualname, _span(c.span), c.parent, c.body, c.bases, c.keywords, c.methods,
        {k: [[q, _binding(b)] for q, b in v] for k, v in c.self_attrs.items()},
    ]


def to_json(summary: ModuleSummary) -> list:
    return [
        SUMMARY_VERSION,
        [_function(f) for f in summary.functions.values()],
        [_class(c) for c in summary.classes.values()],
        summary.has_main_guard,
        [[line, text] for line, text in summary.comments.items()],
        summary.syntax_error,
    ]


def _load_function(d: list) -> Function:
    (name, qualname, span, kind, params, param_kinds, defaults, parent, owner, defined_in, decorators, bindings,
     item_stores, globals_, calls, loops, withs, returns, yields, cuda, mps, host_uses, attr_stores, settings) = d
    return Function(
        name, qualname, Span(*span), kind, params, param_kinds, defaults, parent, owner, defined_in, decorators,
        {k: [Binding(*b) for b in v] for k, v in bindings.items()}, item_stores, globals_,
        [Call(c[0], c[1], c[2], Span(*c[3]), c[4], c[5], c[6], c[7], c[8], c[9], c[10], c[11], c[12]) for c in calls],
        [Loop(lp[0], lp[1], Span(*lp[2]), lp[3], lp[4], lp[5], lp[6]) for lp in loops],
        [With(w[0], Span(*w[1]), w[2]) for w in withs],
        returns, yields, cuda, mps,
        [HostUse(u[0], u[1], Span(*u[2]), u[3], u[4], u[5], u[6], u[7]) for u in host_uses], attr_stores, settings,
    )


def _load_class(d: list) -> Class:
    name, qualname, span, parent, body, bases, keywords, methods, self_attrs = d
    return Class(name, qualname, Span(*span), parent, body, bases, keywords, methods,
                 {k: [[q, Binding(*b)] for q, b in v] for k, v in self_attrs.items()})


def from_json(data: list) -> ModuleSummary:
    """The summary `to_json` wrote; ValueError for anything else (a foreign or old entry)."""
    try:
        version, functions, classes, main_guard, comments, syntax_error = data
        if version != SUMMARY_VERSION:
            raise ValueError(f"summary version {version}")
        loaded_functions = [_load_function(f) for f in functions]
        loaded_classes = [_load_class(c) for c in classes]
        return ModuleSummary(
            {f.qualname: f for f in loaded_functions},
            {c.qualname: c for c in loaded_classes},
            bool(main_guard),
            {int(line): text for line, text in comments},
            syntax_error,
        )
    except (TypeError, ValueError, KeyError, IndexError) as error:
        raise ValueError(f"not a summary: {error}") from None


# -- extraction --------------------------------------------------------------------------


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


class _Builder:
    def __init__(self, source: str) -> None:
        self.lines = source.splitlines()
        self.statement_line = 1
        self.functions: dict[str, Function] = {}
        self.classes: dict[str, Class] = {}
        self.has_main_guard = False
        self.scope: _Scope | None = None

    # -- positions ---------------------------------------------------------------

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

    # -- scopes ------------------------------------------------------------------

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

    # -- bindings ----------------------------------------------------------------

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

    # -- statements ----------------------------------------------------------------

    def body(self, statements) -> None:
        scope = self.scope
        pushed = 0
        for statement in statements:
            self.statement(statement)
            rest = _gate_after(statement)
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
            op = _BINOPS.get(type(node.op), "?")
            self.bind(node.target.id, ["b", op, ["n", node.target.id], value], "augassign", node)
        elif isinstance(node.target, (ast.Attribute, ast.Subscript)):
            self.bind_target(node.target, ["b", _BINOPS.get(type(node.op), "?"), UNKNOWN_EXPR, value], "augassign", node)

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
        gate = _gate_of(node.test)
        mode = _training_test(node.test)
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

    # -- expressions ---------------------------------------------------------------

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

    def e_Constant(self, node: ast.Constant) -> Expr:
        value = node.value
        if isinstance(value, str):
            if _CUDA_STRING.match(value):
                self.scope.function.cuda_strings += 1
            elif _MPS_STRING.match(value):
                self.scope.function.mps_strings += 1
            return ["k", value]
        if isinstance(value, (bool, int, float)) or value is None:
            return ["k", value]
        return UNKNOWN_EXPR  # bytes, complex, Ellipsis

    def e_JoinedStr(self, node: ast.JoinedStr) -> Expr:
        prefix = ""
        for part in node.values:
            if isinstance(part, ast.Constant) and isinstance(part.value, str):
                prefix += part.value
            else:
                break
        for part in node.values:
            if isinstance(part, ast.FormattedValue):
                self.host_use("format", part.value, self.expr(part.value))
                if part.format_spec is not None:
                    self.expr(part.format_spec)
        if _CUDA_STRING.match(prefix):
            self.scope.function.cuda_strings += 1
        return ["s", prefix]

    def e_Name(self, node: ast.Name) -> Expr:
        scope = self.scope
        scope.order += 1
        scope.reads.setdefault(node.id, []).append([scope.order, node.lineno, self.column(node.lineno, node.col_offset), -1])
        return ["n", node.id]

    def e_Attribute(self, node: ast.Attribute) -> Expr:
        return ["a", self.expr(node.value), node.attr]

    def e_Call(self, node: ast.Call) -> Expr:
        func = self.expr(node.func)
        receiver_read = None
        if isinstance(node.func, ast.Attribute) and isinstance(node.func.value, ast.Name):
            reads = self.scope.reads.get(node.func.value.id)
            if reads:
                receiver_read = reads[-1]
        args = []
        for arg in node.args:
            if isinstance(arg, ast.Starred):
                args.append(["*", self.expr(arg.value)])
            else:
                args.append(self.expr(arg))
        keywords = [[k.arg, self.expr(k.value)] for k in node.keywords]
        scope = self.scope
        function = scope.function
        index = len(function.calls)
        function.calls.append(
            Call(func, args, keywords, self.span(node), list(scope.loops), self.gate(),
                 with_block=scope.withs[-1] if scope.withs else -1, conditional=scope.conditional > 0,
                 statement_line=self.statement_line, branch=self.in_branch(),
                 guard=scope.tests[-1] if scope.tests else -1)
        )
        if receiver_read is not None:
            receiver_read[3] = index
        return ["c", index]

    def e_Tuple(self, node) -> Expr:
        items = []
        for element in node.elts:
            if isinstance(element, ast.Starred):
                items.append(["*", self.expr(element.value)])
            else:
                items.append(self.expr(element))
        return ["t", items]

    e_List = e_Set = e_Tuple

    def e_Dict(self, node: ast.Dict) -> Expr:
        return ["d", [[None if k is None else self.expr(k), self.expr(v)] for k, v in zip(node.keys, node.values)]]

    def e_Subscript(self, node: ast.Subscript) -> Expr:
        base = self.expr(node.value)
        index = UNKNOWN_EXPR if isinstance(node.slice, ast.Slice) else self.expr(node.slice)
        if isinstance(node.slice, ast.Slice):
            for part in (node.slice.lower, node.slice.upper, node.slice.step):
                if part is not None:
                    self.expr(part)
        return ["i", base, index]

    def e_BinOp(self, node: ast.BinOp) -> Expr:
        left, right = self.expr(node.left), self.expr(node.right)
        if isinstance(node.op, ast.Mod) and left[0] in ("k", "s") and isinstance(left[1], str):
            # `"loss %.3f" % loss`: each operand is formatted on the host
            operands = node.right.elts if isinstance(node.right, ast.Tuple) else [node.right]
            for operand, value in zip(operands, right[1] if right[0] == "t" else [right]):
                self.host_use("format", operand, value)
        return ["b", _BINOPS.get(type(node.op), "?"), left, right]

    def e_Compare(self, node: ast.Compare) -> Expr:
        left = self.expr(node.left)
        rights = [self.expr(c) for c in node.comparators]
        if len(node.ops) == 1:
            return ["b", _COMPARISONS.get(type(node.ops[0]), "?"), left, rights[0]]
        return UNKNOWN_EXPR

    def e_BoolOp(self, node: ast.BoolOp) -> Expr:
        op = "and" if isinstance(node.op, ast.And) else "or"
        values = [self.expr(v) for v in node.values]
        result = values[0]
        for value in values[1:]:
            result = ["b", op, result, value]
        return result

    def e_UnaryOp(self, node: ast.UnaryOp) -> Expr:
        return ["u", _UNARY.get(type(node.op), "?"), self.expr(node.operand)]

    def on_Assert(self, node: ast.Assert) -> None:
        self.host_use("test", node.test, self.expr(node.test))
        if node.msg is not None:
            self.expr(node.msg)

    def e_IfExp(self, node: ast.IfExp) -> Expr:
        self.host_use("test", node.test, self.expr(node.test))
        scope = self.scope
        scope.conditional += 1
        result = ["if", self.expr(node.body), self.expr(node.orelse)]
        scope.conditional -= 1
        return result

    def e_NamedExpr(self, node: ast.NamedExpr) -> Expr:
        value = self.expr(node.value)
        self.bind(node.target.id, value, "assign", node)
        return value

    def e_Await(self, node: ast.Await) -> Expr:
        return self.expr(node.value)

    def e_Starred(self, node: ast.Starred) -> Expr:
        return ["*", self.expr(node.value)]

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

    def comprehension(self, node, element_nodes) -> Expr:
        """Each `for` of a comprehension is a loop (kind "comp") whose body is the rest of
        it. Targets are bound like loop targets in the enclosing function (a
        simplification: they are local to the comprehension in Python), so that
        `{k: v.to(device) for k, v in batch.items()}` is seen moving batch tensors."""
        scope = self.scope
        function = scope.function
        scope.conditional += 1
        entered = 0
        for generator in node.generators:
            iterable = self.expr(generator.iter)
            index = len(function.loops)
            function.loops.append(Loop("comp", iterable, self.span(node), scope.loops[-1] if scope.loops else -1, self.gate(),
                                       branch=self.in_branch()))
            scope.loops.append(index)
            entered += 1
            self.bind_target(generator.target, ["e", iterable], "loop", node)
            for condition in generator.ifs:
                self.expr(condition)
        elements = [self.expr(e) for e in element_nodes]
        del scope.loops[len(scope.loops) - entered :]
        scope.conditional -= 1
        return ["q", elements[-1]]

    def e_ListComp(self, node) -> Expr:
        return self.comprehension(node, [node.elt])

    e_SetComp = e_GeneratorExp = e_ListComp

    def e_DictComp(self, node) -> Expr:
        result = self.comprehension(node, [node.key, node.value])
        return ["d", [[UNKNOWN_EXPR, result[1]]]]

    def e_Yield(self, node) -> Expr:
        function = self.scope.function
        if function.yields is None:
            function.yields = []
        value = self.expr(node.value) if node.value is not None else ["k", None]
        function.yields.append(["e", value] if isinstance(node, ast.YieldFrom) else value)
        return UNKNOWN_EXPR  # what `send()` passes in

    e_YieldFrom = e_Yield


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


def _is_main_guard(test) -> bool:
    if not isinstance(test, ast.Compare) or len(test.comparators) != 1:
        return False
    sides = [test.left, test.comparators[0]]
    names = [s for s in sides if isinstance(s, ast.Name) and s.id == "__name__"]
    strings = [s for s in sides if isinstance(s, ast.Constant) and s.value == "__main__"]
    return bool(names and strings)


_FLAG_WORDS = re.compile(r"(?i)debug|verbose|log|print|profil|vis|plot|save|check|dump|trace|show|sanity")


_RARE_CHECKS = frozenset(("isnan", "isinf", "isfinite", "is_nan", "is_inf"))
_COUNTER = re.compile(r"(?i)step|iter|idx|index|batch|epoch|count|update|^(?:i|j|k|n|t|it|itr|b|e|ep|T)$")


_SETTINGS = re.compile(r"^(args|opt|opts|cfg|config|conf|hparams|hp|flags|FLAGS|params|options|settings)$")


def _gate_after(statement) -> str:
    """The gate on the statements that follow an early exit: `if <test>: return/continue`
    lets the rest run only when the test fails."""
    if not isinstance(statement, ast.If) or statement.orelse or not statement.body:
        return ""
    if not isinstance(statement.body[-1], (ast.Return, ast.Raise, ast.Continue)):
        return ""
    test = statement.test
    if _training_test(test) is True:
        return GATE_EVAL
    # `if step % k != 0:` / `if step % k:` skips all but every k-th step.
    modulo = test.left if isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], ast.NotEq) else test
    if isinstance(modulo, ast.BinOp) and isinstance(modulo.op, ast.Mod) and _counts(modulo.left):
        return GATE_EVERY_K
    # `if not args.log_images: return`: the rest runs only with the option on.
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not) and _gate_of(test.operand) == GATE_FLAG:
        return GATE_FLAG
    return ""


def _training_test(test) -> bool | None:
    """True for `self.training` (or `model.training`), False for `not self.training`."""
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        inner = _training_test(test.operand)
        return None if inner is None else not inner
    if isinstance(test, ast.Attribute) and test.attr == "training":
        return True
    return None


def _is_setting(expr) -> bool:
    """`args.x`, `cfg.train.x`, `self.config.x`: a value of the run's configuration."""
    if not isinstance(expr, ast.Attribute):
        return False
    root = expr.value
    while isinstance(root, ast.Attribute):
        if _SETTINGS.match(root.attr):
            return True
        root = root.value
    return isinstance(root, ast.Name) and bool(_SETTINGS.match(root.id))


def _counts(expr) -> bool:
    """`step % 10`, `(i + 1) % k`: the left side of an every-k test is a counter. A
    modulo of sizes (`(seq_len + pred_len) % period`) is no cadence."""
    for node in ast.walk(expr):
        if isinstance(node, ast.Name) and _COUNTER.search(node.id):
            return True
        if isinstance(node, ast.Attribute) and _COUNTER.search(node.attr):
            return True
    return False


def _gate_of(test) -> str:
    """How often a block under this `if` runs, relative to the loop around it."""
    for node in ast.walk(test):
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod) and _counts(node.left):
            return GATE_EVERY_K
        if isinstance(node, (ast.Attribute, ast.Name)) and (node.attr if isinstance(node, ast.Attribute) else node.id) in _RARE_CHECKS:
            return GATE_RARE  # `if torch.isnan(loss).any():` handles what should not happen
    if isinstance(test, ast.BoolOp):
        kinds = {_gate_of(v) for v in test.values}
        if isinstance(test.op, ast.And):
            for kind in (GATE_EVERY_K, GATE_ONCE, GATE_FLAG, GATE_TYPE):
                if kind in kinds:
                    return kind
        return ""
    if isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], ast.Eq):
        sides = [test.left, test.comparators[0]]
        numbers = [s for s in sides if isinstance(s, ast.Constant) and type(s.value) is int]
        if numbers or any(isinstance(s, ast.BinOp) for s in sides):
            return GATE_ONCE  # `i == 0`, `step == total_steps - 1`
    if isinstance(test, ast.Call) and isinstance(test.func, ast.Name) and test.func.id == "isinstance":
        return GATE_TYPE  # `if isinstance(v, torch.Tensor):` handles values that may not be
    if isinstance(test, ast.Compare) and len(test.ops) == 1:
        sides = [test.left, test.comparators[0]]
        if any(_is_setting(side) for side in sides) and any(isinstance(side, ast.Constant) for side in sides):
            return GATE_FLAG  # `if args.empty_cache_level >= 1:`: a setting, fixed for the run
    target = test.operand if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not) else test
    if isinstance(target, (ast.Name, ast.Attribute)):
        spelled = target.id if isinstance(target, ast.Name) else target.attr
        if _FLAG_WORDS.search(spelled):
            return GATE_FLAG  # `if args.debug:`, `if self.log_images:`
    return ""
