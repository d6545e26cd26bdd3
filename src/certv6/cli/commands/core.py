"""Subcommands: issue, list, cleanup."""

from __future__ import annotations

import click

from certv6.cli.app import Options, cli, domain_option, json_option, pass_options, print_json
from certv6.settings import KEY_TYPES

# certbot's --key-type values, with its default curve and size.
CERTBOT_KEY_TYPES = {"ecdsa": "ec256", "rsa": "rsa2048"}

# Use cases are imported inside the commands: `certv6 --help` and shell
# completion should not pay for importing acme, cryptography and dnspython.


@cli.command()
@domain_option(
    "A name for the certificate; repeat for more (or a,b as certbot). '*.example.org' for a "
    "wildcard.",
    required=True,
)
@click.option(
    "--name",
    "-n",
    "--cert-name",
    help="Certificate name in the store (default: the first domain).",
)
@click.option("--provider", "-p", help="DNS provider (default: the only one configured).")
@click.option(
    "--key-type",
    type=click.Choice((*KEY_TYPES, *CERTBOT_KEY_TYPES)),
    help="Certificate key (default ec256; certbot's ecdsa = ec256, rsa = rsa2048).",
)
@click.option("--server", help="ACME directory URL or letsencrypt / letsencrypt-staging.")
@click.option("--email", "-m", help="Contact address for the ACME account.")
@click.option("--agree-tos", is_flag=True, help="Agree to the CA's terms of service.")
@click.option("--state-dir", help="Where accounts and certificates live.")
@click.option("--ca-bundle", help="Extra CA certificates to trust for the CA's TLS.")
@click.option(
    "--propagation-timeout",
    type=click.FloatRange(min=0, min_open=True, max=86400),
    help="Seconds to wait for every nameserver.",
)
@click.option("--profile", help="ACME profile to ask for (default: [certificate.NAME] profile).")
@click.option(
    "--profile-policy",
    type=click.Choice(("preferred", "required")),
    help="required: fail if the CA does not list the profile (default preferred).",
)
@click.option(
    "--deploy-hook",
    "issue_deploy_hook",
    metavar="CMD",
    help="Shell command run after this certificate is stored and installed (RENEWED_LINEAGE, "
    "RENEWED_DOMAINS); for renewals set deploy_hook in [certificate.NAME].",
)
@json_option
@pass_options
def issue(
    options: Options,
    /,
    *,
    domains: tuple[str, ...],
    name: str | None,
    provider: str | None,
    key_type: str | None,
    profile: str | None,
    profile_policy: str | None,
    issue_deploy_hook: str | None,
    as_json: bool,
    **flags: object,
) -> None:
    """Get a certificate for the given names through dns-01."""
    from certv6.service.issue import IssueRequest
    from certv6.service.issue import issue as issue_certificate

    settings = options.settings(**flags)
    progress = options.progress()
    table = settings.certificates.get(name or "", {})
    request = IssueRequest(
        domains=_certbot_domains(domains),
        name=name,
        provider=provider,
        key_type=CERTBOT_KEY_TYPES.get(key_type or "", key_type),
        profile=profile or _text(table.get("profile")),
        profile_policy=profile_policy or _text(table.get("profile_policy")) or "preferred",
    )
    try:
        result = issue_certificate(settings, request, progress=progress)
    finally:
        progress.close()
    if as_json:
        print_json(
            "issue",
            {
                "name": result.name,
                "domains": list(result.domains),
                "path": str(result.live_directory),
                "not_after": result.not_after.isoformat(),
                "sha256": result.sha256,
                "timings": {k: round(v, 4) for k, v in result.timings.items()},
            },
        )
    elif not options.quiet:
        click.echo(
            f"{result.name}: {result.live_directory}/fullchain.pem "
            f"(valid until {result.not_after:%Y-%m-%d}, {result.timings['total']:.2f} s)"
        )
    # After the result is shown: the certificate is stored whether or not the
    # servers take it; an install failure exits 10 (a no-op without install tables).
    from certv6.service.install import install_configured

    install_configured(settings, result.name)
    if issue_deploy_hook:
        _deploy_hook(issue_deploy_hook, result.live_directory, result.domains)


@cli.command(name="list")
@click.option("--state-dir", help="Where accounts and certificates live.")
@json_option
@pass_options
def list_(options: Options, state_dir: str | None, as_json: bool) -> None:
    """Show stored certificates: names, expiry and next renewal."""
    from certv6.service.listing import list_certificates

    summaries = list_certificates(options.settings(state_dir=state_dir))
    if as_json:
        print_json("list", {"certificates": [summary.to_json() for summary in summaries]})
        return
    if not summaries:
        click.echo("no certificates yet")
        return
    rows = [("NAME", "DOMAINS", "NOT AFTER", "NEXT RENEWAL", "WHY")]
    for s in summaries:
        rows.append(
            (
                s.name,
                ",".join(s.domains) or "-",
                f"{s.not_after:%Y-%m-%d %H:%M}" if s.not_after else "-",
                f"{s.next_renewal:%Y-%m-%d %H:%M}" if s.next_renewal else "-",
                f"problem: {s.problem}" if s.problem else s.renewal_reason,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )


@cli.command()
@click.option(
    "--stale",
    is_flag=True,
    required=True,
    help="Remove TXT values that interrupted runs left behind.",
)
@click.option("--state-dir", help="Where accounts and certificates live.")
@json_option
@pass_options
def cleanup(options: Options, stale: bool, state_dir: str | None, as_json: bool) -> None:
    """Remove dns-01 TXT values left behind by interrupted runs."""
    from certv6.service.cleanup import cleanup_stale
    from certv6.service.runtime import build_dns
    from certv6.store import Store

    settings = options.settings(state_dir=state_dir)
    store = Store(settings.state_dir).ensure()
    result = cleanup_stale(settings, store, build_dns(settings), options.clock)
    if as_json:
        print_json(
            "cleanup",
            {"ok": not result.failed, "removed": result.removed, "failed": result.failed},
        )
    else:
        click.echo(
            f"removed {result.removed} stale TXT value(s)"
            + (f"; {result.failed} batch(es) failed, see above" if result.failed else "")
        )
    if result.failed:
        raise click.exceptions.Exit(8)


def _certbot_domains(given: tuple[str, ...]) -> tuple[str, ...]:
    """``-d a.example,b.example`` (certbot's spelling) is ``-d a.example -d b.example``."""
    return tuple(part.strip() for domain in given for part in domain.split(","))


def _deploy_hook(command: str, live: object, domains: tuple[str, ...]) -> None:
    from certv6.errors import InstallError
    from certv6.service.renew.shell_hooks import run_hook

    env = {"RENEWED_LINEAGE": str(live), "RENEWED_DOMAINS": " ".join(domains)}
    problem = run_hook("deploy", command, env)
    if problem:
        raise InstallError(
            f"the certificate is stored, but {problem}",
            step="deploy-hook",
            hint="fix the hook, then run it by hand or run certv6 install",
        )


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
