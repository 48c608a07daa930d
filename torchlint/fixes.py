"""Fixes: typed text edits, how far they can be trusted, and the source view that builds
them. Rules find problems on the summaries; the edits are made here, on the file's text,
with libcst for the ones that must keep a call's formatting (adding a keyword argument,
rewriting a call), parsed only when such a fix is asked for."""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Callable


class Applicability(StrEnum):
    """How far a fix can be trusted (ruff's terms). A str, so JSON and SARIF show its value."""

    SAFE = "safe"  # the fixed program computes the same: `fix --apply` writes it
    UNSAFE = "unsafe"  # may change results: written only with `--unsafe-fixes`
    DISPLAY_ONLY = "display-only"  # shown as advice, never written


SAFE, UNSAFE, DISPLAY_ONLY = Applicability.SAFE, Applicability.UNSAFE, Applicability.DISPLAY_ONLY


def _parents_of(tree) -> dict:
    import ast

    parents = {}
    if tree is not None:
        for node in ast.walk(tree):
            for child in ast.iter_child_nodes(node):
                parents[child] = node
    return parents


@dataclass(frozen=True)
class Edit:
    """Replace the text from `start` to `end` with `content`. Positions are (line 1-based,
    column 0-based in characters); an insertion has start == end."""

    start: tuple
    end: tuple
    content: str


@dataclass
class Fix:
    """What a fix does and how far it can be trusted. Edits that need libcst are built on
    demand: `build` returns the finished Fix (the same applicability, or display-only
    when the code turns out not to allow the edit)."""

    applicability: str
    message: str
    edits: list = field(default_factory=list)
    build: Callable[[], "Fix"] | None = None


_LINE_END = re.compile(r"\r\n|\r|\n")


class LineIndex:
    """Between (row, column) positions and offsets in the source text. Lines end at
    "\\r\\n", "\\n" or "\\r"."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.starts = [0] + [m.end() for m in _LINE_END.finditer(source)]
        first = _LINE_END.search(source)
        self.newline = first.group() if first else "\n"

    def offset(self, row: int, column: int) -> int:
        """row 1-based, column 0-based."""
        if row - 1 >= len(self.starts):
            return len(self.source)
        return min(self.starts[row - 1] + column, len(self.source))

    def position(self, offset: int) -> tuple[int, int]:
        """(row 1-based, column 1-based) of an offset."""
        row = bisect_right(self.starts, offset)
        return row, offset - self.starts[row - 1] + 1

    def line_text(self, row: int) -> str:
        if row - 1 >= len(self.starts):
            return ""
        start = self.starts[row - 1]
        end = self.starts[row] if row < len(self.starts) else len(self.source)
        return self.source[start:end].rstrip("\r\n")

    def line_indent(self, row: int) -> str:
        line = self.line_text(row)
        return line[: len(line) - len(line.lstrip(" \t"))]


class SourceView:
    """One file's text, for building edits; its libcst tree is parsed on first use."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.index = LineIndex(text)
        self._module = None
        self._calls = None
        self._trees: dict = {}  # (first line, end line) -> (tree, parents), the last few
        self._starts = None

    def tree_for(self, line: int, whole: bool = False):
        """The stdlib `ast` of the top-level statement that holds `line`, parsed alone with
        the positions it has in the file (or, with `whole`, of the module); None when it
        does not parse. Parsed once for every fix of the file that proves itself on `ast`,
        and a statement at a time: the tree of a 100,000-line module takes 400 MB."""
        from torchlint.project.statements import parse_quietly, top_level_starts

        if whole or len(self.index.starts) <= 2000:
            key = (1, None)
        else:
            if self._starts is None:
                self._starts = top_level_starts(self.text.splitlines(keepends=True))
            position = bisect_right(self._starts, line) - 1
            first = self._starts[position] if position >= 0 else 1
            end = self._starts[position + 1] if position + 1 < len(self._starts) else None
            key = (first, end)
        if key not in self._trees:
            if len(self._trees) >= 8:
                self._trees.pop(next(iter(self._trees)))
            first, end = key
            start_offset = self.index.offset(first, 0)
            end_offset = self.index.offset(end, 0) if end is not None else len(self.text)
            try:
                tree = parse_quietly(self.text[start_offset:end_offset], first)
            except (SyntaxError, ValueError, RecursionError, MemoryError):
                tree = None
            self._trees[key] = (tree, {})
        return self._trees[key][0]

    def derived(self, tree, name: str, compute):
        """What a fix derives from one of `tree_for`'s trees (an index of its nodes),
        computed once per tree rather than once per finding."""
        for known, cache in self._trees.values():
            if known is tree:
                if name not in cache:
                    cache[name] = compute(tree)
                return cache[name]
        return compute(tree)

    def parents(self, tree) -> dict:
        """Each node of `tree` (one of `tree_for`'s) -> the node it is a child of."""
        return self.derived(tree, "parents", _parents_of)

    @property
    def module(self):
        if self._module is None:
            import libcst as cst

            self._module = cst.parse_module(self.text)
        return self._module

    def insert_line_after(self, line: int, indent_of: int, content: str) -> Edit:
        """A new line after `line`, indented like line `indent_of`."""
        indent = self.index.line_indent(indent_of)
        if line < len(self.index.starts):
            return Edit((line + 1, 0), (line + 1, 0), indent + content + self.index.newline)
        end = len(self.index.line_text(line))
        return Edit((line, end), (line, end), self.index.newline + indent + content)

    def insert_line_before(self, line: int, content: str) -> Edit:
        return Edit((line, 0), (line, 0), self.index.line_indent(line) + content + self.index.newline)

    def call_node(self, span):
        """The libcst Call with this span (a summary's), or None."""
        if self._calls is None:
            from torchlint.positions import call_ranges

            try:
                self._calls = call_ranges(self.module)
            except Exception:  # libcst cannot parse what `ast` could: no libcst-based fixes
                self._calls = {}
        return self._calls.get((span.line, span.col, span.end_line, span.end_col))

    def replace_node(self, node, replacement) -> Edit | None:
        """An edit putting `replacement` in place of `node`, rendered at the node's
        indentation (so that the lines of a multi-line call stay aligned)."""
        from torchlint.positions import node_positions, render

        where = node_positions(self.module, [node]).get(id(node))
        if where is None:
            return None
        start = self.index.offset(where.start.line, where.start.column)
        end = self.index.offset(where.end.line, where.end.column)
        original = self.text[start:end]
        candidates = []
        for row in range(where.start.line, max(0, where.start.line - 200), -1):
            indent = self.index.line_indent(row)
            if indent not in candidates:
                candidates.append(indent)
            if not indent:
                break
        for indent in candidates:
            if render(self.module, node, indent) == original:
                return Edit(
                    (where.start.line, where.start.column), (where.end.line, where.end.column),
                    render(self.module, replacement, indent),
                )
        return None


# -- libcst building blocks ------------------------------------------------------------


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
