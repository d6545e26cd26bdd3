"""`certv6 revoke`."""

from __future__ import annotations

import click

from certv6.cli.app import Options, cli, json_option, pass_options, print_json

# RFC 5280 5.3.1 reason codes as certv6 spells them (RFC 8555 7.6 sends the number).
REASONS = (
    "unspecified",
    "keyCompromise",
    "affiliationChanged",
    "superseded",
    "cessationOfOperation",
)


def canonical_reason(text: str) -> str | None:
    """``keyCompromise`` for ``keycompromise``, ``key-compromise``... (certbot spells them
    in lower case); None when it is no reason at all."""
    lowered = text.replace("-", "").replace("_", "").lower()
    return next((reason for reason in REASONS if reason.lower() == lowered), None)


class Reason(click.Choice[str]):
    """A reason in certv6's or certbot's spelling."""

    def __init__(self) -> None:
        super().__init__(REASONS)

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> str:
        return canonical_reason(str(value)) or str(super().convert(value, param, ctx))


@cli.command()
@click.option("--name", "-n", "--cert-name", required=True, help="Certificate name in the store.")
@click.option(
    "--reason",
    type=Reason(),
    default="unspecified",
    show_default=True,
    help="RFC 5280 reason code (any letter case: certbot's keycompromise works too).",
)
@click.option("--state-dir", help="Where accounts and certificates live.")
@json_option
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
        print_json("revoke", {"name": name, "serial": serial, "reason": reason})
    elif not options.quiet:
        click.echo(
            f"{name}: revoked (serial {serial}); the next certv6 renew replaces it "
            f"(certv6 delete --name {name} if it should not be)"
        )
