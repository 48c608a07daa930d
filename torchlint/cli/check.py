"""`torchlint check`: report what the rules find, in one of five formats."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from torchlint.cli.common import (
    EXIT_CLEAN, EXIT_ERROR, EXIT_FINDINGS, discover_files, echo_error, progress_bar, say_notes, selection_options, start_run,
    stdin_excluded, stdout_console,
)
from torchlint.engine import Diagnostic, io_error
from torchlint.fixes.apply import applicable
from torchlint.output import (
    github_lines, json_text, print_concise, print_full, report_order, sarif_text, statistics_lines, summary,
)
from torchlint.run import check as check_files
from torchlint.sources import LintError, decode_file, decode_source, read_notebook


@click.command()
@selection_options
@click.option("--output-format", type=click.Choice(["full", "concise", "json", "sarif", "github"]), default=None,
              help="full (default on a terminal), concise, json, sarif (code scanning) or github (Actions annotations).")
@click.option("--statistics", is_flag=True, help="Count findings per rule instead of listing them.")
@click.option("--fix", "fix_flag", is_flag=True, hidden=True)
@click.option("--diff", "diff_flag", is_flag=True, hidden=True)
@click.option("--exit-zero", is_flag=True, help="Exit 0 even when there are findings.")
def check(paths, select, extend_select, ignore, exclude, extend_exclude, force_exclude, respect_gitignore,
          unsafe_fixes, jobs, no_cache, config_path, isolated, stdin_filename, quiet, verbose,
          output_format, statistics, fix_flag, diff_flag, exit_zero) -> None:
    """Check PATHS (default: the current directory) for patterns that starve the GPU."""
    if fix_flag or diff_flag:
        echo_error("`torchlint check --fix` is `torchlint fix --apply`" if fix_flag else
                   "`torchlint check --diff` is `torchlint fix` (it shows the diff without writing)")
        sys.exit(EXIT_ERROR)
    run = start_run(paths, select, extend_select, ignore, exclude, extend_exclude, respect_gitignore, config_path, isolated)
    diagnostics: list[Diagnostic] = []
    sources = ReportSources()
    status = EXIT_CLEAN
    out = stdout_console(soft_wrap=True)
    fmt = output_format or ("full" if out.is_terminal else "concise")
    build_edits = fmt in ("full", "json", "sarif") and not statistics  # the formats that show edits
    if not paths and stdin_filename and not sys.stdin.isatty():
        paths = ("-",)  # `--stdin-filename` alone reads stdin, as ruff does
    if list(paths) == ["-"]:
        name = stdin_filename or "-"
        if not stdin_excluded(run, force_exclude, stdin_filename):
            data = sys.stdin.buffer.read()
            sources.given[name] = data
            try:
                decode_file(name, data)
            except LintError as error:
                diagnostics.append(io_error(name, str(error)))
            else:
                diagnostics.extend(check_files(run, [], jobs, use_cache=False, stdin=(name, data), build_edits=build_edits))
    else:
        files, missing, problems = discover_files(run, paths, force_exclude)
        diagnostics.extend(problems)
        if missing:
            status = EXIT_ERROR
        with progress_bar(run, quiet, len(files)):
            diagnostics.extend(check_files(run, files, jobs, use_cache=not no_cache,
                                           arguments=[Path(p) for p in paths] or [Path(".")], build_edits=build_edits))

    say_notes(run, verbose)
    internal = [d for d in diagnostics if d.kind == "internal-error"]
    reported = [d for d in diagnostics if d.kind != "internal-error"]
    reported.sort(key=report_order)
    for d in internal:
        echo_error(f"{d.filename}: {d.message}")

    if statistics:
        if fmt == "json":
            counts: dict[str, dict] = {}
            for d in reported:
                entry = counts.setdefault(d.code or d.name, {"code": d.code, "name": d.name, "count": 0, "fixable": 0})
                entry["count"] += 1
                entry["fixable"] += applicable(d, unsafe_fixes)
            click.echo(json.dumps(sorted(counts.values(), key=lambda e: -e["count"]), indent=2))
        else:
            for line in statistics_lines(reported, lambda d: applicable(d, unsafe_fixes)):
                click.echo(line)
    elif fmt == "json":
        click.echo(json_text(reported))
    elif fmt == "sarif":
        click.echo(sarif_text(reported, sources.file_position))
    elif fmt == "github":
        for line in github_lines(reported, sources.file_position):
            click.echo(line)
    elif fmt == "full":
        print_full(out, reported, sources.text_of, unsafe_fixes)
    else:
        print_concise(out, reported, unsafe_fixes)
    if fmt not in ("json", "sarif", "github") and not quiet and not (status == EXIT_ERROR and not reported):
        out.print(summary(len(reported)), highlight=False)
        fixable = sum(1 for d in reported if applicable(d, unsafe_fixes))
        hidden = sum(1 for d in reported if not unsafe_fixes and applicable(d, True) and not applicable(d, False))
        if fixable:
            command = "torchlint fix --apply" + (" --unsafe-fixes" if unsafe_fixes else "")
            out.print(f"[*] {fixable} fixable with `{command}`.", highlight=False, markup=False)
        if hidden:
            out.print(f"({hidden} hidden fix{'es' if hidden != 1 else ''} can be enabled with the `--unsafe-fixes` option.)", highlight=False, markup=False)

    if internal:
        status = EXIT_ERROR
    if status == EXIT_CLEAN and reported and not exit_zero:
        status = EXIT_FINDINGS
    sys.exit(status)


class ReportSources:
    """What the report shows beside the findings, read once per file: the text a finding's
    rows count in (a notebook's cell), and where a notebook's finding lies in its JSON."""

    def __init__(self) -> None:
        self.given: dict[str, bytes] = {}  # stdin, by the name it is checked as
        self._read: dict[str, object] = {}

    def _load(self, filename: str, notebook: bool):
        if filename not in self._read:
            try:
                data = self.given[filename] if filename in self.given else Path(filename).read_bytes()
                self._read[filename] = read_notebook(data) if notebook else decode_source(data)
            except (OSError, LintError):
                self._read[filename] = None
        return self._read[filename]

    def text_of(self, d: Diagnostic) -> str:
        if d.cell is None:
            return self._load(d.filename, False) or ""
        notebook = self._load(d.filename, True)
        cell = next((c for c in notebook.cells if c.number == d.cell), None) if notebook else None
        return cell.source if cell else ""

    def file_position(self, d: Diagnostic) -> tuple[int, int, int, int]:
        notebook = self._load(d.filename, True) if d.cell is not None else None
        if notebook is None:
            return d.row, d.column, d.end_row, d.end_column
        return (*notebook.file_position(d.cell, d.row, d.column), *notebook.file_position(d.cell, d.end_row, d.end_column))
