"""`torchlint fix`: show the fixes as a diff, or write them with --apply; fix stdin to stdout."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import click

from torchlint.cli.common import (
    EXIT_CLEAN, EXIT_ERROR, EXIT_FINDINGS, discover_files, echo_error, say_notes, selection_options, start_run,
    stdin_excluded, stdout_console,
)
from torchlint.engine import Diagnostic
from torchlint.output import concise_line, print_diff, report_order
from torchlint.rules import rule_by_code_or_name
from torchlint.rules.base import DISPLAY_ONLY, UNSAFE
from torchlint.run import FileOutcome
from torchlint.run import fix as fix_files
from torchlint.sources import LintError, decode_file, encoding_of, write_file


@click.command()
@selection_options
@click.option("--apply", "apply_changes", is_flag=True, help="Write the fixes (without it, show them as a diff).")
@click.option("--exit-non-zero-on-fix", is_flag=True, help="With --apply, exit 1 when anything was changed.")
def fix(paths, select, extend_select, ignore, exclude, extend_exclude, force_exclude, respect_gitignore,
        unsafe_fixes, jobs, no_cache, config_path, isolated, stdin_filename, quiet, verbose,
        apply_changes, exit_non_zero_on_fix) -> None:
    """Fix what `check` finds in PATHS: show the diff, or write it with --apply."""
    run = start_run(paths, select, extend_select, ignore, exclude, extend_exclude, respect_gitignore, config_path, isolated)
    status = EXIT_CLEAN
    outcomes: list[FileOutcome] = []
    if not paths and stdin_filename and not sys.stdin.isatty():
        paths = ("-",)  # `--stdin-filename` alone reads stdin, as ruff does
    if list(paths) == ["-"]:
        name = stdin_filename or "-"
        data = sys.stdin.buffer.read()
        if stdin_excluded(run, force_exclude, stdin_filename):
            sys.stdout.buffer.write(data)
            sys.exit(EXIT_CLEAN)
        try:
            decode_file(name, data)
        except LintError as error:
            echo_error(f"{name}: {error}")
            sys.exit(EXIT_ERROR)
        outcomes = fix_files(run, [], jobs, use_cache=False, unsafe=unsafe_fixes, stdin=(name, data))
        say_notes(run, verbose)
        [outcome] = outcomes
        text = outcome.text if outcome.error is None and outcome.text else outcome.original
        try:  # in the input's own encoding (a coding declaration, a BOM), as a file would be
            output = text.encode(encoding_of(data))
        except UnicodeEncodeError:
            output = data
        sys.stdout.flush()
        sys.stdout.buffer.write(output)
        sys.stdout.buffer.flush()
        internal = _fix_report(outcomes, unsafe_fixes, applied=True, stream_err=True)
    else:
        files, missing, problems = discover_files(run, paths, force_exclude)
        if missing:
            status = EXIT_ERROR
        outcomes = [FileOutcome(d.filename, Counter(), [d], None, False) for d in problems]
        outcomes += fix_files(run, files, jobs, use_cache=not no_cache, unsafe=unsafe_fixes, arguments=[Path(p) for p in paths] or [Path(".")])
        say_notes(run, verbose)
        if apply_changes:
            for outcome in outcomes:
                if outcome.changed and outcome.source is not None and outcome.source.path is not None:
                    try:
                        write_file(outcome.source, outcome.text, expected=outcome.source.data)
                    except (LintError, OSError) as error:
                        outcome.error = f"not written: {error}"
                        outcome.changed = False
                        outcome.fixed = Counter()  # nothing was fixed in this file
        out = stdout_console(soft_wrap=True)
        if not apply_changes:
            for outcome in outcomes:
                if outcome.diff:
                    print_diff(out, outcome.diff)
        internal = _fix_report(outcomes, unsafe_fixes, applied=apply_changes, stream_err=False, quiet=quiet,
                               failed=status == EXIT_ERROR)

    changed = any(o.changed for o in outcomes)
    remaining = any(o.remaining for o in outcomes)
    if any(o.error for o in outcomes) or internal:
        status = EXIT_ERROR
    if status == EXIT_CLEAN:
        if not apply_changes and list(paths) != ["-"]:
            status = EXIT_FINDINGS if changed else EXIT_CLEAN
        elif remaining or (exit_non_zero_on_fix and changed):
            status = EXIT_FINDINGS
    sys.exit(status)


def _fix_report(outcomes: list[FileOutcome], unsafe: bool, applied: bool, stream_err: bool, quiet: bool = False,
                failed: bool = False) -> bool:
    """Print the remaining findings, then what was fixed per rule and why the rest was not.
    Returns whether an internal error was among them."""
    echo = (lambda text: click.echo(text, err=True)) if stream_err else click.echo
    internal = False
    remaining = sorted((d for o in outcomes for d in o.remaining), key=report_order)
    for outcome in outcomes:
        if outcome.error:
            echo_error(f"{outcome.filename}: {outcome.error}")
    for d in remaining:
        if d.kind == "internal-error":
            internal = True
            echo_error(f"{d.filename}: {d.message}")
        else:
            echo(concise_line(d))
    if quiet:
        return internal
    fixed = Counter()
    for outcome in outcomes:
        fixed.update(outcome.fixed)
    total = sum(fixed.values())
    verb = "Fixed" if applied else "Would fix"
    if total:
        per_rule = ", ".join(f"{code} x{count}" for code, count in sorted(fixed.items()))
        echo(f"{verb} {total} error{'s' if total != 1 else ''} ({per_rule}).")
    findings = [d for d in remaining if d.kind == "finding"]
    if findings:
        echo(f"{len(findings)} remaining:")
        reasons = Counter((d.code, _remaining_reason(d, unsafe)) for d in findings)
        for (code, reason), count in sorted(reasons.items()):
            echo(f"  {code} ({count}): {reason}")
    elif not total and not remaining and not failed and not any(o.error for o in outcomes):
        echo("All checks passed!")
    return internal


def _remaining_reason(d: Diagnostic, unsafe: bool) -> str:
    fix_info = d.fix
    if fix_info and fix_info["applicability"] == UNSAFE and not unsafe and fix_info["edits"] != []:
        return f"unsafe fix available with --unsafe-fixes: {fix_info['message']}"
    if fix_info and fix_info["applicability"] == DISPLAY_ONLY:
        return f"suggestion only, not applied: {fix_info['message']}"
    rule = rule_by_code_or_name(d.code or "")
    return rule.no_fix_reason if rule is not None else "no automatic fix"
