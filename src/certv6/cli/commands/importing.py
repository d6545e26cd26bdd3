"""`certv6 import certbot`: take over certbot's certificates (docs/migrating.md)."""

from __future__ import annotations

import os
from pathlib import Path

import click

from certv6.cli.app import Options, cli, json_option, pass_options, print_json
from certv6.settings import DEFAULT_CONFIG


@cli.group(name="import")
def import_group() -> None:
    """Take over certificates another ACME client manages."""


@import_group.command()
@click.option(
    "--config-dir",
    type=click.Path(path_type=Path, file_okay=False, exists=True),
    default=Path("/etc/letsencrypt"),
    show_default=True,
    help="certbot's configuration directory.",
)
@click.option("--state-dir", help="Where accounts and certificates live.")
@json_option
@pass_options
def certbot(options: Options, config_dir: Path, state_dir: str | None, as_json: bool) -> None:
    """Import certbot's lineages: certificate, key, names, key type, CA, dns-rfc2136
    credentials and propagation settings, deploy hooks. certbot's files stay untouched;
    what has no certv6 equivalent is listed. Then disable certbot's timer yourself."""
    from certv6.service.certbot_import import import_certbot

    settings = options.settings(state_dir=state_dir)
    target = options.config or settings.config_path or _config_env() or DEFAULT_CONFIG
    if options.config is None:
        options.config = target  # the reload below checks the file just written
    result = import_certbot(
        settings,
        config_dir,
        target,
        lambda: options.settings(state_dir=state_dir),
        clock=options.clock,
    )
    if as_json:
        print_json("import-certbot", result.to_json())
        return
    for item in result.imported:
        click.echo(f"imported {item['name']}: {', '.join(item['domains'])} -> {item['path']}")
    if result.imported:
        click.echo(f"config: {result.config}")
    for unmapped in result.unmapped:
        where = f"{unmapped.lineage}: " if unmapped.lineage else ""
        click.echo(f"not mapped: {where}{unmapped.item}: {unmapped.why}", err=True)


def _config_env() -> Path | None:
    value = os.environ.get("CERTV6_CONFIG")
    return Path(value) if value else None
