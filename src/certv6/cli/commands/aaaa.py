"""Subcommand: aaaa (keep this host's own AAAA records pointing at it; docs/aaaa.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from certv6.cli.app import Options, cli, json_option, pass_options, print_json
from certv6.cli.jsonout import error_document, print_json_line
from certv6.errors import CertV6Error

if TYPE_CHECKING:
    from certv6.service.aaaa import Follower
    from certv6.service.aaaa_report import AaaaOutcome
    from certv6.service.aaaa_watch import Outcome


@cli.command()
@click.option(
    "--domain",
    "-d",
    "names",
    multiple=True,
    metavar="NAME",
    help="A name whose AAAA should point here; repeat for more"
    " (default: aaaa_names and every [certificate.NAME] with aaaa).",
)
@click.option("--name", "-n", "certificate", help="Follow this certificate's names instead.")
@click.option("--provider", "-p", help="DNS provider (default: aaaa_provider, the certificate's).")
@click.option("--interface", "-i", "aaaa_interface", help="Only addresses on this interface.")
@click.option(
    "--token", "aaaa_token", help="Only addresses ending in this interface identifier, like ::53."
)
@click.option("--adopt", is_flag=True, help="Also replace AAAA values certv6 did not publish.")
@click.option("--dry-run", is_flag=True, help="Say what would change; write nothing.")
@click.option("--watch", is_flag=True, help="Keep running and follow every address change.")
@click.option("--state-dir", help="Where certv6 keeps its state.")
@json_option
@pass_options
def aaaa(
    options: Options,
    /,
    *,
    names: tuple[str, ...],
    certificate: str | None,
    provider: str | None,
    adopt: bool,
    dry_run: bool,
    watch: bool,
    as_json: bool,
    **flags: object,
) -> None:
    """Point this host's names (AAAA) at its current IPv6 address.

    With --watch and --json, each run prints one document on a line of its own.
    """
    from certv6.service.aaaa import AaaaRequest, Follower

    if watch and dry_run:
        raise click.UsageError("--watch and --dry-run do not go together")
    settings = options.settings(**flags)
    request = AaaaRequest(names, certificate, provider, adopt, dry_run)
    progress = options.progress()
    follower = Follower(
        settings, request, clock=options.clock, progress=progress, long_running=watch
    )
    try:
        if watch:
            _watch(options, follower, settings.aaaa_min_interval, as_json)
            return
        outcome = follower.run()
    finally:
        progress.close()
        follower.close()
    if as_json:
        print_json("aaaa", outcome.to_json())
    elif not options.quiet:
        click.echo(_text(outcome))


def _watch(options: Options, follower: Follower, min_interval: float, as_json: bool) -> None:
    from certv6.aaaa import PacingSettings
    from certv6.service.aaaa_watch import watch

    def show(outcome: Outcome) -> None:
        if isinstance(outcome, CertV6Error):
            if as_json:  # otherwise the watcher has logged it
                print_json_line("error", error_document(outcome))
        elif as_json:
            print_json_line("aaaa", outcome.to_json())
        elif not options.quiet:
            click.echo(_text(outcome))

    try:
        watch(
            follower,
            PacingSettings(min_interval=min_interval),
            clock=options.clock,
            on_outcome=show,
        )
    except KeyboardInterrupt:
        # Stopping a watcher (systemctl stop, Ctrl-C) is its normal end.
        click.echo("certv6: aaaa --watch stopped", err=True)


def _text(outcome: AaaaOutcome) -> str:
    if outcome.choice is None:
        return (
            "no names to follow: set aaaa_names, or aaaa = true under [certificate.NAME]"
            " (docs/aaaa.md)"
        )
    lines = [f"address {outcome.choice.why}"]
    verb = "would become" if outcome.dry_run else ("waits to become" if outcome.pending else "now")
    for run in outcome.runs:
        for plan in run.plans:
            old = " ".join(sorted(plan.current)) or "no AAAA"
            if plan.change is None:
                lines.append(f"{plan.name} AAAA {old}: up to date")
            else:
                lines.append(f"{plan.name} AAAA {old} {verb} {' '.join(sorted(plan.result))}")
        if run.report is not None:
            lines.append(f"  {run.provider}: {run.report.summary()}")
    return "\n".join(lines)
