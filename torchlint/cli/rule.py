"""`torchlint rule`: a rule's page."""

from __future__ import annotations

import sys

import click
from rich.console import Console

from torchlint.cli.common import EXIT_ERROR
from torchlint.rules import rule_by_code_or_name


@click.command("rule")
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
