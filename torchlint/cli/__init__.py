"""The command line: `torchlint check`, `fix`, `rule`, `rules`, `verify` and `server`, one
module each in this package (what they share is in `common`).

Exit codes: 0 clean, 1 findings, 2 usage, configuration or internal error.
"""

from __future__ import annotations

import signal
import sys

import click

from torchlint import __version__
from torchlint.cli import check, fix, rule, rules, server, verify


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


main.add_command(check.check)
main.add_command(fix.fix)
main.add_command(rule.rule_command)
main.add_command(rules.rules_command)
main.add_command(server.server)
main.add_command(verify.verify)
