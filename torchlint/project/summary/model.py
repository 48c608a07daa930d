"""The summary's data model: the records a module's summary is made of, and the Expr format.

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

from dataclasses import dataclass, field

Expr = list
UNKNOWN_EXPR: Expr = ["?"]


def spelled_name(func: Expr) -> str | None:
    """The last name a callee is spelled with: `f` for `f(...)` and `x.f(...)`."""
    if func[0] == "n":
        return func[1]
    if func[0] == "a":
        return func[2]
    return None


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
