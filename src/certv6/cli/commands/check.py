"""`certv6 check-txt`: the propagation checker on its own."""

from __future__ import annotations

import click

from certv6.cli.app import Options, cli, json_option, pass_options, print_json


@cli.command(name="check-txt")
@click.argument("owner")
@click.argument("values", nargs=-1, required=True)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    help="Seconds to wait for every nameserver (default 120).",
)
@click.option(
    "--poll-interval",
    type=click.FloatRange(min=0, min_open=True),
    help="Longest pause between rounds (default 1).",
)
@click.option(
    "--policy",
    type=click.Choice(("all-reachable", "strict")),
    help="strict: an IPv4-only nameserver without NAT64 is a failure.",
)
@click.option("--once", is_flag=True, help="Look once and report; do not wait.")
@json_option
@pass_options
def check_txt(
    options: Options,
    /,
    *,
    owner: str,
    values: tuple[str, ...],
    timeout: float | None,
    poll_interval: float | None,
    policy: str | None,
    once: bool,
    as_json: bool,
) -> None:
    """Wait until every authoritative nameserver serves VALUES at OWNER; exit 0 when they do.

    OWNER is the TXT record's name, e.g. _acme-challenge.example.org; CNAMEs are followed.
    """
    from certv6.errors import PropagationTimeout
    from certv6.propagation import render_table
    from certv6.service.check import CheckRequest, check_txt

    request = CheckRequest(owner, values, timeout, poll_interval, policy, once)
    progress = options.progress()
    try:
        report = check_txt(options.settings(), request, progress=progress)
    except PropagationTimeout as error:
        progress.close()
        if as_json and error.report is not None:
            print_json("check-txt", error.report.to_json())  # type: ignore[attr-defined]
        raise
    progress.close()
    if as_json:
        print_json("check-txt", report.to_json())
    elif not options.quiet:
        click.echo(render_table(report))
        click.echo(report.summary())
    if once and not report.visible:
        raise PropagationTimeout(
            "not visible everywhere yet", report=None, hint="run without --once to wait for it"
        )
