"""Printing diagnostics: full (code frame), concise (one line each), json (ruff's shape),
SARIF (code scanning) and GitHub Actions annotations."""

from __future__ import annotations

import difflib
import json
from collections import Counter
from pathlib import Path
from typing import Iterable
from urllib.parse import quote

from rich.console import Console
from rich.markup import escape
from rich.text import Text

from torchlint.engine import Diagnostic


def location(d: Diagnostic) -> str:
    """`file:row:column`; in a notebook `file:cell N:row:column` (ruff's form)."""
    cell = f"cell {d.cell}:" if d.cell is not None else ""
    return f"{d.filename}:{cell}{d.row}:{d.column}"


def report_order(d: Diagnostic) -> tuple:
    """Files by name; in a file, by cell (notebooks), row, column, code."""
    return d.filename, d.cell or 0, d.row, d.column, d.code or ""


def _identity_position(d: Diagnostic) -> tuple[int, int, int, int]:
    return d.row, d.column, d.end_row, d.end_column


def concise_line(d: Diagnostic) -> str:
    if d.kind == "finding":
        return f"{location(d)}: {d.code} {d.message}"
    if d.kind == "syntax-error":
        return f"{location(d)}: {d.message}"
    return f"{d.filename}: error: {d.message}"


def print_concise(console: Console, diagnostics: list[Diagnostic], unsafe: bool = False) -> None:
    for d in diagnostics:
        console.print(_styled_concise(d, unsafe), soft_wrap=True, highlight=False)


def _styled_concise(d: Diagnostic, unsafe: bool = False) -> Text:
    from torchlint.fixes.apply import applicable

    text = Text()
    text.append(d.filename, style="bold")
    if d.kind in ("finding", "syntax-error"):
        if d.cell is not None:
            text.append(f":cell {d.cell}", style="cyan")
        text.append(f":{d.row}:{d.column}:", style="cyan")
        text.append(" ")
        if d.kind == "finding":
            text.append(f"{d.code}", style="bold red")
            text.append(" ")
            if applicable(d, unsafe):
                text.append("[*] ", style="cyan")
        text.append(d.message)
    else:
        text.append(": ")
        text.append("error:", style="bold red")
        text.append(f" {d.message}")
    return text


def print_full(console: Console, diagnostics: list[Diagnostic], source_of, unsafe: bool = False) -> None:
    """Each finding with its code frame; `source_of(d)` is the text its rows count in (a
    notebook's cell for a finding in one)."""
    for d in diagnostics:
        console.print(_styled_concise(d, unsafe), soft_wrap=True, highlight=False)
        source = source_of(d) if d.kind in ("finding", "syntax-error") else None
        if d.kind not in ("finding", "syntax-error") or not source:
            continue
        _print_frame(console, d, source.splitlines())
        if d.fix:
            _print_fix(console, d, source)
        console.print()


def _print_fix(console: Console, d: Diagnostic, source: str) -> None:
    from torchlint.fixes.apply import apply_fixes

    kind = {"safe": "fix", "unsafe": "unsafe fix", "display-only": "suggestion"}[d.fix["applicability"]]
    console.print(Text.assemble(("  = ", "blue"), (f"{kind}: ", "bold cyan"), d.fix["message"]), soft_wrap=True, highlight=False)
    if not d.fix["edits"]:
        return
    fixed, _ = apply_fixes(source, [d])
    diff = difflib.unified_diff(source.splitlines(), fixed.splitlines(), lineterm="", n=0)
    for line in list(diff)[2:]:
        if line.startswith("@@"):
            continue
        style = "green" if line.startswith("+") else "red"
        console.print(Text.assemble(("    ", ""), (line, style)), soft_wrap=True, highlight=False)


def print_diff(console: Console, diff: str) -> None:
    for line in diff.splitlines():
        style = ""
        if line.startswith(("+++", "---")):
            style = "bold"
        elif line.startswith("@@"):
            style = "cyan"
        elif line.startswith("+"):
            style = "green"
        elif line.startswith("-"):
            style = "red"
        console.print(Text(line, style=style), soft_wrap=True, highlight=False)


def _print_frame(console: Console, d: Diagnostic, lines: list[str]) -> None:
    first = max(1, d.row - 1)
    last = min(len(lines), max(d.row, min(d.end_row, d.row + 4)) + 1)
    width = len(str(last))
    gutter = " " * width
    console.print(f"[blue]{gutter} |[/blue]", highlight=False)
    for number in range(first, last + 1):
        line = lines[number - 1].expandtabs(4) if number - 1 < len(lines) else ""
        console.print(Text.assemble((f"{number:>{width}} | ", "blue"), line), soft_wrap=True, highlight=False)
        if number == d.row:
            start = d.column - 1
            end = d.end_column - 1 if d.end_row == d.row else len(line)
            carets = "^" * max(1, end - start)
            label = d.code or "SyntaxError"
            console.print(
                f"[blue]{gutter} |[/blue] {' ' * start}[bold red]{carets} {escape(label)}[/bold red]",
                highlight=False,
            )
    console.print(f"[blue]{gutter} |[/blue]", highlight=False)


def json_text(diagnostics: list[Diagnostic]) -> str:
    rows = []
    for d in diagnostics:
        rows.append(
            {
                "code": d.code,
                "name": d.name,
                "message": d.message,
                "filename": str(Path(d.filename).absolute()) if d.filename != "-" else d.filename,
                "location": {"row": d.row, "column": d.column},
                "end_location": {"row": d.end_row, "column": d.end_column},
                "fix": d.fix,
                "url": d.url,
                "noqa_row": d.row if d.kind == "finding" else None,
                "cell": d.cell,
            }
        )
    return json.dumps(rows, indent=2)


