"""Questions about the summary's expressions and calls, so that rules never decode the
nested-list format (`torchlint.project.summary`, "Expr") by hand.

Each function answers one question and returns None (or False) when the expression has
another form: `name(expr)` is the name read by `x`, `method(call)` is `"to"` for
`t.to(device)`, `result_of(expr)` is the index of the call whose result `expr` is.
"""

from __future__ import annotations

from typing import Any

_MISSING: Any = object()


# -- expressions -----------------------------------------------------------------------------


def name(expr) -> str | None:
    """`x` -> "x"."""
    return expr[1] if expr[0] == "n" else None




def attribute_name(expr) -> str | None:
    """`base.attr` -> "attr"."""
    return expr[2] if expr[0] == "a" else None




def is_name_or_attribute(expr) -> bool:
    return expr[0] in ("n", "a")


def result_of(expr) -> int | None:
    """The index (in its function's `calls`) of the call whose result `expr` is."""
    return expr[1] if expr[0] == "c" else None


def result(index: int) -> list:
    """The expression that reads the result of call `index`."""
    return ["c", index]


def is_constant(expr) -> bool:
    return expr[0] == "k"


def constant(expr, default=_MISSING):
    """The value of a constant (`1`, `"cuda"`, `True`, `None`); `default` for anything else."""
    if expr[0] == "k":
        return expr[1]
    if default is _MISSING:
        raise ValueError(f"not a constant: {expr!r}")
    return default


def is_constant_value(expr, value) -> bool:
    """A constant that *is* `value` (`True`, `False`, `None`)."""
    return expr[0] == "k" and expr[1] is value


def string_constant(expr) -> str | None:
    return expr[1] if expr[0] == "k" and isinstance(expr[1], str) else None


def int_constant(expr) -> int | None:
    return expr[1] if expr[0] == "k" and type(expr[1]) is int else None


def is_starred(expr) -> bool:
    """`*args` among positional arguments or display items."""
    return expr[0] == "*"


def unstarred(expr):
    return expr[1] if expr[0] == "*" else expr


def display_items(expr) -> list | None:
    """The items of a tuple, list or set display."""
    return expr[1] if expr[0] == "t" else None


def dict_entries(expr) -> list | None:
    """[[key or None, value]] of a dict display (None: a `**` splat)."""
    return expr[1] if expr[0] == "d" else None


def unary(expr) -> tuple[str, list] | None:
    """`not x` -> ("not", x)."""
    return (expr[1], expr[2]) if expr[0] == "u" else None


def binary(expr) -> tuple[str, list, list] | None:
    """`a + b` -> ("+", a, b); also single comparisons and `and`/`or`."""
    return (expr[1], expr[2], expr[3]) if expr[0] == "b" else None




def strip_access(expr):
    """`x.a[0].b` -> `x`: the value that attribute and item accesses start from."""
    while expr[0] in ("i", "a"):
        expr = expr[1]
    return expr




def names_read(expr) -> set[str]:
    """Every name the expression reads, at any depth."""
    found = set()
    stack = [expr]
    while stack:
        current = stack.pop()
        if isinstance(current, list) and current:
            if current[0] == "n" and len(current) == 2:
                found.add(current[1])
            else:
                stack.extend(item for item in current[1:] if isinstance(item, list))
    return found


def source_text(expr) -> str | None:
    """Source-like text of a simple expression (names, attributes, constants)."""
    tag = expr[0]
    if tag == "n":
        return expr[1]
    if tag == "a":
        head = source_text(expr[1])
        return f"{head}.{expr[2]}" if head else None
    if tag == "k":
        value = expr[1]
        if isinstance(value, str):
            return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return repr(value)
    return None


# -- calls -------------------------------------------------------------------------------------


def called_name(call) -> str | None:
    """The last name a callee is spelled with: `f` for `f(...)` and `x.f(...)`."""
    func = call.func
    if func[0] == "n":
        return func[1]
    if func[0] == "a":
        return func[2]
    return None


def function_name(call) -> str | None:
    """`f` for a plain call `f(...)`; None for a method call."""
    return call.func[1] if call.func[0] == "n" else None


def method(call) -> str | None:
    """`m` for a method call `x.m(...)`."""
    return call.func[2] if call.func[0] == "a" else None


def receiver(call) -> list | None:
    """`x` for a method call `x.m(...)`."""
    return call.func[1] if call.func[0] == "a" else None


def chained_on(call, indexes) -> int | None:
    """For `f(...).m(...)`: the index of `f(...)` when it is among `indexes` (a set or one int)."""
    if call.func[0] != "a" or call.func[1][0] != "c":
        return None
    index = call.func[1][1]
    wanted = index == indexes if isinstance(indexes, int) else index in indexes
    return index if wanted else None


def first_argument_result(call) -> int | None:
    """For `g(f(...), ...)`: the index of `f(...)`."""
    return call.args[0][1] if call.args and call.args[0][0] == "c" else None


def has_star_args(call) -> bool:
    return any(a[0] == "*" for a in call.args)


def has_star_kwargs(call) -> bool:
    return any(k is None for k, _ in call.keywords)


def keyword(call, keyword_name: str):
    """The expression given for `keyword_name=`, or None."""
    for key, value in call.keywords:
        if key == keyword_name:
            return value
    return None


def positional(call) -> list:
    """The positional arguments, without `*args`."""
    return [a for a in call.args if a[0] != "*"]


def is_bare_method_call(call, name_: str) -> bool:
    """`x.name()` with no arguments."""
    return method(call) == name_ and not call.args and not call.keywords


def imported(expr) -> tuple[str, str | None, int] | None:
    """What an import binds: (module, name or None for `import module`, level of a relative one)."""
    return (expr[1], expr[2], expr[3]) if expr[0] == "imp" else None


def subexpressions(expr) -> list:
    """The expressions directly inside `expr` (its operands, items, base...)."""
    return [part for part in expr[1:] if isinstance(part, list)]


def last_name(expr) -> str | None:
    """The last name an expression is spelled with: `x` for `x`, `b` for `a.b`."""
    if expr[0] == "n":
        return expr[1]
    if expr[0] == "a":
        return expr[2]
    return None


def named(name_: str) -> list:
    """The expression that reads the name `name_`."""
    return ["n", name_]


def reads(expr, calls: set, names: set) -> bool:
    """Does the expression read, anywhere inside it, one of the calls' results or names?"""
    if not isinstance(expr, list) or not expr:
        return False
    if expr[0] == "c":
        return expr[1] in calls
    if expr[0] == "n":
        return expr[1] in names
    return any(reads(part, calls, names) for part in expr[1:] if isinstance(part, list))


def mentions_attribute(expr, attr: str) -> bool:
    """Does `.attr` appear anywhere inside the expression?"""
    if not isinstance(expr, list) or not expr:
        return False
    if expr[0] == "a" and expr[2] == attr:
        return True
    return any(mentions_attribute(part, attr) for part in expr[1:] if isinstance(part, list))
