"""The command line: `torchlint check`, `torchlint rule`, `torchlint rules`.

Exit codes: 0 clean, 1 findings, 2 usage, configuration or internal error.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sys
from collections import Counter
from contextlib import contextmanager
from pathlib import Path

import click
from rich.console import Console

from torchlint import __version__
from torchlint.discovery import discover
from torchlint.engine import Diagnostic, build_rules, io_error
from torchlint.fixer import applicable
from torchlint.run import FileOutcome, Run, settings_from_options, split_option
from torchlint.run import check as check_files, fix as fix_files
from torchlint.output import (
    concise_line, github_lines, report_order, json_text, print_concise, print_diff, print_full, sarif_text, statistics_lines, summary,
)
from torchlint.rules.base import DISPLAY_ONLY, UNSAFE
from torchlint.rules import all_rules, rule_by_code_or_name
from torchlint.settings import ConfigError, Settings, enabled_codes, resolve_selectors
from torchlint.sources import LintError, decode_file, decode_source, encoding_of, read_notebook, write_file

EXIT_CLEAN, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2


def _error(message: str) -> None:
    """One unwrapped line on stderr."""
    click.echo(f"{click.style('error:', fg='red', bold=True)} {message}", err=True)


def _warning(message: str) -> None:
    click.echo(f"{click.style('warning:', fg='yellow', bold=True)} {message}", err=True)


class _Commands(click.Group):
    """Interrupted (Ctrl-C) exits 130 and SIGTERM 143, as shells expect, after the clean-up
    that unwinding does (a half-written temporary file is removed); never 1, which means
    "findings remain"."""

    def invoke(self, ctx):
        def terminated(signum, frame):
            raise SystemExit(128 + signum)

        try:
            previous = signal.signal(signal.SIGTERM, terminated)
        except ValueError:  # not the main thread (an embedding application)
            previous = None
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            click.echo("torchlint: interrupted", err=True)
            sys.exit(130)
        finally:
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="torchlint")
def main() -> None:
    """torchlint: find PyTorch code that leaves the GPU idle or starved."""


def _selection_options(command):
    """The options `check` and `fix` share: what to check, and how to find it."""
    options = [
        click.argument("paths", nargs=-1),
        click.option("--select", multiple=True, help="Rules to enable: codes, prefixes (TL1), names or ALL. Replaces the configured selection."),
        click.option("--extend-select", multiple=True, help="Rules to enable on top of the selection."),
        click.option("--ignore", multiple=True, help="Rules to disable."),
        click.option("--exclude", multiple=True, help="Glob patterns to exclude (replaces the defaults)."),
        click.option("--extend-exclude", multiple=True, help="Glob patterns to exclude on top of the defaults."),
        click.option("--force-exclude", is_flag=True, help="Apply exclusions to files named on the command line too."),
        click.option("--respect-gitignore/--no-respect-gitignore", default=None, help="Skip files ignored by .gitignore (default: on)."),
        click.option("--unsafe-fixes", is_flag=True, help="Also consider fixes that may change results (see each rule's Fix safety)."),
        click.option("-j", "--jobs", type=click.IntRange(min=1), default=None, help="Worker processes (default: CPU cores)."),
        click.option("--no-cache", is_flag=True, help="Neither read nor write .torchlint_cache/ (summaries and results)."),
        click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path), help="Use this pyproject.toml (or torchlint.toml)."),
        click.option("--isolated", is_flag=True, help="Ignore all configuration files."),
        click.option("--stdin-filename", help="The name of the file when reading from stdin (`-`)."),
        click.option("-q", "--quiet", is_flag=True, help="Print findings only, no summary."),
        click.option("-v", "--verbose", is_flag=True, help="Also say which torch release each project targets, and why."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _start(paths, select, extend_select, ignore, exclude, extend_exclude, respect_gitignore, config_path, isolated):
    """Settings and files, or exit 2 with one line saying why."""
    try:
        settings = settings_from_options(config_path, isolated, select, extend_select, ignore, exclude, extend_exclude, respect_gitignore)
        run = Run(settings, enabled_codes(settings))
    except ConfigError as error:
        _error(str(error))
        sys.exit(EXIT_ERROR)
    if "-" in paths and list(paths) != ["-"]:
        _error("`-` (stdin) cannot be combined with other paths")
        sys.exit(EXIT_ERROR)
    return run


def _discover(run: Run, paths, force_exclude) -> tuple[list[Path], bool, list[Diagnostic]]:
    """Files to check, whether a named path was missing, and an error for each
    directory that cannot be listed (reported like an unreadable file)."""
    targets = [Path(p) for p in paths] or [Path(".")]
    unreadable: list = []
    files, explicit, missing = discover(targets, run.file_filter, force_exclude, unreadable)
    problems = [io_error(_display(path), f"cannot read directory: {reason}") for path, reason in unreadable]
    for path in missing:
        _error(f"{path}: no such file or directory")
    explicit_set = {os.path.normpath(str(p)) for p in explicit}
    for path in files:
        if os.path.normpath(str(path)) in explicit_set and path.is_file() and path.stat().st_size == 0:
            _warning(f"{_display(path)}: empty file, nothing to check")
    return files, bool(missing), problems


def _console(**options) -> Console:
    """A console for stdout: `NO_COLOR` turns off every style (bold included), and output
    that is not a terminal is never wrapped (a pipe gets whole lines)."""
    if os.environ.get("NO_COLOR"):
        options.setdefault("color_system", None)
    console = Console(highlight=False, **options)
    if not console.is_terminal and "width" not in options:
        console = Console(highlight=False, width=10_000, **options)
    return console


@contextmanager
def _progress(run: Run, quiet: bool, files: int):
    """A progress bar on stderr for long runs, only on a terminal and without `-q`: the
    findings on stdout stay exactly what a pipe or a file gets."""
    if quiet or files < 50 or not sys.stderr.isatty() or os.environ.get("TERM") == "dumb":
        yield
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    console = Console(stderr=True, color_system=None if os.environ.get("NO_COLOR") else "auto")
    with Progress(TextColumn("checking"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.description}"),
                  console=console, transient=True) as bar:
        task = bar.add_task("", total=files)

        def advance(done: int, total: int, name: str) -> None:
            bar.update(task, completed=done, total=total, description=name)

        run.progress = advance
        try:
            yield
        finally:
            run.progress = None


def _say_notes(run: Run, verbose: bool) -> None:
    """Warnings always (once each), information with --verbose; on stderr, so that JSON and
    fixed stdin stay clean."""
    seen = set()
    for kind, message in run.notes:
        if (kind, message) in seen:
            continue
        seen.add((kind, message))
        if kind == "warning":
            _warning(message)
        elif verbose:
            click.echo(message, err=True)
    run.notes.clear()


def _stdin_excluded(run: Run, force_exclude: bool, stdin_filename: str | None) -> bool:
    return bool(force_exclude and stdin_filename and run.file_filter.excluded(Path(stdin_filename), False))


@main.command()
@_selection_options
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
        _error("`torchlint check --fix` is `torchlint fix --apply`" if fix_flag else
               "`torchlint check --diff` is `torchlint fix` (it shows the diff without writing)")
        sys.exit(EXIT_ERROR)
    run = _start(paths, select, extend_select, ignore, exclude, extend_exclude, respect_gitignore, config_path, isolated)
    diagnostics: list[Diagnostic] = []
    sources = _Sources()
    status = EXIT_CLEAN
    out = _console(soft_wrap=True)
    fmt = output_format or ("full" if out.is_terminal else "concise")
    build_edits = fmt in ("full", "json", "sarif") and not statistics  # the formats that show edits
    if not paths and stdin_filename and not sys.stdin.isatty():
        paths = ("-",)  # `--stdin-filename` alone reads stdin, as ruff does
    if list(paths) == ["-"]:
        name = stdin_filename or "-"
        if not _stdin_excluded(run, force_exclude, stdin_filename):
            data = sys.stdin.buffer.read()
            sources.given[name] = data
            try:
                decode_file(name, data)
            except LintError as error:
                diagnostics.append(io_error(name, str(error)))
            else:
                diagnostics.extend(check_files(run, [], jobs, use_cache=False, stdin=(name, data), build_edits=build_edits))
    else:
        files, missing, problems = _discover(run, paths, force_exclude)
        diagnostics.extend(problems)
        if missing:
            status = EXIT_ERROR
        with _progress(run, quiet, len(files)):
            diagnostics.extend(check_files(run, files, jobs, use_cache=not no_cache,
                                            arguments=[Path(p) for p in paths] or [Path(".")], build_edits=build_edits))

    _say_notes(run, verbose)
    internal = [d for d in diagnostics if d.kind == "internal-error"]
    reported = [d for d in diagnostics if d.kind != "internal-error"]
    reported.sort(key=report_order)
    for d in internal:
        _error(f"{d.filename}: {d.message}")

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


@main.command()
@_selection_options
@click.option("--apply", "apply_changes", is_flag=True, help="Write the fixes (without it, show them as a diff).")
@click.option("--exit-non-zero-on-fix", is_flag=True, help="With --apply, exit 1 when anything was changed.")
def fix(paths, select, extend_select, ignore, exclude, extend_exclude, force_exclude, respect_gitignore,
        unsafe_fixes, jobs, no_cache, config_path, isolated, stdin_filename, quiet, verbose,
        apply_changes, exit_non_zero_on_fix) -> None:
    """Fix what `check` finds in PATHS: show the diff, or write it with --apply."""
    run = _start(paths, select, extend_select, ignore, exclude, extend_exclude, respect_gitignore, config_path, isolated)
    status = EXIT_CLEAN
    outcomes: list[FileOutcome] = []
    if not paths and stdin_filename and not sys.stdin.isatty():
        paths = ("-",)  # `--stdin-filename` alone reads stdin, as ruff does
    if list(paths) == ["-"]:
        name = stdin_filename or "-"
        data = sys.stdin.buffer.read()
        if _stdin_excluded(run, force_exclude, stdin_filename):
            sys.stdout.buffer.write(data)
            sys.exit(EXIT_CLEAN)
        try:
            decode_file(name, data)
        except LintError as error:
            _error(f"{name}: {error}")
            sys.exit(EXIT_ERROR)
        outcomes = fix_files(run, [], jobs, use_cache=False, unsafe=unsafe_fixes, stdin=(name, data))
        _say_notes(run, verbose)
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
        files, missing, problems = _discover(run, paths, force_exclude)
        if missing:
            status = EXIT_ERROR
        outcomes = [FileOutcome(d.filename, Counter(), [d], None, False) for d in problems]
        outcomes += fix_files(run, files, jobs, use_cache=not no_cache, unsafe=unsafe_fixes, arguments=[Path(p) for p in paths] or [Path(".")])
        _say_notes(run, verbose)
        if apply_changes:
            for outcome in outcomes:
                if outcome.changed and outcome.source is not None and outcome.source.path is not None:
                    try:
                        write_file(outcome.source, outcome.text, expected=outcome.source.data)
                    except (LintError, OSError) as error:
                        outcome.error = f"not written: {error}"
                        outcome.changed = False
                        outcome.fixed = Counter()  # nothing was fixed in this file
        out = _console(soft_wrap=True)
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
            _error(f"{outcome.filename}: {outcome.error}")
    for d in remaining:
        if d.kind == "internal-error":
            internal = True
            _error(f"{d.filename}: {d.message}")
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


def _display(path: Path) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:
        return str(path)


class _Sources:
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


# -- verify ----------------------------------------------------------------------------

BUNDLED_MAX_STEPS = 30


def _bundled_rules(path: Path, rules: list) -> list:
    """A bundled fixture named for a rule (`tl104_workers_restarted.py`, `tl404_old_torch/`)
    is verified with that rule alone, so that a later rule never changes its figures."""
    name = path.parent.name if path.name == "train.py" else path.stem
    match = re.match(r"tl(\d{3})_", name)
    if match is None:
        return rules
    return [rule for rule in rules if rule.code == f"TL{match.group(1)}"]


def _runtime_fixtures() -> Path:
    """Shipped inside the wheel; in a checkout, the repository's fixtures/runtime."""
    packaged = Path(__file__).parent / "_runtime_fixtures"
    return packaged if packaged.is_dir() else Path(__file__).parent.parent / "fixtures" / "runtime"


