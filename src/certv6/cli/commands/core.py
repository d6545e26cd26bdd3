"""Subcommands: issue, list, cleanup."""

from __future__ import annotations

import datetime

import click

from certv6.cli.app import Options, ProgressLine, cli, pass_options, print_json
from certv6.settings import KEY_TYPES, Settings

# Use cases are imported inside the commands: `certv6 --help` and shell
# completion should not pay for importing acme, cryptography and dnspython.


@cli.command()
@click.option(
    "--domain",
    "-d",
    "domains",
    multiple=True,
    required=True,
    metavar="NAME",
    help="A name for the certificate; repeat for more. '*.example.org' for a wildcard.",
)
@click.option("--name", "-n", help="Certificate name in the store (default: the first domain).")
@click.option("--provider", "-p", help="DNS provider (default: the only one configured).")
@click.option("--key-type", type=click.Choice(KEY_TYPES), help="Certificate key (default ec256).")
@click.option(
    "--server",
    help="The CA: a shortcut (letsencrypt, zerossl, ...), a [ca.NAME] name or a directory URL; "
    "several separated by commas are tried in order.",
)
@click.option("--email", help="Contact address for the ACME account.")
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
    "--force", is_flag=True, help="Order a new certificate even if the stored one is not due."
)
@click.option("--expand", is_flag=True, help="Allow adding names to an existing certificate.")
@click.option(
    "--replace-names", is_flag=True, help="Allow changing the names of an existing certificate."
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON on stdout.")
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
    force: bool,
    expand: bool,
    replace_names: bool,
    as_json: bool,
    **flags: object,
) -> None:
    """Get a certificate for the given names through dns-01.

    Run again with the same names, it keeps the stored certificate until it is
    due (--force orders anyway); other names need --expand or --replace-names.
    """
    from certv6.service.fallback import issue_from_cas
    from certv6.service.issue import IssueRequest
    from certv6.service.issue_policy import Reissue

    settings = options.settings(**flags)
    progress = ProgressLine(options.quiet)
    table = settings.certificates.get(name or "", {})
    request = IssueRequest(
        domains=domains,
        name=name,
        provider=provider,
        key_type=key_type,
        profile=profile or _text(table.get("profile")),
        profile_policy=profile_policy or _text(table.get("profile_policy")) or "preferred",
        reissue=Reissue(force=force, expand=expand, replace_names=replace_names),
    )
    try:
        result = issue_from_cas(settings, request, clock=options.clock, progress=progress)
    finally:
        progress.close()
    if as_json:
        print_json(
            {
                "name": result.name,
                "domains": list(result.domains),
                "path": str(result.live_directory),
                "not_after": result.not_after.isoformat(),
                "sha256": result.sha256,
                "timings": {k: round(v, 4) for k, v in result.timings.items()},
                "warnings": list(result.warnings),
                "kept": bool(result.kept),
                "detail": result.kept or "issued",
                "ca": result.ca or None,
                "skipped": list(result.skipped),
            }
        )
    elif result.kept:
        click.echo(f"{result.name}: {result.kept}")
    elif not options.quiet:
        issuer = f", issued by {result.ca}" if len(settings.ca_urls()) > 1 else ""
        click.echo(
            f"{result.name}: {result.live_directory}/fullchain.pem "
            f"(valid until {result.not_after:%Y-%m-%d}, {result.timings['total']:.2f} s{issuer})"
        )
    # After the result is shown: the certificate is stored whether or not the
    # servers take it; an install failure exits 10 (a no-op without install tables)
    # and stays owed, so the next certv6 renew tries again. A kept certificate is
    # installed only when an earlier install is still owed.
    from certv6.service.install import install_configured

    if not result.kept or _install_owed(settings, result.name):
        install_configured(settings, result.name, clock=options.clock, owed_only=bool(result.kept))


