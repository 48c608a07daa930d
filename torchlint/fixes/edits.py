"""Building blocks of fixes: a keyword argument added or set on a call (libcst, keeping
the call's layout), an import added, how the module spells `torch` and `os`."""

from __future__ import annotations

from torchlint.fixes.model import DISPLAY_ONLY, Edit, Fix
from torchlint.fixes.source_view import SourceView


def with_keyword(call, name: str, value_code: str):
    """`call` with `name=value` appended, laid out like the existing arguments: on its own
    line in a call written one argument per line, after `, ` otherwise."""
    import libcst as cst

    equal = cst.AssignEqual(whitespace_before=cst.SimpleWhitespace(""), whitespace_after=cst.SimpleWhitespace(""))
    value = cst.parse_expression(value_code)
    args = list(call.args)
    if not args:
        return call.with_changes(args=[cst.Arg(value=value, keyword=cst.Name(name), equal=equal)])
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
    new = cst.Arg(value=value, keyword=cst.Name(name), equal=equal)
    if isinstance(last.comma, cst.Comma):
        # `f(\n    a,\n    b,\n)`: keep the trailing comma style.
        new = new.with_changes(comma=cst.Comma(whitespace_after=last.comma.whitespace_after))
        last = last.with_changes(comma=cst.Comma(whitespace_after=between))
    else:
        new = new.with_changes(whitespace_after_arg=last.whitespace_after_arg)
        last = last.with_changes(comma=cst.Comma(whitespace_after=between), whitespace_after_arg=cst.SimpleWhitespace(""))
    return call.with_changes(args=[*args[:-1], last, new])


def keyword_fix(view: "SourceView", span, keyword: str, value: str, applicability: str, message: str, *,
                given: bool = False, position: int = 0, extra: list | tuple = (), fallback: str | None = None) -> Fix:
    """A fix that sets `keyword=value` on the call at `span`: replaces the argument given by
    keyword or at `position` (`given`), or adds the keyword. Its libcst edit is built only
    when the output shows it; a call libcst cannot place is shown (with `fallback`, else
    `message`), not applied."""

    def build() -> Fix:
        shown = Fix(DISPLAY_ONLY, fallback or message)
        node = view.call_node(span)
        if node is None:
            return shown
        if given:
            import libcst as cst

            target = argument_node(node, keyword, position)
            edit = view.replace_node(target, cst.parse_expression(value)) if target is not None else None
        else:
            edit = view.replace_node(node, with_keyword(node, keyword, value))
        if edit is None:
            return shown
        return Fix(applicability, message, [edit, *extra])

    return Fix(applicability, message, build=build)


def argument_node(call, name: str, position: int):
    """The value node of an argument given by keyword `name` or at `position`."""
    found = keyword_value_node(call, name)
    return found if found is not None else positional_node(call, position)


def keyword_value_node(call, name: str):
    for arg in call.args:
        if arg.keyword is not None and arg.keyword.value == name:
            return arg.value
    return None


def positional_node(call, index: int):
    position = 0
    for arg in call.args:
        if arg.keyword is not None or arg.star:
            return None
        if position == index:
            return arg.value
        position += 1
    return None


# -- imports, from the module's summary ------------------------------------------------------


def module_alias(summary, module: str) -> str | None:
    """The module-level name an `import module [as alias]` binds, if any."""
    top = summary.functions.get("<module>")
    if top is None:
        return None
    for name, bindings in top.bindings.items():
        if bindings and all(b.kind == "import" and b.value[1] == module and b.value[2] is None and b.value[3] == 0 for b in bindings):
            return name
    return None


def name_is_free(summary, name: str) -> bool:
    top = summary.functions.get("<module>")
    return top is None or name not in top.bindings


def import_edit(summary, view: SourceView, module: str) -> Edit | None:
    """`import module` as a new line at the top of the file's import block (after any
    docstring and `from __future__` imports), where a person would put a standard import."""
    top = summary.functions.get("<module>")
    lines = []
    if top is not None:
        for bindings in top.bindings.values():
            for binding in bindings:
                if binding.kind == "import" and not binding.conditional and binding.value[1] != "__future__":
                    if view.index.line_indent(binding.line) == "":
                        lines.append(binding.line)
    if lines:
        return view.insert_line_before(min(lines), f"import {module}")
    return _first_statement_edit(view, module)


def _first_statement_edit(view: SourceView, module: str) -> Edit | None:
    import ast

    try:
        tree = ast.parse(view.text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    for position, statement in enumerate(tree.body):
        if isinstance(statement, ast.ImportFrom) and statement.module == "__future__":
            continue
        is_docstring = position == 0 and isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant) and isinstance(statement.value.value, str)
        if not is_docstring:
            return view.insert_line_before(statement.lineno, f"import {module}")
    return None


def torch_reference(summary, view: SourceView) -> tuple[str, list] | None:
    """How to spell `torch` at module level, with the import edit needed if it is missing."""
    alias = module_alias(summary, "torch")
    if alias is not None:
        return alias, []
    if not name_is_free(summary, "torch"):
        return None
    edit = import_edit(summary, view, "torch")
    return ("torch", [edit]) if edit is not None else None
