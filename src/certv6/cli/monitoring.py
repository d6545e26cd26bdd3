"""How ``certv6 list`` shows health, and ``list --check``, the monitoring plugin.

``--check`` follows the Nagios/Icinga plugin convention, not certv6's exit code
table: monitoring systems read 0/1/2/3 as ok/warning/critical/unknown, and an
error of certv6 itself (a config error, an unreadable state directory) is
UNKNOWN (3), whatever its usual code. The first line is the plugin's status
line; one line per certificate that is not ok follows (and one for the host's
AAAA names, ``certv6 aaaa``, when they are not ok); perfdata gives each
certificate's days left.
"""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING, Any

import click

from certv6.cli.app import Options, print_json

if TYPE_CHECKING:
    from certv6.service.listing import CertificateSummary, Listing
    from certv6.service.status import Thresholds, Verdict

UNKNOWN = 3


def show_listing(listing: Listing) -> None:
    if not listing.certificates and not listing.accounts:
        click.echo("no certificates yet")
        _show_aaaa(listing)
        return
    rows: list[tuple[str, ...]] = [
        ("NAME", "DOMAINS", "NOT AFTER", "NEXT RENEWAL", "WHY", "HEALTH")
    ]
    rows += [_row(s) for s in listing.certificates]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    if listing.certificates:
        for row in rows:
            cells = zip(row, widths, strict=True)
            click.echo("  ".join(cell.ljust(width) for cell, width in cells).rstrip())
    for summary in listing.certificates:
        if summary.verdict.level and summary.verdict.hint:
            click.echo(f"  {summary.name}: hint: {summary.verdict.hint}")
        if summary.skipped_cas:
            skipped = "; ".join(summary.skipped_cas)
            click.echo(f"  {summary.name}: issued by {summary.ca} after: {skipped}")
    for account in listing.accounts:
        click.echo(f"account {account.directory}: damaged: {account.problem}", err=True)
        click.echo(f"  hint: {account.hint}", err=True)
    _show_aaaa(listing)


def _show_aaaa(listing: Listing) -> None:
    """The host's AAAA names, after the certificates: one line, and a hint when not ok."""
    if listing.aaaa is None:
        return
    verdict = listing.aaaa.verdict
    label = f"{verdict.label}: " if verdict.level else ""
    click.echo(f"AAAA (certv6 aaaa): {label}{listing.aaaa.text}")
    if verdict.level and verdict.hint:
        click.echo(f"  aaaa: hint: {verdict.hint}")


def _row(s: CertificateSummary) -> tuple[str, ...]:
    return (
        s.name,
        ",".join(s.domains) or "-",
        f"{s.not_after:%Y-%m-%d %H:%M}" if s.not_after else "-",
        f"{s.next_renewal:%Y-%m-%d %H:%M}" if s.next_renewal else "-",
        s.renewal_reason or "-",
        s.verdict.text,
    )


def run_check(
    options: Options, state_dir: str | None, thresholds: Thresholds, *, as_json: bool
) -> None:
    """``list --check``: print the plugin output and exit with its code."""
    from certv6.errors import CertV6Error
    from certv6.service.listing import list_certificates

    try:
        settings = options.settings(state_dir=state_dir)
        listing = list_certificates(settings, clock=options.clock, thresholds=thresholds)
    except CertV6Error as error:
        if as_json:
            body = {"status": "unknown", "code": UNKNOWN, "summary": error.message}
            print_json("list-check", {**body, "certificates": [], "accounts": [], "aaaa": None})
        else:
            click.echo(f"CERTV6 UNKNOWN - {error.message}")
        raise click.exceptions.Exit(UNKNOWN) from error
    if as_json:
        print_json("list-check", _check_json(listing))
    else:
        for line in check_lines(listing, options.clock.now()):
            click.echo(line)
    raise click.exceptions.Exit(listing.level)


def check_lines(listing: Listing, now: datetime.datetime) -> list[str]:
    from certv6.service.status import LEVELS

    bad = _not_ok(listing)
    label = LEVELS[listing.level].upper()
    perfdata = " ".join(_perfdata(s, now) for s in listing.certificates if s.not_after)
    lines = [f"CERTV6 {label} - {_summary(listing, bad)}" + (f" | {perfdata}" if perfdata else "")]
    lines += [f"{name}: {verdict.label}: {verdict.text}" for name, verdict in bad]
    lines += [f"account {a.directory}: critical: {a.problem}" for a in listing.accounts]
    return lines


def _not_ok(listing: Listing) -> list[tuple[str, Verdict]]:
    """What is not ok, by name (the host's AAAA names as ``AAAA``), the worst first."""
    bad = [(s.name, s.verdict) for s in listing.certificates if s.verdict.level]
    if listing.aaaa is not None and listing.aaaa.verdict.level:
        bad.append(("AAAA", listing.aaaa.verdict))
    bad.sort(key=lambda named: -named[1].level)  # the status line names the worst
    return bad


def _summary(listing: Listing, bad: list[tuple[str, Verdict]]) -> str:
    """The plugin's status text: the worst thing that is not ok, or how many are ok."""
    if not bad and not listing.accounts:
        aaaa = ", AAAA ok" if listing.aaaa else ""
        return f"{len(listing.certificates)} certificate(s) ok{aaaa}"
    what = f"{bad[0][0]}: {bad[0][1].text}" if bad else "a damaged account"
    more = len(bad) + len(listing.accounts) - 1
    return what + (f" (and {more} more)" if more > 0 else "")


def _perfdata(summary: CertificateSummary, now: datetime.datetime) -> str:
    days = (summary.not_after - now).total_seconds() / 86400 if summary.not_after else 0.0
    return f"'{summary.name}'={days:.2f}"


def listing_json(listing: Listing) -> dict[str, Any]:
    """The body of ``list --json``: every certificate, the damaged accounts, the AAAA names."""
    return {
        "certificates": [summary.to_json() for summary in listing.certificates],
        "accounts": [account.to_json() for account in listing.accounts],
        "aaaa": listing.aaaa.to_json() if listing.aaaa else None,
    }


def _check_json(listing: Listing) -> dict[str, Any]:
    from certv6.service.status import LEVELS

    return {
        "status": LEVELS[listing.level],
        "code": listing.level,
        "summary": _summary(listing, _not_ok(listing)),
        **listing_json(listing),
    }
