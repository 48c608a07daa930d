"""One file's text as fixes see it: positions, lines, and the trees (stdlib `ast` a
statement at a time, libcst on first use) that fixes are proven and built on."""

from __future__ import annotations

import re
from bisect import bisect_right

from torchlint.fixes.model import Edit


def _parents_of(tree) -> dict:
    import ast

    parents = {}
    if tree is not None:
        for node in ast.walk(tree):
            for child in ast.iter_child_nodes(node):
                parents[child] = node
    return parents


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
