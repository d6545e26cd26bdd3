"""Entry point: run the click app and turn errors into messages and exit codes."""

from __future__ import annotations

import signal
import sys
import traceback
from types import FrameType

import click

from certv6.cli import commands  # noqa: F401  (importing registers every subcommand)
from certv6.cli.app import Start, cli
from certv6.clock import SYSTEM_CLOCK, Clock
from certv6.errors import EXIT_INTERRUPTED, CertV6Error


def main(argv: list[str] | None = None, *, clock: Clock = SYSTEM_CLOCK) -> None:
    """Run ``certv6 ARGV`` and exit with its code; ``clock`` is for tests (see app.Start)."""
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    signal.signal(signal.SIGTERM, _terminate)
    try:
        # Without standalone mode click returns (not raises) the code of a
        # click.exceptions.Exit that a command raised; pass it on.
        returned = cli.main(args=argv, prog_name="certv6", standalone_mode=False, obj=Start(clock))
        if isinstance(returned, int) and not isinstance(returned, bool):
            sys.exit(returned)
    except click.exceptions.Exit as done:
        sys.exit(done.exit_code)
    except click.ClickException as usage:
        usage.show()
        sys.exit(usage.exit_code)
    except click.Abort:
        sys.exit(EXIT_INTERRUPTED)
    except CertV6Error as error:
        _report(error, debug)
        sys.exit(error.exit_code)
    except KeyboardInterrupt:
        click.echo("certv6: interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except Exception as error:  # a bug in certv6, not a user mistake
        if debug:
            traceback.print_exc()
        click.echo(f"certv6: internal error: {type(error).__name__}: {error}", err=True)
        click.echo("  please report this with the output of --debug", err=True)
        sys.exit(1)
    sys.exit(0)


def _report(error: CertV6Error, debug: bool) -> None:
    if debug:
        traceback.print_exception(error)
    click.echo(f"certv6: error: {error.message}", err=True)
    if error.hint:
        click.echo(f"  hint: {error.hint}", err=True)
    report = getattr(error, "report", None)
    if report is not None:
        from certv6.propagation import render_table

        click.echo(render_table(report), err=True)


def _terminate(signum: int, frame: FrameType | None) -> None:
    # SIGTERM (systemd stop, kill) takes the same path as Ctrl-C, so the
    # finally-blocks remove published TXT values before the process exits.
    raise KeyboardInterrupt