@main.command(context_settings={"ignore_unknown_options": True})
@click.argument("scripts", nargs=-1, type=click.UNPROCESSED)
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", help="Where the scripts run (auto: CUDA when available).")
@click.option("--repeats", type=click.IntRange(min=1), default=3, help="Runs of each version, alternating.")
@click.option("--max-steps", type=click.IntRange(min=0), default=0, help="Stop each run after N optimizer steps (0: no limit; 30 for the bundled fixtures).")
@click.option("--timeout", type=click.FloatRange(min=1), default=600.0, help="Seconds each run may take.")
@click.option("--unsafe-fixes", is_flag=True, help="Also apply (and verify) unsafe fixes.")
@click.option("--select", multiple=True, help="Rules whose fixes to verify (default: all).")
@click.option("--output-format", type=click.Choice(["table", "json"]), default="table")
def verify(scripts, device, repeats, max_steps, timeout, unsafe_fixes, select, output_format) -> None:
    """Run SCRIPTS before and after `torchlint fix` and compare results and speed.

    With no script, verifies the bundled runtime fixtures. Arguments after `--` are
    passed to every script.
    """
    import importlib.util

    if importlib.util.find_spec("torch") is None:
        _error("`torchlint verify` runs the scripts and needs torch: pip install 'torchlint[runtime]'")
        sys.exit(EXIT_ERROR)
    script_args: list[str] = []
    if "--" in sys.argv:
        script_args = sys.argv[sys.argv.index("--") + 1 :]
        scripts = scripts[: len(scripts) - len(script_args)]
    # A bundled fixture is a script, or a project directory of its own (its pins apply).
    bundled = sorted(_runtime_fixtures().glob("*.py")) + sorted(_runtime_fixtures().glob("*/train.py"))
    paths = [Path(s) for s in scripts] or sorted(bundled, key=lambda p: p.stem if p.name != "train.py" else p.parent.name)
    if not scripts and max_steps == 0:
        max_steps = BUNDLED_MAX_STEPS  # the bundled fixtures prove the fixes in seconds, not minutes
    missing = [p for p in paths if not p.is_file()]
    if missing:
        _error(f"{missing[0]}: no such file")
        sys.exit(EXIT_ERROR)
    notebooks = [p for p in paths if p.suffix == ".ipynb"]
    if notebooks:
        _error(f"{notebooks[0]}: verify runs Python scripts; export the notebook first (jupyter nbconvert --to script)")
        sys.exit(EXIT_ERROR)
    if device == "cuda":
        from torchlint.runtime.verify import cuda_available

        if not cuda_available():
            _error("--device cuda: no CUDA device is available here")
            sys.exit(EXIT_ERROR)
    try:
        codes = resolve_selectors(split_option(select)) if select else {r.code for r in all_rules()}
    except ConfigError as error:
        _error(str(error))
        sys.exit(EXIT_ERROR)
    from torchlint.runtime.verify import render_table, verify_script

    rules = build_rules(codes, Settings().rule_options)
    reports = []
    for path in paths:
        if output_format == "table":
            click.echo(f"verifying {_display(path)} ...", err=True)
        report = verify_script(path, script_args, _bundled_rules(path, rules) if not scripts else rules,
                               unsafe=unsafe_fixes, repeats=repeats, max_steps=max_steps, timeout=timeout, device=device)
        if scripts:
            report.name = _display(path)  # a user's script: its path, not only its stem
        reports.append(report)
    if output_format == "json":
        click.echo(json.dumps({"device": device, "repeats": repeats, "max_steps": max_steps,
                               "fixtures": [r.to_dict() for r in reports]}, indent=2))
    else:
        console = Console(highlight=False)
        render_table(console if console.is_terminal else Console(highlight=False, width=160), reports)
    sys.exit(EXIT_CLEAN if all(r.passed for r in reports) else EXIT_FINDINGS)


