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
