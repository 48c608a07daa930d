"""Lint one file: read, decode, parse once, build the Facts, run every enabled rule.

Nothing here executes or imports the code being checked.
"""

from __future__ import annotations

import ast
import io
import re
import sys
import tokenize
from bisect import bisect_right
from dataclasses import asdict, dataclass
from pathlib import Path

import libcst as cst
from libcst._nodes.internal import CodegenState  # to render a node at its block's indentation

from torchlint.analysis.facts import Facts
from torchlint.analysis.model import FileModel
from torchlint.rules import all_rules
from torchlint.rules.base import Fix, Report, Rule
from torchlint.positions import node_positions
from torchlint.settings import RuleOptions

# Deeply nested expressions recurse deeply in libcst; give them room.
sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))

_NOQA = re.compile(r"#\s*noqa(?::\s*(?P<codes>[A-Z]+[0-9]+(?:\s*,?\s*[A-Z]+[0-9]+)*))?", re.IGNORECASE)
_FILE_NOQA = re.compile(
    r"^#\s*torchlint\s*:\s*noqa(?::\s*(?P<codes>[A-Z]+[0-9]+(?:\s*,?\s*[A-Z]+[0-9]+)*))?\s*$",
    re.IGNORECASE | re.MULTILINE,
)
_CODE = re.compile(r"[A-Z]+[0-9]+", re.IGNORECASE)
_LINE_END = re.compile(r"\r\n|\r|\n")
_CODING = re.compile(rb"^[ \t\f]*#.*?coding[:=]", re.MULTILINE)


@dataclass
class Diagnostic:
    """One line of output. `kind` is "finding" for rule findings, else the error class
    ("syntax-error", "io-error", "internal-error")."""

    filename: str
    code: str | None
    name: str
    message: str
    row: int = 1
    column: int = 1
    end_row: int = 1
    end_column: int = 1
    url: str | None = None
    fix: dict | None = None
    kind: str = "finding"

    def to_dict(self) -> dict:
        return asdict(self)


class LintError(Exception):
    """A file that cannot be checked: unreadable, undecodable."""


def read_source(path: Path) -> str:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        if path.is_symlink():
            raise LintError("broken symbolic link") from None
        raise LintError("file not found") from None
    except IsADirectoryError:
        raise LintError("is a directory") from None
    except OSError as error:
        raise LintError(f"cannot read: {error.strerror or error}") from None
    return decode_source(data)


def decode_source(data: bytes) -> str:
    """Honour a BOM and a PEP 263 coding declaration; otherwise the file must be UTF-8."""
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    except SyntaxError as error:
        if _CODING.search(b"\n".join(data.splitlines()[:2])):
            raise LintError(f"bad encoding declaration: {error.msg}") from None
        encoding = "utf-8"  # undecodable bytes in the first lines; reported below
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as error:
        if encoding in ("utf-8", "utf-8-sig"):
            raise LintError(f"cannot decode byte {error.start}: not UTF-8 and no encoding declaration") from None
        raise LintError(f"cannot decode byte {error.start} as declared ({encoding})") from None
    return text[1:] if text.startswith("\ufeff") else text


def build_rules(codes: set[str], options: RuleOptions) -> list[Rule]:
    return [rule(options) for rule in all_rules() if rule.code in codes]