@cli.command(name="list")
@click.option("--state-dir", help="Where accounts and certificates live.")
@click.option(
    "--check",
    is_flag=True,
    help="Monitoring plugin: exit 0 ok, 1 warning, 2 critical, 3 unknown (Nagios/Icinga).",
)
@click.option(
    "--warn-days",
    type=click.FloatRange(min=0),
    help="Warn when a certificate expires within this many days (default 14, at most a "
    "quarter of its lifetime).",
)
@click.option(
    "--critical-days",
    type=click.FloatRange(min=0),
    help="Critical within this many days (default 7, at most an eighth of its lifetime).",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output on stdout.")
@pass_options
def list_(
    options: Options,
    /,
    *,
    state_dir: str | None,
    check: bool,
    warn_days: float | None,
    critical_days: float | None,
    as_json: bool,
) -> None:
    """Show stored certificates: names, expiry, next renewal and health.

    Exits 9 when a certificate's or an account's files are damaged. With --check
    the exit code follows the monitoring plugin convention instead (docs/monitoring.md).
    """
    from certv6.service.status import Thresholds

    thresholds = Thresholds(_days(warn_days), _days(critical_days))
    if check:
        from certv6.cli.monitoring import run_check

        run_check(options, state_dir, thresholds, as_json=as_json)
        return
    from certv6.service.listing import list_certificates

    listing = list_certificates(
        options.settings(state_dir=state_dir), clock=options.clock, thresholds=thresholds
    )
    if as_json:
        print_json([summary.to_json() for summary in listing.certificates])
        for account in listing.accounts:
            click.echo(f"account {account.directory}: damaged: {account.problem}", err=True)
    else:
        from certv6.cli.monitoring import show_listing

        show_listing(listing)
    if listing.damaged:
        raise click.exceptions.Exit(9)


@cli.command()
@click.option(
    "--stale",
    is_flag=True,
    required=True,
    help="Remove TXT values that interrupted runs left behind.",
)
@click.option(
    "--forget",
    multiple=True,
    metavar="VALUE",
    help="Drop VALUE from the ledger without touching the DNS (after removing it by hand).",
)
@click.option(
    "--all", "forget_all", is_flag=True, help="Drop every stale value from the ledger (--forget)."
)
@click.option("--state-dir", help="Where accounts and certificates live.")
@click.option("--json", "as_json", is_flag=True, help="Print the counts as JSON on stdout.")
@pass_options
def cleanup(
    options: Options,
    /,
    *,
    stale: bool,
    forget: tuple[str, ...],
    forget_all: bool,
    state_dir: str | None,
    as_json: bool,
) -> None:
    """Remove dns-01 TXT values left behind by interrupted runs (exit 8 if some stay)."""
    from certv6.service.cleanup import cleanup_stale
    from certv6.service.runtime import build_dns
    from certv6.store import Store

    settings = options.settings(state_dir=state_dir)
    store = Store(settings.state_dir).ensure()
    result = cleanup_stale(
        settings,
        store,
        build_dns(settings),
        options.clock,
        forget=frozenset(forget),
        forget_all=forget_all,
    )
    if as_json:
        print_json(
            {
                "removed": result.removed,
                "failed": result.failed,
                "forgotten": result.forgotten,
                "left": list(result.left),
            }
        )
    else:
        forgotten = f"; dropped {result.forgotten} from the ledger" if result.forgotten else ""
        click.echo(f"removed {result.removed} stale TXT value(s){forgotten}")
        for line in result.left:
            click.echo(f"not removed: {line}")
    if result.failed:
        click.echo(
            "  hint: fix what the error says and run certv6 cleanup --stale again; values you "
            "removed by hand: certv6 cleanup --stale --forget VALUE (or --all)",
            err=True,
        )
        raise click.exceptions.Exit(8)


def _install_owed(settings: Settings, name: str) -> bool:
    from certv6.store import Store

    snapshot = Store(settings.state_dir).lineages.get(name).snapshot()
    return snapshot is not None and snapshot.health.install_owed


def _days(days: float | None) -> datetime.timedelta | None:
    return datetime.timedelta(days=days) if days is not None else None


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
