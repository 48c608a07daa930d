"""The command line: `torchlint check`, `torchlint rule`, `torchlint rules`.

Exit codes: 0 clean, 1 findings, 2 usage, configuration or internal error.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import click
from rich.console import Console

from torchlint import __version__
from torchlint.discovery import DEFAULT_EXCLUDES, FileFilter, discover
from torchlint.engine import Diagnostic, LintError, build_rules, decode_source, io_error, lint_path, lint_source
from torchlint.output import json_text, print_concise, print_full, statistics_lines, summary
from torchlint.rules import all_rules, rule_by_code_or_name
from torchlint.settings import ConfigError, Settings, enabled_codes, find_config, load_settings, resolve_selectors

EXIT_CLEAN, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2


def _error(message: str) -> None:
    """One unwrapped line on stderr."""
    click.echo(f"{click.style('error:', fg='red', bold=True)} {message}", err=True)


def _warning(message: str) -> None:
    click.echo(f"{click.style('warning:', fg='yellow', bold=True)} {message}", err=True)


def _split(values: tuple[str, ...]) -> list[str]:
    """`--select TL1,TL2 --select TL3` -> ["TL1", "TL2", "TL3"]."""
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="torchlint")
def main() -> None:
    """torchlint: find PyTorch code that leaves the GPU idle or starved."""


@main.command()
@click.argument("paths", nargs=-1)
@click.option("--select", multiple=True, help="Rules to enable: codes, prefixes (TL1), names or ALL. Replaces the configured selection.")
@click.option("--extend-select", multiple=True, help="Rules to enable on top of the selection.")
@click.option("--ignore", multiple=True, help="Rules to disable.")
@click.option("--exclude", multiple=True, help="Glob patterns to exclude (replaces the defaults).")
@click.option("--extend-exclude", multiple=True, help="Glob patterns to exclude on top of the defaults.")
@click.option("--force-exclude", is_flag=True, help="Apply exclusions to files named on the command line too.")
@click.option("--respect-gitignore/--no-respect-gitignore", default=None, help="Skip files ignored by .gitignore (default: on).")
@click.option("--output-format", type=click.Choice(["full", "concise", "json"]), default=None, help="full (default on a terminal), concise, or json.")
@click.option("--statistics", is_flag=True, help="Count findings per rule instead of listing them.")
@click.option("--exit-zero", is_flag=True, help="Exit 0 even when there are findings.")
@click.option("-j", "--jobs", type=click.IntRange(min=1), default=None, help="Worker processes (default: CPU cores).")
@click.option("--no-cache", is_flag=True, help="Accepted for ruff compatibility; torchlint keeps no cache yet.")
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path), help="Use this pyproject.toml (or torchlint.toml).")
@click.option("--isolated", is_flag=True, help="Ignore all configuration files.")
@click.option("--stdin-filename", help="The name of the file when reading from stdin (`-`).")
@click.option("-q", "--quiet", is_flag=True, help="Print findings only, no summary.")
def check(paths, select, extend_select, ignore, exclude, extend_exclude, force_exclude, respect_gitignore,
          output_format, statistics, exit_zero, jobs, no_cache, config_path, isolated, stdin_filename, quiet) -> None:
    """Check PATHS (default: the current directory) for patterns that starve the GPU."""
    try:
        settings = _settings(config_path, isolated, select, extend_select, ignore, exclude, extend_exclude, respect_gitignore)
        codes = enabled_codes(settings)
    except ConfigError as error:
        _error(str(error))
        sys.exit(EXIT_ERROR)

    exclude_patterns = list(DEFAULT_EXCLUDES if settings.exclude is None else settings.exclude) + settings.extend_exclude
    file_filter = FileFilter(settings.root, exclude_patterns, settings.respect_gitignore)
    rules = build_rules(codes, settings.rule_options)
    diagnostics: list[Diagnostic] = []
    sources: dict[str, list[str]] = {}
    status = EXIT_CLEAN

    if list(paths) == ["-"]:
        name = stdin_filename or "-"
        if not (force_exclude and stdin_filename and file_filter.excluded(Path(stdin_filename), False)):
            try:
                source = decode_source(sys.stdin.buffer.read())
            except LintError as error:
                diagnostics.append(io_error(name, str(error)))
            else:
                diagnostics.extend(lint_source(source, name, rules))
                sources[name] = source.splitlines()
    else:
        if "-" in paths:
            _error("`-` (stdin) cannot be combined with other paths")
            sys.exit(EXIT_ERROR)
        targets = [Path(p) for p in paths] or [Path(".")]
        files, explicit, missing = discover(targets, file_filter, force_exclude)
        for path in missing:
            _error(f"{path}: no such file or directory")
            status = EXIT_ERROR
        explicit_set = {os.path.normpath(str(p)) for p in explicit}
        for path in files:
            if os.path.normpath(str(path)) in explicit_set and path.is_file() and path.stat().st_size == 0:
                _warning(f"{_display(path)}: empty file, nothing to check")
        diagnostics.extend(_lint_files(files, codes, settings, jobs))

    diagnostics = _apply_per_file_ignores(diagnostics, settings)
    internal = [d for d in diagnostics if d.kind == "internal-error"]
    reported = [d for d in diagnostics if d.kind != "internal-error"]
    reported.sort(key=lambda d: (d.filename, d.row, d.column, d.code or ""))
    for d in internal:
        _error(f"{d.filename}: {d.message}")

    out = Console(highlight=False, soft_wrap=True)
    fmt = output_format or ("full" if out.is_terminal else "concise")
    if statistics:
        if fmt == "json":
            counts: dict[str, dict] = {}
            for d in reported:
                entry = counts.setdefault(d.code or d.name, {"code": d.code, "name": d.name, "count": 0})
                entry["count"] += 1
            click.echo(json.dumps(sorted(counts.values(), key=lambda e: -e["count"]), indent=2))
        else:
            for line in statistics_lines(reported):
                click.echo(line)
    elif fmt == "json":
        click.echo(json_text(reported))
    elif fmt == "full":
        for d in reported:
            if d.filename not in sources and d.kind != "io-error":
                sources[d.filename] = _read_lines(d.filename)
        print_full(out, reported, sources)
    else:
        print_concise(out, reported)
    if fmt != "json" and not quiet:
        out.print(summary(len(reported)), highlight=False)

    if internal:
        status = EXIT_ERROR
    if status == EXIT_CLEAN and reported and not exit_zero:
        status = EXIT_FINDINGS
    sys.exit(status)


def _settings(config_path, isolated, select, extend_select, ignore, exclude, extend_exclude, respect_gitignore) -> Settings:
    if isolated:
        settings = Settings()
    else:
        path = config_path or find_config(Path.cwd())
        settings = load_settings(path)
    if select:
        settings.select = _split(select)
        resolve_selectors(settings.select, "--select")
    if extend_select:
        settings.extend_select = settings.extend_select + _split(extend_select)
        resolve_selectors(settings.extend_select, "--extend-select")
    if ignore:
        settings.ignore = settings.ignore + _split(ignore)
        resolve_selectors(settings.ignore, "--ignore")
    if exclude:
        settings.exclude = _split(exclude)
    if extend_exclude:
        settings.extend_exclude = settings.extend_exclude + _split(extend_exclude)
    if respect_gitignore is not None:
        settings.respect_gitignore = respect_gitignore
    return settings


def _display(path: Path) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:
        return str(path)


def _read_lines(filename: str) -> list[str]:
    try:
        return decode_source(Path(filename).read_bytes()).splitlines()
    except (OSError, LintError):
        return []


# -- the process pool ----------------------------------------------------------

_WORKER_RULES = None


def _worker_init(codes: set[str], options) -> None:
    global _WORKER_RULES
    _WORKER_RULES = build_rules(codes, options)


def _worker_lint(batch: list[tuple[str, str]]) -> list[Diagnostic]:
    found: list[Diagnostic] = []
    for path, display in batch:
        found.extend(lint_path(Path(path), display, _WORKER_RULES))
    return found


def _lint_files(files: list[Path], codes: set[str], settings: Settings, jobs: int | None) -> list[Diagnostic]:
    work = [(str(path), _display(path)) for path in files]
    jobs = jobs or os.cpu_count() or 1
    if jobs == 1 or len(work) <= 2:
        rules = build_rules(codes, settings.rule_options)
        return [d for path, display in work for d in lint_path(Path(path), display, rules)]
    # Small batches keep both cores busy to the end; "fork" avoids re-importing everything.
    batches = [work[i : i + 4] for i in range(0, len(work), 4)]
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods and sys.platform == "linux" else None)
    with ProcessPoolExecutor(max_workers=jobs, mp_context=context, initializer=_worker_init,
                             initargs=(codes, settings.rule_options)) as pool:
        return [d for result in pool.map(_worker_lint, batches) for d in result]


def _apply_per_file_ignores(diagnostics: list[Diagnostic], settings: Settings) -> list[Diagnostic]:
    if not settings.per_file_ignores:
        return diagnostics
    import fnmatch

    compiled = [(pattern, resolve_selectors(codes)) for pattern, codes in settings.per_file_ignores.items()]
    kept = []
    for d in diagnostics:
        path = Path(d.filename).absolute()
        try:
            relative = path.relative_to(settings.root).as_posix()
        except ValueError:
            relative = path.as_posix()
        ignored: set[str] = set()
        for pattern, codes in compiled:
            if fnmatch.fnmatchcase(relative, pattern) or fnmatch.fnmatchcase(path.name, pattern):
                ignored |= codes
        if d.code not in ignored:
            kept.append(d)
    return kept


# -- documentation ---------------------------------------------------------------


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

    table = Table(box=None, pad_edge=False)
    for column in ("code", "name", "default", "fix", "summary"):
        table.add_column(column, style="bold" if column == "code" else None)
    for r in rules:
        table.add_row(r.code, r.name, "on" if r.enabled_by_default else "off", r.fix_availability, r.summary)
    Console().print(table)


def rules_markdown_table() -> str:
    lines = ["| Code | Name | What it flags | Default | Fix |", "|---|---|---|---|---|"]
    for r in all_rules():
        lines.append(
            f"| [{r.code}](rules/{r.code}-{r.name}.md) | `{r.name}` | {r.summary} | "
            f"{'on' if r.enabled_by_default else 'off'} | {r.fix_availability} |"
        )
    return "\n".join(lines)
