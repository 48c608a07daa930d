"""`torchlint verify`: run scripts before and after their fixes, compare results and speed."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import click
from rich.console import Console

from torchlint.cli.common import EXIT_CLEAN, EXIT_ERROR, EXIT_FINDINGS, display, echo_error
from torchlint.engine import build_rules
from torchlint.rules import all_rules
from torchlint.run import split_option
from torchlint.settings import ConfigError, Settings, resolve_selectors

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
    package = Path(__file__).parent.parent
    packaged = package / "_runtime_fixtures"
    return packaged if packaged.is_dir() else package.parent / "fixtures" / "runtime"


@click.command(context_settings={"ignore_unknown_options": True})
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
        echo_error("`torchlint verify` runs the scripts and needs torch: pip install 'torchlint[runtime]'")
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
        echo_error(f"{missing[0]}: no such file")
        sys.exit(EXIT_ERROR)
    notebooks = [p for p in paths if p.suffix == ".ipynb"]
    if notebooks:
        echo_error(f"{notebooks[0]}: verify runs Python scripts; export the notebook first (jupyter nbconvert --to script)")
        sys.exit(EXIT_ERROR)
    if device == "cuda":
        from torchlint.runtime.verify import cuda_available

        if not cuda_available():
            echo_error("--device cuda: no CUDA device is available here")
            sys.exit(EXIT_ERROR)
    try:
        codes = resolve_selectors(split_option(select)) if select else {r.code for r in all_rules()}
    except ConfigError as error:
        echo_error(str(error))
        sys.exit(EXIT_ERROR)
    from torchlint.runtime.verify import render_table, verify_script

    rules = build_rules(codes, Settings().rule_options)
    reports = []
    for path in paths:
        if output_format == "table":
            click.echo(f"verifying {display(path)} ...", err=True)
        report = verify_script(path, script_args, _bundled_rules(path, rules) if not scripts else rules,
                               unsafe=unsafe_fixes, repeats=repeats, max_steps=max_steps, timeout=timeout, device=device)
        if scripts:
            report.name = display(path)  # a user's script: its path, not only its stem
        reports.append(report)
    if output_format == "json":
        click.echo(json.dumps({"device": device, "repeats": repeats, "max_steps": max_steps,
                               "fixtures": [r.to_dict() for r in reports]}, indent=2))
    else:
        console = Console(highlight=False)
        render_table(console if console.is_terminal else Console(highlight=False, width=160), reports)
    sys.exit(EXIT_CLEAN if all(r.passed for r in reports) else EXIT_FINDINGS)
