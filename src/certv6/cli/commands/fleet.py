"""Subcommands of a fleet (docs/fleet.md): sync [--watch], store migrate --to etcd|file.

sync exits 0 when every lineage this host serves is in place, 17 when etcd
cannot be reached (the local certificates stay as they are), 19 when some
lineage could not be brought here or installed.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

import click

from certv6.cli.app import Options, cli, json_option, pass_options, print_json

if TYPE_CHECKING:
    from certv6.service.sync import SyncReport


@cli.command()
@click.option("--watch", is_flag=True, help="Keep running: follow the fleet and roll out changes.")
@click.option("--state-dir", help="Where accounts and certificates live.")
@json_option
@pass_options
def sync(options: Options, /, *, watch: bool, state_dir: str | None, as_json: bool) -> None:
    """Bring the fleet's certificates this host serves here, and install them."""
    from certv6.errors import SyncFailed
    from certv6.service import sync as fleet_sync

    settings = options.settings(state_dir=state_dir)
    if watch:
        stop = threading.Event()
        try:
            fleet_sync.watch(
                settings,
                clock=options.clock,
                stop=stop,
                on_report=lambda report: _show(report, as_json=as_json, quiet=options.quiet),
            )
        except KeyboardInterrupt:
            stop.set()
        return
    report = fleet_sync.sync(settings, clock=options.clock)
    _show(report, as_json=as_json, quiet=options.quiet)
    failed = tuple(each.name for each in report.lineages if not each.ok)
    if failed:
        raise SyncFailed(f"{len(failed)} certificate(s) not in place: {', '.join(failed)}",
                         failed=failed)  # fmt: skip


def _show(report: SyncReport, *, as_json: bool, quiet: bool) -> None:
    if as_json:
        body = {
            "ok": report.ok,
            "requests": report.requests,
            "certificates": [each.to_json() for each in report.lineages],
        }
        print_json("sync", body)
        return
    for each in report.lineages:
        if quiet and each.ok:
            continue
        by = f" (committed by {each.committed_by})" if each.committed_by else ""
        click.echo(f"{each.status:<11} {each.name}  {each.version or '-'}{by}")
        if each.problem:
            click.echo(f"{'':<11} {each.problem}")


@cli.group()
def store() -> None:
    """The store itself: move it between the state directory and a fleet's etcd."""


@store.command()
@click.option("--to", "to", type=click.Choice(["etcd", "file"]), required=True,
              help="The backend to copy everything into.")  # fmt: skip
@click.option("--state-dir", help="Where accounts and certificates live.")
@json_option
@pass_options
def migrate(options: Options, /, *, to: str, state_dir: str | None, as_json: bool) -> None:
    """Copy accounts, every version and the heads to the other backend, then verify each."""
    from certv6.service.migrate import migrate as copy_store

    done = copy_store(options.settings(state_dir=state_dir), to, clock=options.clock)
    if as_json:
        print_json("store-migrate", done.to_json())
        return
    click.echo(
        f"copied {done.source} -> {done.target}: {done.accounts} account(s), "
        f"{done.lineages} certificate(s), {done.versions} version(s); "
        f"{done.verified_files} file(s) read back and identical"
    )
    for line in done.skipped:
        click.echo(f"left alone: {line}")
