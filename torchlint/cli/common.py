"""What the commands share: exit codes, messages on stderr, the options `check` and `fix`
take, turning them into a run and its files, the console, the progress bar, notes."""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from pathlib import Path

import click
from rich.console import Console

from torchlint.discovery import discover
from torchlint.engine import Diagnostic, io_error
from torchlint.run import Run, settings_from_options
from torchlint.settings import ConfigError, enabled_codes

EXIT_CLEAN, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2


def echo_error(message: str) -> None:
    """One unwrapped line on stderr."""
    click.echo(f"{click.style('error:', fg='red', bold=True)} {message}", err=True)


def echo_warning(message: str) -> None:
    click.echo(f"{click.style('warning:', fg='yellow', bold=True)} {message}", err=True)


def selection_options(command):
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


def start_run(paths, select, extend_select, ignore, exclude, extend_exclude, respect_gitignore, config_path, isolated):
    """Settings and files, or exit 2 with one line saying why."""
    try:
        settings = settings_from_options(config_path, isolated, select, extend_select, ignore, exclude, extend_exclude, respect_gitignore)
        run = Run(settings, enabled_codes(settings))
    except ConfigError as error:
        echo_error(str(error))
        sys.exit(EXIT_ERROR)
    if "-" in paths and list(paths) != ["-"]:
        echo_error("`-` (stdin) cannot be combined with other paths")
        sys.exit(EXIT_ERROR)
    return run


def discover_files(run: Run, paths, force_exclude) -> tuple[list[Path], bool, list[Diagnostic]]:
    """Files to check, whether a named path was missing, and an error for each
    directory that cannot be listed (reported like an unreadable file)."""
    targets = [Path(p) for p in paths] or [Path(".")]
    unreadable: list = []
    files, explicit, missing = discover(targets, run.file_filter, force_exclude, unreadable)
    problems = [io_error(display(path), f"cannot read directory: {reason}") for path, reason in unreadable]
    for path in missing:
        echo_error(f"{path}: no such file or directory")
    explicit_set = {os.path.normpath(str(p)) for p in explicit}
    for path in files:
        if os.path.normpath(str(path)) in explicit_set and path.is_file() and path.stat().st_size == 0:
            echo_warning(f"{display(path)}: empty file, nothing to check")
    return files, bool(missing), problems


def stdout_console(**options) -> Console:
    """A console for stdout: `NO_COLOR` turns off every style (bold included), and output
    that is not a terminal is never wrapped (a pipe gets whole lines)."""
    if os.environ.get("NO_COLOR"):
        options.setdefault("color_system", None)
    console = Console(highlight=False, **options)
    if not console.is_terminal and "width" not in options:
        console = Console(highlight=False, width=10_000, **options)
    return console


@contextmanager
def progress_bar(run: Run, quiet: bool, files: int):
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


def say_notes(run: Run, verbose: bool) -> None:
    """Warnings always (once each), information with --verbose; on stderr, so that JSON and
    fixed stdin stay clean."""
    seen = set()
    for kind, message in run.notes:
        if (kind, message) in seen:
            continue
        seen.add((kind, message))
        if kind == "warning":
            echo_warning(message)
        elif verbose:
            click.echo(message, err=True)
    run.notes.clear()


def stdin_excluded(run: Run, force_exclude: bool, stdin_filename: str | None) -> bool:
    return bool(force_exclude and stdin_filename and run.file_filter.excluded(Path(stdin_filename), False))


def display(path: Path) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:
        return str(path)