# -- documentation ---------------------------------------------------------------


@main.command()
def server() -> None:
    """Run the language server (LSP over stdio) for editors: findings as you type, fixes
    and `# noqa` as code actions."""
    from torchlint.server import serve

    serve()


@main.command("rule")
@click.argument("rule")
def rule_command(rule: str) -> None:
    """Explain a rule, by code (TL101) or name (dataloader-no-workers)."""
    from rich.markdown import Markdown

    from torchlint.docs import page_path

    found = rule_by_code_or_name(rule)
    if found is None:
        click.echo(f"error: unknown rule `{rule}`; `torchlint rules` lists them", err=True)
        sys.exit(EXIT_ERROR)
    text = page_path(found).read_text(encoding="utf-8")
    console = Console()
    if console.is_terminal:
        console.print(Markdown(text))
    else:
        click.echo(text, nl=False)


@main.command("rules")
@click.option("--output-format", type=click.Choice(["text", "json", "markdown"]), default="text")
def rules_command(output_format: str) -> None:
    """List every rule with its code, name, default state and fix availability."""
    rules = all_rules()
    if output_format == "json":
        rows = [
            {"code": r.code, "name": r.name, "summary": r.summary, "default": r.enabled_by_default,
             "fix": r.fix_availability, "url": r.url()}
            for r in rules
        ]
        click.echo(json.dumps(rows, indent=2))
        return
    if output_format == "markdown":
        click.echo(rules_markdown_table())
        return
    from rich.table import Table

    console = _console()
    if not console.is_terminal:  # a pipe: plain columns, nothing cut, no trailing spaces
        width = max(len(r.name) for r in rules)
        fix_width = max(len(r.fix_availability) for r in rules)
        click.echo(f"{'code':<6} {'name':<{width}} {'default':<7} {'fix':<{fix_width}} summary")
        for r in rules:
            default = "on" if r.enabled_by_default else "off"
            click.echo(f"{r.code:<6} {r.name:<{width}} {default:<7} {r.fix_availability:<{fix_width}} {r.summary}".rstrip())
        return
    table = Table(box=None, pad_edge=False)
    for column in ("code", "name", "default", "fix", "summary"):
        table.add_column(column, style="bold" if column == "code" else None, no_wrap=column in ("code", "name"))
    for r in rules:
        table.add_row(r.code, r.name, "on" if r.enabled_by_default else "off", r.fix_availability, r.summary)
    console.print(table)


def rules_markdown_table() -> str:
    lines = ["| Code | Name | What it flags | Default | Fix |", "|---|---|---|---|---|"]
    for r in all_rules():
        lines.append(
            f"| [{r.code}](rules/{r.code}-{r.name}.md) | `{r.name}` | {r.summary} | "
            f"{'on' if r.enabled_by_default else 'off'} | {r.fix_availability} |"
        )
    return "\n".join(lines)
