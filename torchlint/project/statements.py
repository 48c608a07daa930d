"""Where top-level statements start, without parsing: enough of Python's tokenizer to
know open brackets, open strings and backslash continuations.

A large module is parsed a group of top-level statements at a time (the stdlib `ast` of
100,000 lines takes about 400 MB at once), and a fix that proves itself on `ast` parses
only the statement it edits. Notebook cells use the same scanner to tell a magic line
from a line inside a string.
"""

from __future__ import annotations

import ast
import re
import warnings

_INTERESTING = re.compile(r"""[#'"()\[\]{}\\]""")
_CONTINUES = ("else", "elif", "except", "finally")  # a clause of the statement above


class LineScanner:
    """Feed lines in order; `at_statement_start()` says whether the next line begins a
    new logical line (no bracket or string open, no backslash continuation)."""

    def __init__(self) -> None:
        self.depth = 0
        self.string: str | None = None  # the open triple quote
        self.continued = False

    def at_statement_start(self) -> bool:
        return self.depth == 0 and self.string is None and not self.continued

    def feed(self, line: str) -> None:
        i, n = 0, len(line)
        self.continued = False
        while i < n:
            if self.string is not None:
                close = line.find(self.string, i)
                while close > 0 and _escaped(line, close):
                    close = line.find(self.string, close + 1)
                if close < 0:
                    return
                i = close + 3
                self.string = None
                continue
            match = _INTERESTING.search(line, i)
            if match is None:
                return
            i = match.start()
            char = line[i]
            if char == "#":
                return
            if char in "([{":
                self.depth += 1
            elif char in ")]}":
                self.depth = max(0, self.depth - 1)
            elif char in "'\"":
                if line.startswith(char * 3, i):
                    self.string = char * 3
                    i += 3
                    continue
                close = i + 1
                while close < n and (line[close] != char or _escaped(line, close)):
                    close += 1
                i = close + 1
                continue
            elif line[i + 1 : i + 2] in ("\n", "\r", ""):  # a backslash ending the line
                self.continued = True
                return
            i += 1


def _escaped(line: str, index: int) -> bool:
    backslashes = 0
    while index - backslashes - 1 >= 0 and line[index - backslashes - 1] == "\\":
        backslashes += 1
    return backslashes % 2 == 1


def top_level_starts(lines: list[str]) -> list[int]:
    """The 1-based lines where top-level statements start (a decorated definition starts
    at its first decorator)."""
    starts = []
    scanner = LineScanner()
    after_decorator = False
    for number, line in enumerate(lines, start=1):
        if scanner.at_statement_start() and line[:1] not in ("", " ", "\t", "\n", "\r", "#", "\f"):
            word = line.split(None, 1)[0].split(":", 1)[0]
            if word not in _CONTINUES and not after_decorator:
                starts.append(number)
            after_decorator = line.startswith("@")
        scanner.feed(line)
    return starts


def parse_quietly(source: str, first_line: int = 1) -> ast.Module:
    """`ast.parse` without printing the SyntaxWarnings of the user's code; for a piece of
    a file, `first_line` is the line it starts on (positions are shifted to match)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tree = ast.parse(source)
    if first_line > 1:
        ast.increment_lineno(tree, first_line - 1)
    return tree


def parse_in_groups(source: str, group_lines: int = 2000):
    """Yield the top-level statements of `source` as a sequence of `ast.Module`s, each a
    group of about `group_lines` lines parsed alone with the positions it has in the
    file; only one group's tree is alive at a time. Raises SyntaxError as `ast.parse`
    does (for the whole source, so that the message and position are Python's)."""
    lines = source.splitlines(keepends=True)
    if len(lines) <= group_lines:
        yield parse_quietly(source)
        return
    starts = top_level_starts(lines)
    bounds = [1]
    for start in starts:
        if start - bounds[-1] >= group_lines:
            bounds.append(start)
    bounds.append(len(lines) + 1)
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line))
    for first, end in zip(bounds, bounds[1:]):
        try:
            tree = parse_quietly(source[offsets[first - 1] : offsets[end - 1]], first)
        except SyntaxError:
            parse_quietly(source)  # raises Python's own error for the whole module
            raise GroupsDisagree from None  # the module parses: the split was wrong
        yield tree


class GroupsDisagree(Exception):
    """A group failed to parse alone although the whole module parses: parse it whole."""
