"""`certv6 revoke`."""

from __future__ import annotations

import click

from certv6.cli.app import Options, cli, pass_options, print_json

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
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON on stdout.")
@pass_options
def revoke(
    options: Options, /, *, name: str, reason: str, state_dir: str | None, as_json: bool
) -> None:
    """Revoke a stored certificate; the next 'certv6 renew' replaces and installs a new one.

    'certv6 delete --name NAME' removes a certificate that should not be replaced.
    """
    from certv6.service.revoke import revoke as revoke_certificate

    settings = options.settings(state_dir=state_dir)
    serial = revoke_certificate(settings, name, reason, clock=options.clock)
    if as_json:
        print_json({"name": name, "serial": serial, "reason": reason})
    elif not options.quiet:
        click.echo(
            f"{name}: revoked (serial {serial}); the next certv6 renew replaces it "
            f"(certv6 delete --name {name} if it should not be)"
        )
