"""Subcommands: issue, list, cleanup."""

from __future__ import annotations

import datetime

import click

from certv6.cli.app import Options, cli, domain_option, json_option, pass_options, print_json
from certv6.settings import CHALLENGE_TYPES, KEY_TYPES, Settings

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
@click.option(
    "--server",
    help="The CA: a shortcut (letsencrypt, zerossl, ...), a [ca.NAME] name or a directory URL; "
    "several separated by commas are tried in order.",
)
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
    "--challenge",
    "challenge",
    type=click.Choice(CHALLENGE_TYPES),
    multiple=True,
    help="DNS challenge to answer; repeat for a fallback, the first the CA offers wins "
    "(default: [certificate.NAME] challenge, else the challenge setting, else dns-01).",
)
@click.option(
    "--force",
    "--force-renewal",
    is_flag=True,
    help="Order a new certificate even if the stored one is not due (certbot: --force-renewal).",
)
@click.option("--expand", is_flag=True, help="Allow adding names to an existing certificate.")
@click.option(
    "--replace-names", is_flag=True, help="Allow changing the names of an existing certificate."
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
    challenge: tuple[str, ...],
    force: bool,
    expand: bool,
    replace_names: bool,
    issue_deploy_hook: str | None,
    as_json: bool,
    **flags: object,
) -> None:
    """Get a certificate for the given names through dns-01 (or --challenge).

    Run again with the same names, it keeps the stored certificate until it is
    due (--force orders anyway); other names need --expand or --replace-names.
    """
    from certv6.service.fallback import issue_from_cas
    from certv6.service.issue import IssueRequest
    from certv6.service.issue_policy import Reissue

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
        reissue=Reissue(force=force, expand=expand, replace_names=replace_names),
        challenges=challenge,
    )
    try:
        result = issue_from_cas(settings, request, clock=options.clock, progress=progress)
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
                "warnings": list(result.warnings),
                "kept": bool(result.kept),
                "detail": result.kept or "issued",
                "challenges": list(result.challenges),
                "answered": [{"name": n, "challenge": kind} for n, kind in result.answered],
                "ca": result.ca or None,
                "skipped": list(result.skipped),
            },
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
    # Like certbot's, the hook runs for a new certificate only, not for one kept.
    if issue_deploy_hook and not result.kept:
        _deploy_hook(issue_deploy_hook, result.live_directory, result.domains)


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
@json_option
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
        from certv6.cli.monitoring import listing_json

        print_json("list", listing_json(listing))
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
@json_option
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
    from certv6.service.cleanup import cleanup_fleet, cleanup_stale, merged
    from certv6.service.runtime import build_dns
    from certv6.store import Store

    settings = options.settings(state_dir=state_dir)
    store = Store(settings.state_dir).ensure()
    dns = build_dns(settings)
    result = cleanup_stale(
        settings,
        store,
        dns,
        options.clock,
        forget=frozenset(forget),
        forget_all=forget_all,
    )
    # A fleet: also what dead hosts left in the fleet's ledger (docs/fleet.md).
    result = merged(result, cleanup_fleet(settings, dns, options.clock))
    if as_json:
        print_json(
            "cleanup",
            {
                "ok": not result.failed,
                "removed": result.removed,
                "failed": result.failed,
                "forgotten": result.forgotten,
                "left": list(result.left),
            },
        )
    else:
        forgotten = f"; dropped {result.forgotten} from the ledger" if result.forgotten else ""
        failed = f"; {result.failed} batch(es) failed, see above" if result.failed else ""
        click.echo(f"removed {result.removed} stale TXT value(s){forgotten}{failed}")
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
