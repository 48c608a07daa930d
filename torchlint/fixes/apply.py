"""Apply the fixes that rules propose, safely.

One pass applies every applicable fix whose edits do not overlap another's; the result
is re-checked and fixed again until nothing changes (at most MAX_PASSES). The fixed
text must compile, or the file is left as it was and the failure is reported.
"""

from __future__ import annotations

import warnings
from collections import Counter
from dataclasses import dataclass, field

from torchlint.engine import Diagnostic, lint_source
from torchlint.fixes.source_view import LineIndex
from torchlint.fixes.model import DISPLAY_ONLY, SAFE, UNSAFE
from torchlint.rules.base import Rule

MAX_PASSES = 10


@dataclass
class FixResult:
    original: str
    source: str  # the fixed text (the original when nothing applied or the fix failed)
    fixed: Counter = field(default_factory=Counter)  # rule code -> fixes applied
    applicability: Counter = field(default_factory=Counter)  # "safe"/"unsafe" -> fixes applied
    remaining: list[Diagnostic] = field(default_factory=list)
    error: str | None = None  # why the file was left untouched

    @property
    def changed(self) -> bool:
        return self.source != self.original


def applicable(diagnostic: Diagnostic, unsafe: bool) -> bool:
    """Would `fix` apply this finding's fix? (Edits not built yet count by their
    declared applicability.)"""
    fix = diagnostic.fix
    if not fix or fix["edits"] == []:
        return False
    return fix["applicability"] == SAFE or (unsafe and fix["applicability"] == UNSAFE)


def fix_source(source: str, filename: str, rules: list[Rule], unsafe: bool = False, pinned_torch=None) -> FixResult:
    current = source
    fixed: Counter = Counter()
    kinds_applied: Counter = Counter()
    diagnostics = lint_source(source, filename, rules, pinned_torch)
    for _ in range(MAX_PASSES):
        candidates = [d for d in diagnostics if applicable(d, unsafe)]
        if not candidates:
            break
        updated, used, kinds = apply_fixes(current, candidates, with_applicability=True)
        if updated == current:
            break
        problem = compile_problem(updated, filename, source)
        if problem is not None:
            codes = ", ".join(sorted(set(used)))
            return FixResult(
                source,
                source,
                remaining=lint_source(source, filename, rules, pinned_torch),
                error=f"fixes by {codes} would produce code that does not compile ({problem}); file left unchanged",
            )
        fixed.update(used)
        kinds_applied.update(kinds)
        current = updated
        diagnostics = lint_source(current, filename, rules, pinned_torch)
    return FixResult(source, current, fixed, kinds_applied, diagnostics)


def apply_fixes(source: str, diagnostics: list[Diagnostic], with_applicability: bool = False):
    """Apply the fixes whose edits overlap no other applied edit; returns the new text and
    the codes applied (one per fix). Identical edits (the same import twice) apply once."""
    index = LineIndex(source)
    accepted: list[tuple[int, int, str]] = []
    used: list[str] = []
    kinds: list[str] = []

    def spans(diagnostic):
        for edit in diagnostic.fix["edits"]:
            start = index.offset(edit["location"]["row"], edit["location"]["column"] - 1)
            end = index.offset(edit["end_location"]["row"], edit["end_location"]["column"] - 1)
            yield start, end, edit["content"]

    ordered = sorted(diagnostics, key=lambda d: min(s for s, _, _ in spans(d)))
    for diagnostic in ordered:
        edits = [e for e in spans(diagnostic) if e not in accepted]
        if any(_overlaps(edit, other) for edit in edits for other in accepted):
            continue  # retried in the next pass, against the updated text
        accepted.extend(edits)
        used.append(diagnostic.code)
        kinds.append(diagnostic.fix["applicability"])
    text = source
    for start, end, content in sorted(accepted, key=lambda e: (e[0], e[1], e[2]), reverse=True):
        text = text[:start] + content + text[end:]
    return (text, used, kinds) if with_applicability else (text, used)


def _overlaps(a: tuple[int, int, str], b: tuple[int, int, str]) -> bool:
    if a[0] == a[1] or b[0] == b[1]:  # an insertion only collides strictly inside a span
        return a[0] < b[1] and b[0] < a[1] and a[0] != b[0] and a[1] != b[1]
    return a[0] < b[1] and b[0] < a[1]


def compile_problem(source: str, filename: str, original: str | None = None) -> str | None:
    """Why the fixed `source` is not valid Python, or None. Judged by the parser that
    accepted the `original`: Python's own, or, for syntax newer than this interpreter
    (PEP 695 on 3.11), libcst's."""
    problem = _python_problem(source, filename)
    if problem is None or original is None or _python_problem(original, filename) is None:
        return problem
    import libcst as cst

    try:
        cst.parse_module(source)
    except Exception as error:  # libcst's ParserSyntaxError, or a recursion limit
        return str(error).splitlines()[0] if str(error) else type(error).__name__
    return None


def _python_problem(source: str, filename: str) -> str | None:
    try:
        with warnings.catch_warnings():  # the user's invalid escapes are not ours to print
            warnings.simplefilter("ignore")
            compile(source, filename, "exec", dont_inherit=True)
    except SyntaxError as error:
        return f"line {error.lineno}: {error.msg}"
    except (ValueError, RecursionError, MemoryError) as error:
        return str(error)
    return None


__all__ = ["DISPLAY_ONLY", "SAFE", "UNSAFE", "FixResult", "apply_fixes", "fix_source"]