def statistics_lines(diagnostics: Iterable[Diagnostic], fixable=lambda d: False) -> list[str]:
    """`count<TAB>code<TAB>[*] name`, most frequent first (tab-separated, like ruff); `[*]`
    when `fix` would fix some of them."""
    diagnostics = list(diagnostics)
    counts = Counter((d.code or d.name, d.name) for d in diagnostics)
    with_fix = {d.code or d.name for d in diagnostics if fixable(d)}
    ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return [f"{count}\t{code}\t{'[*] ' if code in with_fix else ''}{name}" for (code, name), count in ordered]


def summary(count: int) -> str:
    if count == 0:
        return "All checks passed!"
    return f"Found {count} error{'s' if count != 1 else ''}."


# -- code scanning and CI annotations ----------------------------------------------------

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"


def sarif_text(diagnostics: list[Diagnostic], file_position=_identity_position) -> str:
    """SARIF 2.1.0 (what GitHub code scanning reads): one run, the reported rules described
    from their pages, each finding with its region and, where it has edits, its fix.
    `file_position(d)` gives a finding's region in the file (a notebook's JSON lines)."""
    from torchlint import __version__
    from torchlint.rules import rule_by_code_or_name

    rules: dict[str, dict] = {}
    results = []
    for d in diagnostics:
        rule_id = d.code or d.name
        if rule_id not in rules:
            rules[rule_id] = _sarif_rule(rule_id, d, rule_by_code_or_name(d.code) if d.code else None)
        result = {
            "ruleId": rule_id,
            "ruleIndex": list(rules).index(rule_id),
            "level": "error" if d.kind != "finding" else "warning",
            "message": {"text": d.message if d.cell is None else f"cell {d.cell}:{d.row}:{d.column}: {d.message}"},
            "locations": [{"physicalLocation": {
                "artifactLocation": {"uri": _uri(d.filename)},
                "region": _region(*file_position(d)),
            }}],
        }
        if d.fix and d.fix.get("edits") and d.cell is None:  # a cell's edits are not file regions
            result["fixes"] = [{
                "description": {"text": d.fix["message"]},
                "artifactChanges": [{
                    "artifactLocation": {"uri": _uri(d.filename)},
                    "replacements": [
                        {
                            "deletedRegion": _region(e["location"]["row"], e["location"]["column"],
                                                     e["end_location"]["row"], e["end_location"]["column"]),
                            "insertedContent": {"text": e["content"]},
                        }
                        for e in d.fix["edits"]
                    ],
                }],
            }]
        results.append(result)
    log = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "torchlint",
                "version": __version__,
                "informationUri": "https://pypi.org/project/torchlint/",
                "rules": list(rules.values()),
            }},
            "columnKind": "unicodeCodePoints",
            "results": results,
        }],
    }
    return json.dumps(log, indent=2)


def _sarif_rule(rule_id: str, d: Diagnostic, rule) -> dict:
    if rule is None:  # a file that cannot be read or parsed
        return {"id": rule_id, "name": rule_id, "shortDescription": {"text": rule_id.replace("-", " ")}}
    from torchlint.docs import page_path, read_page

    described = {
        "id": rule.code,
        "name": rule.name,
        "shortDescription": {"text": rule.summary},
        "defaultConfiguration": {"level": "warning", "enabled": rule.enabled_by_default},
    }
    if page_path(rule).is_file():
        page = read_page(rule)
        what = page.sections.get("What it does", "").strip()
        why = page.sections.get("Why is this bad?", "").strip()
        if what:
            described["fullDescription"] = {"text": what.split("\n\n")[0].replace("\n", " ")}
        described["help"] = {
            "text": f"{what}\n\n{why}".strip(),
            "markdown": f"## What it does\n\n{what}\n\n## Why is this bad?\n\n{why}".strip(),
        }
    return described


def _region(row: int, column: int, end_row: int, end_column: int) -> dict:
    region = {"startLine": max(1, row), "startColumn": max(1, column)}
    if (end_row, end_column) >= (row, column):
        region["endLine"] = max(1, end_row)
        region["endColumn"] = max(1, end_column)
    return region


def _uri(filename: str) -> str:
    """A path relative to the working directory where it can be (what code scanning maps
    to the repository), in URI form."""
    if filename == "-":
        return "stdin"
    path = Path(filename)
    try:
        relative = path.absolute().relative_to(Path.cwd())
        return quote(relative.as_posix())
    except ValueError:
        return path.absolute().as_uri()


def github_lines(diagnostics: list[Diagnostic], file_position=_identity_position) -> list[str]:
    """GitHub Actions workflow commands: one `::error ...::message` per finding, which the
    pull request shows as an annotation on the line. In a notebook the line is the one of
    the file's JSON that holds the cell's line, and the message says which cell."""
    lines = []
    for d in diagnostics:
        title = f"torchlint ({d.code})" if d.code else f"torchlint ({d.name})"
        row, column, end_row, end_column = file_position(d)
        properties = ",".join(
            f"{key}={_escape_property(str(value))}"
            for key, value in (
                ("title", title), ("file", d.filename), ("line", row), ("col", column),
                ("endLine", end_row), ("endColumn", end_column),
            )
        )
        message = d.message if d.cell is None else f"cell {d.cell}:{d.row}:{d.column}: {d.message}"
        lines.append(f"::error {properties}::{_escape_data(message)}")
    return lines


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")
