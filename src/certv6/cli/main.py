"""Entry point: run the click app and turn errors into messages and exit codes."""

from __future__ import annotations

import contextlib
import os
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
    interrupts = _Interrupts()
    signal.signal(signal.SIGTERM, interrupts.handle)
    signal.signal(signal.SIGINT, interrupts.handle)
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
        # click turns a KeyboardInterrupt (our SIGINT/SIGTERM) into Abort.
        click.echo("certv6: interrupted", err=True)
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


class _Interrupts:
    """SIGTERM (systemd stop, kill) takes the same path as Ctrl-C: the first one raises
    KeyboardInterrupt so the finally-blocks remove published TXT values.

    Later ones do not interrupt that removal (issue #23: a second signal 1-12 ms
    after the first used to leave the values behind); SIGKILL still stops at
    once, and the ledger then has what is left for the next run.
    """

    def __init__(self) -> None:
        self.seen = 0

    def handle(self, signum: int, frame: FrameType | None) -> None:
        self.seen += 1
        if self.seen == 1:
            raise KeyboardInterrupt
        message = "certv6: still removing what this run published; SIGKILL stops at once\n"
        with contextlib.suppress(OSError):
            os.write(2, message.encode())
