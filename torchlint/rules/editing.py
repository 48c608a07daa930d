"""Building blocks for fixes: add or change a call's keyword argument without disturbing
its formatting and comments, find or add a module import."""

from __future__ import annotations

import libcst as cst

from torchlint.analysis.facts import Facts
from torchlint.rules.base import NodeEdit


def with_keyword(call: cst.Call, name: str, value_code: str) -> cst.Call:
    """`call` with `name=value` appended, laid out like the existing arguments: on its own
    line in a call written one argument per line, after `, ` otherwise."""
    value = cst.parse_expression(value_code)
    args = list(call.args)
    if not args:
        return call.with_changes(args=[cst.Arg(value=value, keyword=cst.Name(name), equal=_EQUAL)])
    last = args[-1]
    # The whitespace that separates two arguments in this call.
    if len(args) >= 2 and isinstance(args[-2].comma, cst.Comma):
        between = args[-2].comma.whitespace_after
    elif isinstance(last.comma, cst.Comma) and isinstance(call.whitespace_before_args, cst.ParenthesizedWhitespace):
        between = call.whitespace_before_args
    else:
        between = cst.SimpleWhitespace(" ")
    if isinstance(between, cst.ParenthesizedWhitespace):
        # Borrow the line break and indentation, not a comment that came with them.
        between = between.with_changes(first_line=cst.TrailingWhitespace(), empty_lines=[])
    new = cst.Arg(value=value, keyword=cst.Name(name), equal=_EQUAL)
    if isinstance(last.comma, cst.Comma):
        # `f(\n    a,\n    b,\n)`: keep the trailing comma style.
        new = new.with_changes(comma=cst.Comma(whitespace_after=last.comma.whitespace_after))
        last = last.with_changes(comma=cst.Comma(whitespace_after=between))
    else:
        new = new.with_changes(whitespace_after_arg=last.whitespace_after_arg)
        last = last.with_changes(comma=cst.Comma(whitespace_after=between), whitespace_after_arg=cst.SimpleWhitespace(""))
    return call.with_changes(args=[*args[:-1], last, new])


_EQUAL = cst.AssignEqual(whitespace_before=cst.SimpleWhitespace(""), whitespace_after=cst.SimpleWhitespace(""))


def replace_node(old: cst.CSTNode, new: cst.CSTNode) -> NodeEdit:
    return NodeEdit(old, replacement=new)


def module_alias(facts: Facts, module: str) -> str | None:
    """The module-level name an `import module [as alias]` binds, if any."""
    for name, bindings in facts.model.module_scope.bindings.items():
        if bindings and all(b.kind == "import" and b.qualname == module and isinstance(b.node, cst.Import) for b in bindings):
            if name == module.split(".")[0] or any(
                a.asname is not None and isinstance(a.asname.name, cst.Name) and a.asname.name.value == name
                for b in bindings
                for a in b.node.names
            ):
                return name
    return None


def name_is_free(facts: Facts, name: str) -> bool:
    return name not in facts.model.module_scope.bindings


def import_edit(facts: Facts, module: str) -> NodeEdit | None:
    """`import module` as a new line at the top of the file's import block (after any
    docstring and `from __future__` imports), where a person would put a standard import."""
    body = facts.model.module.body
    for statement in body:
        if not isinstance(statement, cst.SimpleStatementLine):
            continue
        first = statement.body[0]
        if isinstance(first, cst.ImportFrom) and isinstance(first.module, cst.Name) and first.module.value == "__future__":
            continue
        if isinstance(first, (cst.Import, cst.ImportFrom)):
            return NodeEdit(first, f"import {module}", "line-before")
    for position, statement in enumerate(body):
        is_docstring = (
            position == 0
            and isinstance(statement, cst.SimpleStatementLine)
            and isinstance(statement.body[0], cst.Expr)
            and isinstance(statement.body[0].value, (cst.SimpleString, cst.ConcatenatedString))
        )
        if not is_docstring:
            return NodeEdit(statement, f"import {module}", "line-before")
    return None


def torch_reference(facts: Facts) -> tuple[str, list[NodeEdit]] | None:
    """How to spell `torch` at module level, with the import edit needed if it is missing."""
    alias = module_alias(facts, "torch")
    if alias is not None:
        return alias, []
    if not name_is_free(facts, "torch"):
        return None
    edit = import_edit(facts, "torch")
    return ("torch", [edit]) if edit is not None else None
