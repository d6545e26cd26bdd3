"""Subcommand: delegate (least-privilege dns-01 through a challenge-only zone)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from certv6.cli.app import Options, cli, json_option, pass_options, print_json

if TYPE_CHECKING:  # the use case itself is imported inside the command (start-up cost)
    from certv6.service.delegate import Delegation

ALGORITHMS = ("hmac-sha256", "hmac-sha384", "hmac-sha512", "hmac-sha224")


@cli.command()
@click.argument("domains", nargs=-1, required=True, metavar="NAME...")
@click.option(
    "--to",
    "zone",
    required=True,
    metavar="ZONE",
    help="The challenge-only zone the names delegate to (e.g. acme.example.net).",
)
@click.option("--key-name", help="TSIG key name (default certv6.ZONE).")
@click.option(
    "--key-file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Where the key goes (default STATE_DIR/keys/KEY-NAME.key); an existing one is reused.",
)
@click.option(
    "--algorithm", type=click.Choice(ALGORITHMS), default="hmac-sha256", show_default=True
)
@click.option(
    "--challenge",
    "challenge_type",
    type=click.Choice(("dns-01", "dns-account-01")),
    default="dns-01",
    show_default=True,
    help="dns-account-01: delegate this account's _<label>._acme-challenge names instead.",
)
@click.option("--no-verify", is_flag=True, help="Only print; do not check the DNS from this host.")
@click.option("--state-dir", help="Where accounts, certificates and keys live.")
@json_option
@pass_options
def delegate(
    options: Options,
    /,
    *,
    domains: tuple[str, ...],
    zone: str,
    key_name: str | None,
    key_file: Path | None,
    algorithm: str,
    challenge_type: str,
    no_verify: bool,
    state_dir: str | None,
    as_json: bool,
) -> None:
    """Delegate _acme-challenge of NAME... to a zone a scoped TSIG key may change.

    Prints the CNAME records to add, makes a TSIG key, prints BIND and Knot
    configuration that lets the key change only those TXT records, then checks
    from this host that the CNAMEs exist and the zone answers over IPv6. With
    --challenge dns-account-01 the names are this account's labelled ones (the
    account is created first if there is none).
    """
    from certv6.errors import DnsError
    from certv6.service.delegate import DelegationRequest
    from certv6.service.delegate import delegate as run

    settings = options.settings(state_dir=state_dir)
    request = DelegationRequest(
        domains=domains,
        zone=zone,
        key_name=key_name,
        key_file=key_file.absolute() if key_file else None,
        algorithm=algorithm,
        verify=not no_verify,
        challenge=challenge_type,
    )
    result = run(settings, request, clock=options.clock)
    if as_json:
        print_json("delegate", {**to_json(result), "challenge": challenge_type})
    else:
        show(result, quiet=options.quiet)
    if not result.ok:
        raise DnsError(
            f"the delegation is not complete: {result.problems[0]}"
            + (f" (and {len(result.problems) - 1} more)" if len(result.problems) > 1 else ""),
            hint="add the records above, then run the same certv6 delegate command again",
        )


def show(result: Delegation, *, quiet: bool) -> None:
    echo = click.echo
    if not quiet:
        echo("1. Add these records to the zones of the names (once):\n")
    for alias in result.aliases:
        echo(f"    {alias.record}")
    if quiet:
        return
    state = "new" if result.key_created else "existing"
    echo(f"\n2. TSIG key {result.key_name} ({result.algorithm}, {state}):")
    echo(f"    {result.key_file}            (BIND key-file format, mode 0600)")
    echo(f"    {result.knot_key_file}  (the same key for Knot DNS)")
    echo(f"\n3. On the primary of {result.zone}, allow the key only these TXT records:\n")
    echo(_indent(bind_config(result)))
    echo(_indent(knot_config(result)))
    echo("4. In certv6.toml:\n")
    echo(_indent(certv6_config(result)))
    if result.checked:
        echo("Checked from this host:")
        for line in _check_lines(result):
            echo(f"    {line}")


def _check_lines(result: Delegation) -> list[str]:
    lines = []
    for alias in result.aliases:
        if alias.status == "ok":
            lines.append(f"ok       {alias.owner} -> {alias.found}")
        elif alias.status == "missing":
            lines.append(f"missing  {alias.owner} has no CNAME")
        else:
            lines.append(f"wrong    {alias.owner} -> {alias.found} (outside {result.zone})")
    for server in result.servers:
        mark = "ok     " if server.answered else "FAILED "
        lines.append(f"{mark}  {', '.join(server.nameservers)} [{server.address}]: {server.detail}")
    return lines


def to_json(result: Delegation) -> dict[str, Any]:
    """Everything but the secret (it is only ever in the key files)."""
    return {
        "zone": result.zone,
        "records": [
            {"owner": a.owner, "cname": a.target, "names": list(a.names), "status": a.status}
            for a in result.aliases
        ],
        "key": {
            "name": result.key_name,
            "algorithm": result.algorithm,
            "file": str(result.key_file),
            "knot_file": str(result.knot_key_file),
            "created": result.key_created,
        },
        "bind": bind_config(result),
        "knot": knot_config(result),
        "certv6": certv6_config(result),
        "checked": result.checked,
        "servers": [
            {
                "nameservers": list(s.nameservers),
                "address": s.address,
                "answered": s.answered,
                "detail": s.detail,
            }
            for s in result.servers
        ],
        "ok": result.ok,
        "problems": list(result.problems),
    }


def bind_config(result: Delegation) -> str:
    """named.conf lines: the key, and a zone whose update-policy grants it only our TXT names."""
    zone = result.zone.rstrip(".")
    grants = "".join(
        f"        grant {result.key_name} name {alias.target} TXT;\n" for alias in result.aliases
    )
    return (
        f"// BIND 9 (named.conf); copy {result.key_file} to the server first\n"
        f'include "{result.key_file}";\n'
        f'zone "{zone}" {{\n'
        "    type primary;\n"
        f'    file "{zone}.db";\n'
        "    // Only TXT, only at these names. To allow any name of this challenge-only\n"
        f"    // zone instead: grant {result.key_name} subdomain {result.zone} TXT;\n"
        f"    update-policy {{\n{grants}    }};\n"
        "};\n"
    )


def knot_config(result: Delegation) -> str:
    """knot.conf sections: the key (included), an ACL for updates of TXT at our names only."""
    acl = "certv6-" + result.zone.rstrip(".").replace(".", "-")
    names = ", ".join(alias.target for alias in result.aliases)
    return (
        f"# Knot DNS (knot.conf); copy {result.knot_key_file} to the server first\n"
        f"include: {result.knot_key_file}\n"
        "acl:\n"
        f"  - id: {acl}\n"
        f"    key: {result.key_name}\n"
        "    action: update\n"
        "    update-type: [TXT]\n"
        "    update-owner: name\n"
        "    update-owner-match: equal\n"
        f"    update-owner-name: [{names}]\n"
        "zone:\n"
        f"  - domain: {result.zone.rstrip('.')}\n"
        f"    acl: [{acl}]\n"
    )


def certv6_config(result: Delegation) -> str:
    return (
        "[provider.rfc2136]\n"
        f'key_file = "{result.key_file}"\n'
        f"# server = '[2001:db8::53]:53'  # default: the primary (SOA MNAME) of {result.zone}\n"
    )


def _indent(text: str) -> str:
    return "".join(f"    {line}\n" if line else "\n" for line in text.splitlines())
