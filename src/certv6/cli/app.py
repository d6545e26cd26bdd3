"""The root ``certv6`` command, its global options and what every subcommand shares."""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from certv6 import __version__
from certv6.clock import SYSTEM_CLOCK, Clock
from certv6.settings import Settings, load_settings

log = logging.getLogger("certv6")


@dataclass(frozen=True, slots=True)
class Start:
    """What ``main()`` hands the root command: the clock every use case asks for the time.

    Only ``main(clock=...)`` changes it: tests run the CLI with a clock of theirs
    (tests/fakes/certv6_at.py); nothing in the environment moves time.
    """

    clock: Clock = SYSTEM_CLOCK


@dataclass
class Options:
    config: Path | None
    debug: bool
    quiet: bool
    allow_ipv4: bool = False
    insecure_secrets: bool = False
    clock: Clock = SYSTEM_CLOCK

    def settings(self, **flags: Any) -> Settings:
        from certv6.providers import available

        given = {key: value for key, value in flags.items() if value not in (None, (), False)}
        if self.allow_ipv4:
            given["allow_ipv4"] = True
        if self.insecure_secrets:
            given["insecure_secrets"] = True
        return load_settings(self.config, os.environ, given, provider_names=available())


# Hands a command the root's Options (config path, --debug, --quiet, ...).
pass_options = click.make_pass_decorator(Options)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option(
    "--config",
    "-c",
    type=click.Path(path_type=Path, dir_okay=False),
    envvar="CERTV6_CONFIG",
    show_envvar=True,
    help="Config file (default /etc/certv6/certv6.toml if it exists).",
)
@click.option("--debug", is_flag=True, help="Log everything and show tracebacks.")
@click.option("--quiet", "-q", is_flag=True, help="Only warnings and errors on stderr.")
@click.option(
    "--log-file",
    type=click.Path(path_type=Path, dir_okay=False),
    envvar="CERTV6_LOG_FILE",
    show_envvar=True,
    help="Also append every log line, with its time, to this file (cron runs; not --quiet).",
)
@click.option(
    "--allow-ipv4",
    is_flag=True,
    help="Also use IPv4 (dual-stack hosts); by default certv6 speaks only IPv6.",
)
@click.option(
    "--insecure-secrets",
    is_flag=True,
    help="Accept credential files that other users can read (not recommended).",
)
@click.version_option(__version__, prog_name="certv6")
@click.pass_context
def cli(
    context: click.Context,
    /,
    *,
    config: Path | None,
    debug: bool,
    quiet: bool,
    log_file: Path | None,
    allow_ipv4: bool,
    insecure_secrets: bool,
) -> None:
    """ACME dns-01 certificates for IPv6-only hosts."""
    start = context.obj if isinstance(context.obj, Start) else Start()
    context.obj = Options(config, debug, quiet, allow_ipv4, insecure_secrets, start.clock)
    setup_logging(debug, quiet, log_file)


def setup_logging(debug: bool, quiet: bool, log_file: Path | None = None) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Formatter())
    handler.setLevel(logging.DEBUG if debug else logging.WARNING if quiet else logging.INFO)
    handlers: list[logging.Handler] = [handler]
    if log_file is not None:
        handlers.append(_file_handler(log_file, logging.DEBUG if debug else logging.INFO))
    root = logging.getLogger()
    root.handlers[:] = handlers
    root.setLevel(logging.DEBUG if debug else logging.WARNING)
    log.setLevel(logging.DEBUG if debug else logging.INFO)


def _file_handler(path: Path, level: int) -> logging.Handler:
    from certv6.errors import ConfigError

    try:
        handler = logging.FileHandler(path, encoding="utf-8")
    except OSError as error:
        raise ConfigError(
            f"cannot open the log file {path}: {error.strerror}",
            hint="check --log-file / CERTV6_LOG_FILE and that its directory exists",
        ) from error
    handler.setFormatter(
        logging.Formatter("%(asctime)s certv6[%(process)d]: %(levelname)s %(message)s")
    )
    handler.setLevel(level)
    return handler


class _Formatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        prefix = "certv6: " if record.levelno < logging.WARNING else "certv6: warning: "
        return prefix + record.getMessage()


def print_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, sort_keys=True, default=str))


class ProgressLine:
    """A live status line on a terminal; an occasional log line otherwise."""

    def __init__(self, quiet: bool, every: float = 5.0) -> None:
        self.tty = sys.stderr.isatty() and not quiet
        self.quiet = quiet
        self.every = every
        self._last = 0.0
        self._shown = False

    def __call__(self, report: Any) -> None:
        from certv6.propagation import render_status_line

        line = render_status_line(report)
        if self.tty:
            width = 120
            sys.stderr.write("\r" + line[:width].ljust(width))
            sys.stderr.flush()
            self._shown = True
        elif not self.quiet and time.monotonic() - self._last >= self.every:
            self._last = time.monotonic()
            log.info("%s", line)

    def close(self) -> None:
        if self._shown:
            sys.stderr.write("\r" + " " * 120 + "\r")
            sys.stderr.flush()
