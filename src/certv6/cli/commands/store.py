"""Subcommands: delete (forget a certificate), check-store (find and repair damage)."""

from __future__ import annotations

import sys

import click

from certv6.cli.app import Options, cli, json_option, pass_options, print_json


@cli.command()
@click.option("--name", "-n", "--cert-name", required=True, help="Certificate name in the store.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask (needed when not on a terminal).")
@click.option("--state-dir", help="Where accounts and certificates live.")
@json_option
@pass_options
def delete(
    options: Options, /, *, name: str, yes: bool, state_dir: str | None, as_json: bool
) -> None:
    """Remove certificate NAME from the store: no more renewals, nothing installed is touched."""
    from certv6.service.delete import delete as delete_certificate
    from certv6.service.delete import installed_directories

    settings = options.settings(state_dir=state_dir)
    if not yes:
        if not sys.stdin.isatty():
            raise click.UsageError("not on a terminal: add --yes to delete without asking")
        left = installed_directories(settings, name)
        kept = f"; installed files in {', '.join(map(str, left))} stay" if left else ""
        if not click.confirm(f"Delete certificate {name!r} and all its versions{kept}?"):
            click.echo("nothing deleted")
            return
    deleted = delete_certificate(settings, name, clock=options.clock)
    if as_json:
        print_json(
            "delete",
            {
                "name": deleted.name,
                "directory": str(deleted.directory),
                "installed_left": [str(path) for path in deleted.installed],
            },
        )
        return
    if not options.quiet:
        click.echo(f"{deleted.name}: deleted ({deleted.directory})")
    for path in deleted.installed:
        click.echo(f"{deleted.name}: left in place: {path} (servers may still use it)")


@cli.command(name="check-store")
@click.option("--repair", is_flag=True, help="Fix what can be fixed without guessing.")
@click.option("--state-dir", help="Where accounts and certificates live.")
@json_option
@pass_options
def check_store(options: Options, /, *, repair: bool, state_dir: str | None, as_json: bool) -> None:
    """Find damaged or unfinished state (exit 9 while any is left); --repair fixes the safe ones."""
    from certv6.service.check_store import check_store as check

    findings = check(options.settings(state_dir=state_dir), repair=repair, clock=options.clock)
    left = [finding for finding in findings if not finding.repaired]
    if as_json:
        body = {"ok": not left, "findings": [finding.to_json() for finding in findings]}
        print_json("check-store", body)
    else:
        for finding in findings:
            click.echo(f"{finding.subject}: {finding.problem}")
            if finding.repaired:
                click.echo(f"  repaired: {finding.repaired}")
            elif finding.fix:
                click.echo(f"  fix: {finding.fix}")
        if not findings:
            click.echo("the state directory is in order")
    if left:
        raise click.exceptions.Exit(9)
