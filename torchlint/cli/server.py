"""`torchlint server`: the language server, for editors (see torchlint.server)."""

from __future__ import annotations

import click


@click.command()
def server() -> None:
    """Run the language server (LSP over stdio) for editors: findings as you type, fixes
    and `# noqa` as code actions."""
    from torchlint.server import serve

    serve()