def lint_source(source: str, filename: str, rules: list[Rule]) -> list[Diagnostic]:
    """Findings for one file's text, after `# noqa` suppression."""
    file_noqa = _file_noqa_codes(source)
    if file_noqa == "all":
        return []
    active = [r for r in rules if r.code not in file_noqa and r.may_match(source)]
    if not active:
        return _syntax_check_only(source, filename)
    try:
        module = cst.parse_module(source)
    except cst.ParserSyntaxError as error:
        # Python's own message and position are the ones users know; libcst's are a fallback
        # (for the rare code that CPython accepts and libcst does not).
        try:
            ast.parse(source, filename=filename)
        except SyntaxError as python_error:
            return [_syntax_error(filename, python_error.msg, python_error.lineno or 1, python_error.offset or 1)]
        except (ValueError, RecursionError, MemoryError):
            pass
        return [_syntax_error(filename, error.message, error.raw_line, error.raw_column + 1)]
    except RecursionError:
        return [_internal_error(filename, None, "nesting too deep to parse")]
    try:
        facts = Facts(FileModel(module), source)
    except RecursionError:
        return [_internal_error(filename, None, "nesting too deep to analyse")]
    except Exception as error:  # a bug in the shared analysis: report it, keep going
        return [_internal_error(filename, None, f"{type(error).__name__}: {error}")]

    reports: list[tuple[Rule, Report]] = []
    diagnostics: list[Diagnostic] = []
    for rule in active:
        try:
            reports.extend((rule, report) for report in rule.check(facts))
        except Exception as error:  # one broken rule must not stop the others
            diagnostics.append(_internal_error(filename, rule, f"{type(error).__name__}: {error}"))
    if not reports:
        return diagnostics

    # Positions only for the nodes reported or edited, and only in files with findings.
    wanted = [report.node for _, report in reports]
    wanted += [edit.node for _, report in reports if report.fix for edit in report.fix.edits]
    positions = node_positions(module, wanted)
    lines = source.splitlines()
    index = LineIndex(source)
    seen: set[tuple[str, int, int]] = set()
    for rule, report in reports:
        where = positions[id(report.node)]
        key = (rule.code, where.start.line, where.start.column)
        if key in seen:
            continue
        seen.add(key)
        if _suppressed(lines, where.start.line, rule.code):
            continue
        diagnostics.append(
            Diagnostic(
                filename=filename,
                code=rule.code,
                name=rule.name,
                message=report.message,
                row=where.start.line,
                column=where.start.column + 1,
                end_row=where.end.line,
                end_column=where.end.column + 1,
                url=rule.url(),
                fix=_fix_dict(report.fix, positions, index, module) if report.fix else None,
            )
        )
    diagnostics.sort(key=lambda d: (d.row, d.column, d.code or ""))
    return diagnostics


