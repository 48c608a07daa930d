"""Source positions for a few nodes, without libcst's PositionProvider.

PositionProvider computes a position for every node of the module through a metadata
pass (about 2.3x the cost of parsing). Findings need positions for a handful of nodes,
so this renders the module with a code-generation state that counts lines and columns,
records only the wanted nodes, and stops as soon as the last of them is done.
"""

from __future__ import annotations

from typing import Iterable

import libcst as cst
from libcst._nodes.internal import CodegenState
from libcst.metadata import CodePosition, CodeRange


class _Finished(Exception):
    """Every wanted node has been rendered: no need to render the rest."""


class _CountingState(CodegenState):
    def __init__(self, module: cst.Module, wanted: set[int]) -> None:
        super().__init__(default_indent=module.default_indent, default_newline=module.default_newline)
        self.line = 1
        self.column = 0
        self.wanted = wanted
        self.open: dict[int, CodePosition] = {}
        self.ranges: dict[int, CodeRange] = {}

    def add_token(self, value: str) -> None:
        self.tokens.append(value)
        newlines = value.count("\n") + value.count("\r") - value.count("\r\n")
        if newlines:
            self.line += newlines
            self.column = len(value) - max(value.rfind("\n"), value.rfind("\r")) - 1
        else:
            self.column += len(value)

    def add_indent_tokens(self) -> None:
        for token in self.indent_tokens:
            self.add_token(token)

    def before_codegen(self, node: cst.CSTNode) -> None:
        key = id(node)
        if key in self.wanted:
            self.open[key] = CodePosition(self.line, self.column)

    def after_codegen(self, node: cst.CSTNode) -> None:
        key = id(node)
        if key in self.open:
            self.ranges[key] = CodeRange(self.open.pop(key), CodePosition(self.line, self.column))
            if len(self.ranges) == len(self.wanted):
                raise _Finished


def node_positions(module: cst.Module, nodes: Iterable[cst.CSTNode]) -> dict[int, CodeRange]:
    """id(node) -> its range: lines 1-based, columns 0-based, as libcst counts them. A
    statement's range starts at its first token (after indentation and comment lines)."""
    wanted = {id(node) for node in nodes}
    state = _CountingState(module, wanted)
    try:
        module._codegen(state)
    except _Finished:
        pass
    return state.ranges


class _CallRangeState(_CountingState):
    """Records where each Call's own code starts and ends (without parentheses around it)."""

    def __init__(self, module: cst.Module) -> None:
        super().__init__(module, set())
        self.open: dict[int, tuple[int, int] | None] = {}
        self.ranges: dict[tuple[int, int, int, int], cst.Call] = {}

    def before_codegen(self, node: cst.CSTNode) -> None:
        if isinstance(node, cst.Call):
            line, column = self.line, self.column
            for paren in node.lpar:
                text = "(" + _whitespace_text(paren.whitespace_after)
                if "\n" in text:
                    self.open[id(node)] = None
                    return
                column += len(text)
            self.open[id(node)] = (line, column)

    def after_codegen(self, node: cst.CSTNode) -> None:
        if isinstance(node, cst.Call):
            start = self.open.pop(id(node), None)
            if start is None:
                return
            line, column = self.line, self.column
            for paren in node.rpar:
                text = _whitespace_text(paren.whitespace_before) + ")"
                if "\n" in text or column < len(text):
                    return
                column -= len(text)
            self.ranges.setdefault((*start, line, column), node)


def _whitespace_text(whitespace) -> str:
    return whitespace.value if isinstance(whitespace, cst.SimpleWhitespace) else "\n"


def call_ranges(module: cst.Module) -> dict[tuple[int, int, int, int], cst.Call]:
    """(line, column, end line, end column) -> the Call node with that range (lines
    1-based, columns 0-based): the range Python's `ast` gives a call."""
    state = _CallRangeState(module)
    module._codegen(state)
    return state.ranges


def render(module: cst.Module, node: cst.CSTNode, indent: str) -> str:
    """The code of `node` as it reads inside a block indented by `indent`."""
    state = CodegenState(default_indent=module.default_indent, default_newline=module.default_newline)
    state.indent_tokens = [indent] if indent else []
    node._codegen(state)
    return "".join(state.tokens)
