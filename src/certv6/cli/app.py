"""The root ``certv6`` command, its global options and what every subcommand shares.

Global options (``-q``, ``-v``, ``--config`` ...) are accepted before or after
the subcommand: every command made through ``cli.command()`` / ``cli.group()``
carries them too (hidden from its own help), and they update the one
``Options`` of the run. The hook commands that pass their clients' arguments
through (``hook lego`` ...) take them only before the subcommand.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

from certv6 import __version__
from certv6.cli import logs
from certv6.cli.jsonout import Output, json_option, print_json
from certv6.cli.progress import ProgressLine
from certv6.clock import SYSTEM_CLOCK, Clock
from certv6.errors import ConfigError
from certv6.settings import Settings, load_settings

__all__ = [
    "Options",
    "ProgressLine",
    "Start",
    "cli",
    "json_option",
    "pass_options",
    "print_json",
]


@dataclass(frozen=True, slots=True)
class Start:
    """What ``main()`` hands the root command: the clock, and where the run's output state is.

    Only ``main(clock=...)`` changes the clock: tests run the CLI with a clock of
    theirs (tests/fakes/certv6_at.py); nothing in the environment moves time.
    """

    clock: Clock = SYSTEM_CLOCK
    output: Output = field(default_factory=Output)


@dataclass
class Options:
    config: Path | None
    debug: bool
    quiet: bool
    allow_ipv4: bool = False
    insecure_secrets: bool = False
    clock: Clock = SYSTEM_CLOCK
    verbose: int = 0
    log_file: Path | None = None
    no_progress: bool = False
    output: Output = field(default_factory=Output)

    def settings(self, **flags: Any) -> Settings:
        from certv6.providers import available

        given = {key: value for key, value in flags.items() if value not in (None, (), False)}
        for name in ("allow_ipv4", "insecure_secrets", "log_file"):
            if getattr(self, name):
                given[name] = getattr(self, name)
        settings = load_settings(self.config, os.environ, given, provider_names=available())
        if settings.log_file is not None:
            open_log_file(settings.log_file, settings.log_max_bytes)
        logs.log.debug(
            "certv6 %s; config %s; state %s; CA %s",
            __version__,
            settings.config_path or "(none)",
            settings.state_dir,
            settings.server,
        )
        return settings

    def progress(self) -> ProgressLine:
        """The status line for a wait: only on a terminal, never with -q or --no-progress."""
        return ProgressLine(quiet=self.quiet, enabled=not self.no_progress, clock=self.clock)

    @property
    def verbosity(self) -> int:
        return max(self.verbose, 2 if self.debug else 0)

    def apply_logging(self) -> None:
        logs.setup(verbosity=self.verbosity, quiet=self.quiet, env=os.environ)


def open_log_file(path: Path, max_bytes: int) -> None:
    try:
        logs.attach_file(path, max_bytes)
    except OSError as error:
        raise ConfigError(
            f"cannot open log file {path}: {error.strerror}",
            hint="check log_file / --log-file and that the directory is writable",
        ) from error


# Hands a command the root's Options (config path, --debug, --quiet, ...).
pass_options = click.make_pass_decorator(Options)


def domain_option(help_text: str, *, required: bool = False) -> Callable[[Any], Any]:
    """``-d/--domain NAME``, repeatable, into the parameter ``domains``."""
    return click.option(
        "--domain", "-d", "domains", multiple=True, required=required, metavar="NAME",
        help=help_text,
    )  # fmt: skip


def _global_options(late: bool) -> list[click.Option]:
    """The options of the root command; ``late``: the hidden copies every subcommand has."""
    extra: dict[str, Any] = (
        {"hidden": True, "expose_value": False, "callback": _apply_late} if late else {}
    )
    return [
        click.Option(
            ["--config", "-c"],
            type=click.Path(path_type=Path, dir_okay=False),
            envvar=None if late else "CERTV6_CONFIG",
            show_envvar=not late,
            help="Config file (default /etc/certv6/certv6.toml if it exists).",
            **extra,
        ),
        click.Option(["--quiet", "-q"], is_flag=True, help="Only warnings and errors.", **extra),
        click.Option(
            ["--verbose", "-v"],
            count=True,
            help="-v: certv6's debug messages too; -vv: the libraries' as well.",
            **extra,
        ),
        click.Option(["--debug"], is_flag=True, help="Like -vv, and tracebacks.", **extra),
        click.Option(
            ["--log-file"],
            type=click.Path(path_type=Path, dir_okay=False),
            help="Also log here (debug lines, rotated by size); setting log_file.",
            **extra,
        ),
        click.Option(
            ["--no-progress"], is_flag=True, help="No live status line on the terminal.", **extra
        ),
        click.Option(
            ["--allow-ipv4"],
            is_flag=True,
            help="Also use IPv4 (dual-stack hosts); by default certv6 speaks only IPv6.",
            **extra,
        ),
        click.Option(
            ["--insecure-secrets"],
            is_flag=True,
            help="Accept credential files that other users can read (not recommended).",
            **extra,
        ),
    ]


def _apply_late(context: click.Context, param: click.Parameter, value: Any) -> None:
    """A global option given after the subcommand: update the run's Options."""
    if context.get_parameter_source(str(param.name)) is not ParameterSource.COMMANDLINE:
        return
    options = context.find_object(Options)
    if options is None or param.name is None:
        return
    if param.name == "verbose":
        options.verbose += int(value)
    else:
        setattr(options, param.name, value)
    if param.name in ("verbose", "quiet", "debug"):
        options.apply_logging()
    elif param.name == "log_file":
        open_log_file(value, Settings().log_max_bytes)


_LATE_NOTE = "Global options (see certv6 --help) may also be given here."


class Command(click.Command):
    """A subcommand that also accepts the global options."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.params.extend(_global_options(late=True))
        self.epilog = f"{self.epilog}\n\n{_LATE_NOTE}" if self.epilog else _LATE_NOTE


class Group(click.Group):
    """A group whose commands (and subgroups' commands) accept the global options."""

    command_class = Command
    group_class = type  # subgroups are Groups too


def _root(function: Callable[..., Any]) -> click.Group:
    for option in reversed(_global_options(late=False)):
        function = _attach(option)(function)
    decorated = click.version_option(__version__, prog_name="certv6")(function)
    return click.group(
        cls=Group,
        context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    )(click.pass_context(decorated))


def _attach(option: click.Option) -> Callable[[Any], Any]:
    def decorator(function: Any) -> Any:
        params = getattr(function, "__click_params__", [])
        params.append(option)
        function.__click_params__ = params
        return function

    return decorator


@_root
def cli(
    context: click.Context,
    /,
    *,
    config: Path | None,
    debug: bool,
    quiet: bool,
    verbose: int,
    log_file: Path | None,
    no_progress: bool,
    allow_ipv4: bool,
    insecure_secrets: bool,
) -> None:
    """ACME dns-01 certificates for IPv6-only hosts."""
    start = context.obj if isinstance(context.obj, Start) else Start()
    options = Options(
        config,
        debug,
        quiet,
        allow_ipv4,
        insecure_secrets,
        start.clock,
        verbose=verbose,
        log_file=log_file,
        no_progress=no_progress,
        output=start.output,
    )
    context.obj = options
    options.apply_logging()
    if log_file is not None:
        open_log_file(log_file, Settings().log_max_bytes)
