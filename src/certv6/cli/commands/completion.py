"""`certv6 completion bash|zsh|fish`: the shell's completion script, from click."""

from __future__ import annotations

import click

from certv6.cli.app import cli

SHELLS = ("bash", "zsh", "fish")
_WHERE = {
    "bash": "certv6 completion bash > /etc/bash_completion.d/certv6",
    "zsh": 'certv6 completion zsh > "${fpath[1]}/_certv6"',
    "fish": "certv6 completion fish > ~/.config/fish/completions/certv6.fish",
}


@cli.command(epilog="Install it once, e.g.: " + "; ".join(_WHERE.values()))
@click.argument("shell", type=click.Choice(SHELLS))
def completion(shell: str) -> None:
    """Print the completion script for SHELL (commands, options, certificate targets)."""
    from click.shell_completion import get_completion_class

    completer = get_completion_class(shell)
    if completer is None:  # pragma: no cover - click ships all three
        raise click.UsageError(f"no completion for {shell}")
    click.echo(completer(cli, {}, "certv6", "_CERTV6_COMPLETE").source())
