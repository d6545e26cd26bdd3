"""Subcommand: persist (the standing dns-persist-01 record to add once)."""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING, Any

import click

from certv6.cli.app import Options, cli, domain_option, json_option, pass_options, print_json

if TYPE_CHECKING:  # the use case itself is imported inside the command (start-up cost)
    from certv6.service.persist import PersistResult
    from certv6.service.standing import StandingCheck

DATE_FORMATS = ["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"]


@cli.command()
@domain_option(
    "A name to validate with dns-persist-01; '*.NAME' adds policy=wildcard. Repeat.",
    required=True,
)
@click.option(
    "--until",
    type=click.DateTime(DATE_FORMATS),
    help="persistUntil: the record stops authorizing at this time (UTC, e.g. 2027-06-30).",
)
@click.option(
    "--publish",
    is_flag=True,
    help="Write the record with the configured DNS provider (default: only print it).",
)
@click.option("--provider", "-p", help="DNS provider for --publish (default: the only one).")
@click.option("--server", help="ACME directory URL or letsencrypt / letsencrypt-staging.")
@click.option("--email", "-m", help="Contact address for the ACME account.")
@click.option("--agree-tos", is_flag=True, help="Agree to the CA's terms of service.")
@click.option("--state-dir", help="Where accounts and certificates live.")
@click.option("--ca-bundle", help="Extra CA certificates to trust for the CA's TLS.")
@json_option
@pass_options
def persist(
    options: Options,
    /,
    *,
    domains: tuple[str, ...],
    until: datetime.datetime | None,
    publish: bool,
    provider: str | None,
    as_json: bool,
    **flags: object,
) -> None:
    """Print the TXT record that lets this account validate NAME with dns-persist-01.

    The CA's issuer domain name and this account's URI come from the CA (a fresh
    authorization, deactivated at once). Add the record once, by hand or with
    --publish; from then on `certv6 issue/renew` with challenge = "dns-persist-01"
    need no DNS credentials. Every authoritative nameserver is asked what it
    serves now; the command exits 6 until all of them serve a record that works.
    """
    from certv6.service.persist import PersistRequest
    from certv6.service.persist import persist as run
    from certv6.service.standing import StandingRecordError

    settings = options.settings(**flags)
    request = PersistRequest(
        domains=domains,
        until=until.replace(tzinfo=datetime.UTC) if until else None,
        publish=publish,
        provider=provider,
    )
    progress = options.progress()
    try:
        result = run(settings, request, clock=options.clock, progress=progress)
    finally:
        progress.close()
    if as_json:
        print_json("persist", to_json(result))
    else:
        show(result, quiet=options.quiet)
    failing = [each for each in result.checks if not each.ok]
    if failing:
        more = f" (and {len(failing) - 1} more)" if len(failing) > 1 else ""
        raise StandingRecordError(
            failing[0].message() + more,
            qname=failing[0].owner,
            hint="add the record shown above (by hand, or --publish with a provider), "
            "then run the same certv6 persist command again",
        )


def show(result: PersistResult, *, quiet: bool) -> None:
    from certv6.dnspersist import zone_file_line

    echo = click.echo
    if not quiet:
        issuers = ", ".join(result.issuer_domain_names)
        came = "from the CA" if result.source == "challenge" else "issuer_domain_name"
        echo(f"CA issuer domain name: {issuers} ({came}); account: {result.account_uri}")
        what = f"published with {result.published}" if result.published else "add once"
        echo(f"\nThe standing dns-persist-01 record(s) ({what}):\n")
    names = dict(result.names)
    for owner, expected in result.records:
        echo(f"    {zone_file_line(owner, expected.record(result.until))}")
        if not quiet:
            echo(f"        ; for {', '.join(names[owner])}")
    if quiet:
        return
    echo("\nEvery authoritative nameserver, now:")
    for each in result.checks:
        for line in _check_lines(each):
            echo(f"    {line}")


def _check_lines(check: StandingCheck) -> list[str]:
    lines = []
    for server in check.servers:
        if server.verdict is None:
            lines.append(f"no answer  {server.label}: {check.effective_owner}")
        elif server.verdict.ok:
            lines.append(f"ok         {server.label}: {check.effective_owner}")
        else:
            problem = str(server.verdict.problem)
            lines.append(f"{problem:<10} {server.label}: {server.verdict.detail}")
    if not check.servers:
        lines.append(f"{check.verdict.problem}: {check.verdict.detail}")
    return lines


def to_json(result: PersistResult) -> dict[str, Any]:
    from certv6.dnspersist import character_strings, zone_file_line

    names = dict(result.names)
    checks = {each.owner: each for each in result.checks}
    records = []
    for owner, expected in result.records:
        value = expected.record(result.until)
        check = checks.get(owner)
        records.append(
            {
                "owner": owner,
                "names": list(names[owner]),
                "value": value,
                "strings": character_strings(value),
                "zone_file_line": zone_file_line(owner, value),
                "effective_owner": check.effective_owner if check else owner,
                "ok": bool(check and check.ok),
                "problem": str(check.verdict.problem) if check and not check.ok else None,
                "detail": check.verdict.detail if check else None,
                "servers": [_server_json(s) for s in check.servers] if check else [],
            }
        )
    return {
        "issuer_domain_names": list(result.issuer_domain_names),
        "account_uri": result.account_uri,
        "source": result.source,
        "published": result.published or None,
        "persist_until": result.until.isoformat() if result.until else None,
        "records": records,
        "ok": result.ok,
    }


def _server_json(server: Any) -> dict[str, Any]:
    verdict = server.verdict
    return {
        "server": server.label,
        "answered": server.texts is not None,
        "texts": list(server.texts) if server.texts is not None else None,
        "problem": str(verdict.problem) if verdict is not None and verdict.problem else None,
    }
