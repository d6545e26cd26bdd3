"""`certv6 revoke`."""

from __future__ import annotations

import click

from certv6.cli.app import Options, cli, pass_options

REASONS = (
    "unspecified",
    "keyCompromise",
    "affiliationChanged",
    "superseded",
    "cessationOfOperation",
)


@cli.command()
@click.option("--name", "-n", required=True, help="Certificate name in the store.")
@click.option(
    "--reason",
    type=click.Choice(REASONS),
    default="unspecified",
    show_default=True,
    help="RFC 5280 reason code.",
)
@click.option("--state-dir", help="Where accounts and certificates live.")
@pass_options
def revoke(options: Options, /, *, name: str, reason: str, state_dir: str | None) -> None:
    """Revoke a stored certificate (it stays in the store; renew to replace it)."""
    from certv6.service.revoke import revoke as revoke_certificate

    serial = revoke_certificate(options.settings(state_dir=state_dir), name, reason)
    if not options.quiet:
        click.echo(f"{name}: revoked (serial {serial})")
