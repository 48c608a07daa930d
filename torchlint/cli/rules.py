"""`torchlint rules`: every rule, as a table, JSON or the README's Markdown table."""

from __future__ import annotations

import json

import click

from torchlint.cli.common import stdout_console
from torchlint.docs import rule_url
from torchlint.rules import all_rules


@click.command("rules")
@click.option("--output-format", type=click.Choice(["text", "json", "markdown"]), default="text")
def rules_command(output_format: str) -> None:
    """List every rule with its code, name, default state and fix availability."""
    rules = all_rules()
    if output_format == "json":
        rows = [
            {"code": r.code, "name": r.name, "summary": r.summary, "default": r.enabled_by_default,
             "fix": r.fix_availability, "url": rule_url(r)}
            for r in rules
        ]
        click.echo(json.dumps(rows, indent=2))
        return
    if output_format == "markdown":
        click.echo(rules_markdown_table())
        return
    from rich.table import Table

    console = stdout_console()
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
