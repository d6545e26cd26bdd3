"""Subcommand: renew (exit 0: all renewed or not due; 11: another run holds the lock;
12: some certificates or hooks failed, the others were still renewed; 16: nothing
failed, but the CA asked to wait before renewing some: postponed)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from certv6.cli.app import Options, cli, json_option, pass_options, print_json

if TYPE_CHECKING:
    from certv6.service.renew.report import RenewReport


@cli.command()
@click.option(
    "--name",
    "-n",
    "--cert-name",
    "names",
    multiple=True,
    metavar="NAME",
    help="Only this certificate; repeat for more (default: every one in the store).",
)
@click.option(
    "--force",
    "--force-renewal",
    is_flag=True,
    help="Renew the chosen certificates even if not due.",
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Renew every chosen certificate at the CA's staging directory; store nothing.",
)
@click.option("--state-dir", help="Where accounts and certificates live.")
@click.option("--pre-hook", metavar="CMD", help="Shell command run once before renewing.")
@click.option(
    "--deploy-hook",
    metavar="CMD",
    help="Shell command run for each renewed certificate (RENEWED_LINEAGE, RENEWED_DOMAINS).",
)
@click.option(
    "--post-hook",
    metavar="CMD",
    help="Shell command run once after renewing (RENEWED_DOMAINS, FAILED_DOMAINS).",
)
@click.option(
    "--metrics-file",
    metavar="PATH",
    help="Write Prometheus textfile-collector metrics there after the run (docs/monitoring.md).",
)
@json_option
@pass_options
def renew(
    options: Options,
    /,
    *,
    names: tuple[str, ...],
    force: bool,
    dry_run: bool,
    as_json: bool,
    **flags: object,
) -> None:
    """Renew the certificates that are due (the CA's ARI window, else a third of the lifetime).

    Also installs what earlier runs still owe the servers (a failed or
    interrupted install) and reports it as failed until it works.
    """
    from dataclasses import replace

    from certv6.errors import CertV6Error, RenewFailed, RenewPostponed
    from certv6.service import metrics
    from certv6.service.renew import RenewRequest
    from certv6.service.renew import renew as renew_due

    settings = options.settings(**flags)
    request = RenewRequest(names=names, force=force, dry_run=dry_run)
    report = renew_due(settings, request, clock=options.clock)
    if not dry_run:
        try:
            metrics.publish(settings, report, options.clock)
        except CertV6Error as error:
            report = replace(report, problems=(*report.problems, str(error)))
    if as_json:
        print_json("renew", report.to_json())
    else:
        _show(report, quiet=options.quiet)
    if not report.ok:
        failed = report.failed_names
        what = f"{len(failed)} certificate(s) failed: {', '.join(failed)}" if failed else ""
        others = "; ".join((*report.hook_problems, *report.problems))
        raise RenewFailed("; ".join(part for part in (what, others) if part), failed=failed)
    if report.postponed:
        names = report.postponed
        message = f"{len(names)} certificate(s) postponed at the CA's request: {', '.join(names)}"
        raise RenewPostponed(message, postponed=names)


def _show(report: RenewReport, *, quiet: bool) -> None:
    from certv6.service.renew.report import POSTPONED, RENEWED

    # --quiet (the timer's runs) still shows what needs an eye: failed and postponed.
    shown = [o for o in report.outcomes if not quiet or not o.ok or o.status == POSTPONED]
    width = max((len(outcome.name) for outcome in shown), default=0)
    for outcome in shown:
        detail = outcome.detail
        if outcome.status == RENEWED and outcome.when:
            detail = f"{detail}, valid until {outcome.when:%Y-%m-%d}"
        click.echo(f"{outcome.status:<8} {outcome.name:<{width}}  {detail}")
        if outcome.problem:
            click.echo(f"{'':<8} {'':<{width}}  {outcome.problem}")
    if not quiet or not report.complete:
        click.echo(f"certv6 renew: {report.summary()}")
