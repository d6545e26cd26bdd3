"""`certv6 doctor`: every IPv6 problem before the first order, one report."""

from __future__ import annotations

import shutil
import sys

import click

from certv6.cli.app import Options, cli, domain_option, json_option, pass_options, print_json
from certv6.settings import CHALLENGE_TYPES


@cli.command()
@domain_option("A name to check (CAA, challenge zone, nameservers, AAAA); repeat for more.")
@click.option("--name", "-n", help="Check a stored certificate's names and provider.")
@click.option("--provider", "-p", help="DNS provider (default: the only one configured).")
@click.option(
    "--write-test",
    is_flag=True,
    help="Publish one canary TXT value per name, wait until it is visible, remove it.",
)
@click.option(
    "--challenge",
    "challenge",
    type=click.Choice(CHALLENGE_TYPES),
    multiple=True,
    help="The challenge(s) to check for (default: the certificate's, else the setting).",
)
@click.option("--server", help="ACME directory URL or letsencrypt / letsencrypt-staging.")
@click.option("--ca-bundle", help="Extra CA certificates to trust for the CA's TLS.")
@click.option("--state-dir", help="Where accounts and certificates live.")
@json_option
@pass_options
def doctor(
    options: Options,
    /,
    *,
    domains: tuple[str, ...],
    name: str | None,
    provider: str | None,
    write_test: bool,
    challenge: tuple[str, ...],
    as_json: bool,
    **flags: object,
) -> None:
    """Check this host, the CA, the provider and each name; exit 0 when nothing fails."""
    from certv6.doctor import render_table
    from certv6.service.doctor import DoctorRequest
    from certv6.service.doctor import doctor as run_doctor

    settings = options.settings(**flags)
    request = DoctorRequest(
        domains=domains,
        name=name,
        provider=provider,
        write_test=write_test,
        challenges=challenge,
    )
    report = run_doctor(settings, request, clock=options.clock)
    if as_json:
        print_json("doctor", report.to_json())
    else:
        # Wrapped to fit a terminal; one long line per finding for pipes and logs.
        width = shutil.get_terminal_size().columns if sys.stdout.isatty() else 0
        click.echo(render_table(report, width=width))
    report.raise_if_failed()  # exit 1, after the report is out
