"""Lint modules of an analysed project: run every enabled rule on a module's semantic
model, drop what `# noqa` suppresses, build the fixes of what is reported.

Nothing here executes or imports the code being checked.
"""

from __future__ import annotations

import re
import sys
from dataclasses import asdict, dataclass

from torchlint.fixes import DISPLAY_ONLY, Fix
from torchlint.rules import all_rules
from torchlint.docs import rule_url
from torchlint.rules.base import Finding, Rule
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
    cell: int | None = None  # in a notebook: the cell (1-based over all cells); rows are the cell's

    def to_dict(self) -> dict:
        return asdict(self)


def build_rules(codes: set[str], options: RuleOptions) -> list[Rule]:
    return [rule(options) for rule in all_rules() if rule.code in codes]


def lint_source(source: str, filename: str, rules: list[Rule], pinned_torch=None) -> list[Diagnostic]:
    """Findings for one file's text, checked as a project of its own (whose torch pins,
    a TorchTarget, may be given)."""
    from torchlint.project.index import Project
    from torchlint.semantic.context import Semantics

    semantics = Semantics(Project.from_sources({filename: source}), pinned_torch)
    return lint_module(semantics, filename, filename, rules, lambda: source)


def lint_module(semantics, relpath: str, filename: str, rules: list[Rule], source, build_edits: bool = True) -> list[Diagnostic]:
    """Findings for one module of an analysed project, after `# noqa` suppression.
    `source` returns the file's text; it is read only when there is something to report.
    Without `build_edits`, fixes say how far they can be trusted but carry no edits
    (`"edits": None`): building them may need libcst, which a concise report does not."""
    from torchlint.semantic.context import ModuleContext

    summary = semantics.project.summary(relpath)
    if summary is None:
        return []
    if summary.syntax_error is not None:
        return _syntax_problem(source(), filename, summary.syntax_error)
    reports: list[tuple[Rule, Finding]] = []
    diagnostics: list[Diagnostic] = []
    context = ModuleContext(semantics, relpath, None, source)
    for rule in rules:
        context.options = rule.options
        try:
            reports.extend((rule, finding) for finding in rule.check(context))
        except RecursionError:
            diagnostics.append(_internal_error(filename, rule, "nesting too deep to analyse"))
        except Exception as error:  # one broken rule must not stop the others
            diagnostics.append(_internal_error(filename, rule, f"{type(error).__name__}: {error}"))
    if not reports:
        return diagnostics
    text = context.source.text
    file_noqa = _file_noqa_codes(text)
    if file_noqa == "all":
        return diagnostics
    lines = text.splitlines()
    seen: set[tuple[str, int, int]] = set()
    for rule, finding in reports:
        span = finding.span
        key = (rule.code, span.line, span.col)
        if key in seen or rule.code in file_noqa or _suppressed(lines, span.line, rule.code):
            continue
        seen.add(key)
        fix = finding.fix
        try:
            if callable(fix):
                fix = fix()
            if fix is not None and fix.build is not None and build_edits:
                fix = fix.build()
        except Exception as error:  # a broken fix must not hide the finding
            diagnostics.append(_internal_error(filename, rule, f"fix: {type(error).__name__}: {error}"))
            fix = None
        diagnostics.append(
            Diagnostic(
                filename=filename,
                code=rule.code,
                name=rule.name,
                message=finding.message,
                row=span.line,
                column=span.col + 1,
                end_row=span.end_line,
                end_column=span.end_col + 1,
                url=rule_url(rule, getattr(rule.options, "docs_url", None)),
                fix=_fix_dict(fix) if fix is not None else None,
            )
        )
    diagnostics.sort(key=lambda d: (d.row, d.column, d.code or ""))
    return diagnostics


def _fix_dict(fix: Fix) -> dict:
    if fix.build is not None:  # edits not built (see lint_module)
        return {"applicability": fix.applicability, "message": fix.message, "edits": None}
    edits = [
        {
            "content": edit.content,
            "location": {"row": edit.start[0], "column": edit.start[1] + 1},
            "end_location": {"row": edit.end[0], "column": edit.end[1] + 1},
        }
        for edit in fix.edits
    ]
    applicability = fix.applicability if edits else DISPLAY_ONLY
    return {"applicability": applicability, "message": fix.message, "edits": edits}


def _syntax_problem(source: str, filename: str, error: list) -> list[Diagnostic]:
    """Python's own message and position; but newer syntax than this interpreter's
    (`type X = ...` on 3.11) is valid code if libcst, which knows newer grammars, accepts it."""
    message, row, column = error
    if message == CRASHED:
        return [_internal_error(filename, None, f"{CRASHED} (the other files were checked)")]
    if any(limit in message for limit in _PYTHON_LIMITS):
        # Python's own limits: no interpreter runs it, and libcst's parser may crash on it.
        return [_syntax_error(filename, message, row, column)]
    try:
        import libcst as cst

        cst.parse_module(source)
    except Exception:
        return [_syntax_error(filename, message, row, column)]
    return []


# The summary of a file whose worker process died twice on it (see runner).
CRASHED = "the process that read this file died"

_PYTHON_LIMITS = ("too many nested parentheses", "too many levels of indentation", "too many statically nested blocks",
                  "too complex", "maximum recursion depth", "nested too deeply")


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
