"""Subcommands: timer install, timer show, timer remove (a systemd timer for certv6 renew)."""

from __future__ import annotations

from pathlib import Path

import click

from certv6.cli.app import Options, cli, json_option, pass_options, print_json

UNIT_DIR = "/etc/systemd/system"

unit_dir_option = click.option(
    "--unit-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=UNIT_DIR,
    show_default=True,
    help="Where the unit files go.",
)
read_write_option = click.option(
    "--read-write-path",
    "read_write",
    multiple=True,
    type=click.Path(path_type=Path),
    metavar="PATH",
    help="Another path the sandboxed service may write (e.g. a server's log directory).",
)


@cli.group()
def timer() -> None:
    """Run 'certv6 renew' twice a day from a hardened systemd service."""


@timer.command(name="install")
@unit_dir_option
@read_write_option
@click.option("--no-enable", is_flag=True, help="Write the units only; do not enable the timer.")
@json_option
@pass_options
def install_(
    options: Options, unit_dir: Path, read_write: tuple[Path, ...], no_enable: bool, as_json: bool
) -> None:
    """Write certv6.service and certv6.timer and enable the timer."""
    from certv6.service import schedule as use_case

    units = use_case.generate(options.settings(), read_write=read_write)
    outcome = use_case.install(units, unit_dir, enable=not no_enable)
    if as_json:
        print_json(
            "timer-install",
            {
                "written": [str(path.absolute()) for path in outcome.written],
                "enabled": outcome.enabled,
                "systemd": outcome.systemd,
                "cron": None if outcome.systemd else units.cron,
            },
        )
        return
    for path in outcome.written:
        click.echo(f"wrote {path}")
    if outcome.enabled:
        click.echo("enabled certv6.timer (systemctl list-timers certv6.timer shows the next run)")
    elif not outcome.systemd:
        click.echo("systemd is not running here, so nothing was enabled.", err=True)
        click.echo("Without systemd, put these lines into /etc/cron.d/certv6:", err=True)
        click.echo(units.cron, nl=False)
    else:
        click.echo(
            "not enabled; run: systemctl daemon-reload && systemctl enable --now certv6.timer"
        )


@timer.command()
@read_write_option
@json_option
@pass_options
def show(options: Options, read_write: tuple[Path, ...], as_json: bool) -> None:
    """Print the units (and the cron file) that 'timer install' would write."""
    from certv6.service import schedule as use_case

    units = use_case.generate(options.settings(), read_write=read_write)
    if as_json:
        body = {"service": units.service, "timer": units.timer, "cron": units.cron}
        print_json("timer-show", {**body, "aaaa_service": units.aaaa, "unit_dir": UNIT_DIR})
        return
    click.echo(f"# {UNIT_DIR}/certv6.service\n{units.service}")
    click.echo(f"# {UNIT_DIR}/certv6.timer\n{units.timer}")
    if units.aaaa is not None:
        click.echo(f"# {UNIT_DIR}/certv6-aaaa.service (run after each renewal run)\n{units.aaaa}")
    click.echo(f"# /etc/cron.d/certv6 (only where systemd is absent)\n{units.cron}", nl=False)


@timer.command()
@unit_dir_option
@json_option
def remove(unit_dir: Path, as_json: bool) -> None:
    """Disable the timer and delete its units."""
    from certv6.service import schedule as use_case

    outcome = use_case.remove(unit_dir)
    if as_json:
        removed = [str(path.absolute()) for path in outcome.written]
        print_json("timer-remove", {"removed": removed, "systemd": outcome.systemd})
        return
    if not outcome.written:
        click.echo(f"no certv6 units in {unit_dir}")
    for path in outcome.written:
        click.echo(f"removed {path}")