class LineIndex:
    """Between (row, column) positions and offsets in the source text. Lines end at
    "\r\n", "\n" or "\r", as libcst counts them."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.starts = [0] + [m.end() for m in _LINE_END.finditer(source)]
        first = _LINE_END.search(source)
        self.newline = first.group() if first else "\n"

    def offset(self, row: int, column: int) -> int:
        """row 1-based, column 0-based (libcst's convention)."""
        if row - 1 >= len(self.starts):
            return len(self.source)
        return min(self.starts[row - 1] + column, len(self.source))

    def position(self, offset: int) -> tuple[int, int]:
        """(row 1-based, column 1-based) of an offset."""
        row = bisect_right(self.starts, offset)
        return row, offset - self.starts[row - 1] + 1

    def line_indent(self, row: int) -> str:
        start = self.starts[row - 1]
        line = self.source[start:]
        return line[: len(line) - len(line.lstrip(" \t"))]


def _fix_dict(fix: Fix, positions, index: LineIndex, module: cst.Module) -> dict:
    edits = []
    applicability = fix.applicability
    for edit in fix.edits:
        where = positions[id(edit.node)]
        if edit.where != "replace" and where.start.column != len(index.line_indent(where.start.line)):
            # `if x: model = Net()`: a new line would not land in the same block.
            return {"applicability": "display-only", "message": fix.message, "edits": []}
        start = index.offset(where.start.line, where.start.column)
        end = index.offset(where.end.line, where.end.column)
        content = edit.content
        if edit.replacement is not None:
            start, end, content = _rendered_in_place(module, edit.node, edit.replacement, where, index)
        elif edit.where == "line-before":
            start = end = index.starts[where.start.line - 1]
            content = index.line_indent(where.start.line) + content + index.newline
        elif edit.where == "line-after":
            indent = index.line_indent(where.start.line)
            if where.end.line < len(index.starts):  # there is a next line: insert before it
                start = end = index.starts[where.end.line]
                content = indent + content + index.newline
            else:  # the last line, without a final newline
                start = end = len(index.source)
                content = index.newline + indent + content
        edits.append(
            {
                "content": content,
                "location": _row_col(index.position(start)),
                "end_location": _row_col(index.position(end)),
            }
        )
    return {"applicability": applicability, "message": fix.message, "edits": edits}


def _render(module: cst.Module, node: cst.CSTNode, indent: str) -> str:
    """The code of `node` as it reads inside a block indented by `indent`."""
    state = CodegenState(default_indent=module.default_indent, default_newline=module.default_newline)
    state.indent_tokens = [indent] if indent else []
    node._codegen(state)
    return "".join(state.tokens)


def _rendered_in_place(module: cst.Module, old: cst.CSTNode, new: cst.CSTNode, where, index: LineIndex) -> tuple[int, int, str]:
    """Render `new` for the place of `old`: nested lines need the indentation of the block
    the statement sits in, which is the one that reproduces `old` exactly."""
    start = index.offset(where.start.line, where.start.column)
    end = index.offset(where.end.line, where.end.column)
    original = index.source[start:end]
    candidates = []
    for row in range(where.start.line, max(0, where.start.line - 200), -1):
        indent = index.line_indent(row)
        if indent not in candidates:
            candidates.append(indent)
        if not indent:
            break
    for indent in candidates:
        if _render(module, old, indent) == original:
            return start, end, _render(module, new, indent)
    # Not found (unusual layout): render the whole module and keep what changed.
    changed = module.deep_replace(old, new).code
    source = index.source
    prefix = 0
    limit = min(len(source), len(changed))
    while prefix < limit and source[prefix] == changed[prefix]:
        prefix += 1
    suffix = 0
    while suffix < limit - prefix and source[-1 - suffix] == changed[-1 - suffix]:
        suffix += 1
    return prefix, len(source) - suffix, changed[prefix : len(changed) - suffix]


def _row_col(position: tuple[int, int]) -> dict:
    return {"row": position[0], "column": position[1]}


def _syntax_check_only(source: str, filename: str) -> list[Diagnostic]:
    """Files no rule can match are not parsed with libcst, but a syntax error is still news."""
    try:
        ast.parse(source, filename=filename)
    except SyntaxError as error:
        # Newer syntax than this interpreter's (`type X = ...` on 3.11) is still valid code
        # if libcst, which knows newer grammars, accepts it.
        try:
            cst.parse_module(source)
        except (cst.ParserSyntaxError, RecursionError):
            return [_syntax_error(filename, error.msg, error.lineno or 1, error.offset or 1)]
        return []
    except (ValueError, RecursionError, MemoryError) as error:
        return [_syntax_error(filename, str(error), 1, 1)]
    return []


def _syntax_error(filename: str, message: str, row: int, column: int) -> Diagnostic:
    first_line = message.strip().splitlines()[0] if message.strip() else "invalid syntax"
    return Diagnostic(
        filename=filename,
        code=None,
        name="syntax-error",
        message=f"SyntaxError: {first_line}",
        row=row,
        column=column,
        end_row=row,
        end_column=column,
        kind="syntax-error",
    )


def _internal_error(filename: str, rule: Rule | None, message: str) -> Diagnostic:
    where = f"rule {rule.code} ({rule.name})" if rule else "the analysis"
    return Diagnostic(
        filename=filename,
        code=None,
        name="internal-error",
        message=f"internal error in {where}: {message}; please report it",
        kind="internal-error",
    )


def io_error(filename: str, message: str) -> Diagnostic:
    return Diagnostic(filename=filename, code=None, name="io-error", message=message, kind="io-error")


def _file_noqa_codes(source: str) -> set[str] | str:
    codes: set[str] = set()
    if "noqa" not in source:
        return codes
    for match in _FILE_NOQA.finditer(source):
        if not match.group("codes"):
            return "all"
        codes |= {c.upper() for c in _CODE.findall(match.group("codes"))}
    return codes


def _suppressed(lines: list[str], row: int, code: str) -> bool:
    if row - 1 >= len(lines):
        return False
    line = lines[row - 1]
    if "#" not in line:
        return False
    for match in _NOQA.finditer(line):
        codes = match.group("codes")
        if not codes:
            return True
        if code in {c.upper() for c in _CODE.findall(codes)}:
            return True
    return False


def lint_path(path: Path, filename: str, rules: list[Rule]) -> list[Diagnostic]:
    try:
        source = read_source(path)
    except LintError as error:
        return [io_error(filename, str(error))]
    return lint_source(source, filename, rules)
