"""Entry point: run the click app and turn errors into messages and exit codes.

Errors go to stderr (through the logger, so the log file and journald see them
too); under ``--json`` an error document also goes to stdout, unless the
command already printed its result document (one document per run).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import traceback
from types import FrameType

import click

from certv6.cli import (
    commands,  # noqa: F401  (importing registers every subcommand)
    jsonout,
)
from certv6.cli.app import Start, cli
from certv6.clock import SYSTEM_CLOCK, Clock
from certv6.errors import EXIT_INTERRUPTED, CertV6Error

log = logging.getLogger("certv6")
EXIT_USAGE = 2


def main(argv: list[str] | None = None, *, clock: Clock = SYSTEM_CLOCK) -> None:
    """Run ``certv6 ARGV`` and exit with its code; ``clock`` is for tests (see app.Start)."""
    args = argv if argv is not None else sys.argv[1:]
    debug = "--debug" in args
    start = Start(clock)
    interrupts = _Interrupts()
    signal.signal(signal.SIGTERM, interrupts.handle)
    signal.signal(signal.SIGINT, interrupts.handle)
    try:
        # Without standalone mode click returns (not raises) the code of a
        # click.exceptions.Exit that a command raised; pass it on.
        returned = cli.main(args=argv, prog_name="certv6", standalone_mode=False, obj=start)
        if isinstance(returned, int) and not isinstance(returned, bool):
            sys.exit(returned)
    except click.exceptions.Exit as done:
        sys.exit(done.exit_code)
    except click.ClickException as usage:
        usage.show()
        _json_error(start, None, "usage", usage.exit_code, usage.format_message(), args=args)
        sys.exit(usage.exit_code)
    except click.Abort:
        # click turns a KeyboardInterrupt (our SIGINT/SIGTERM) into Abort.
        log.error("interrupted")
        _json_error(start, None, "interrupted", EXIT_INTERRUPTED, "interrupted")
        sys.exit(EXIT_INTERRUPTED)
    except CertV6Error as error:
        _report(error, debug)
        _json_error(start, error, jsonout.error_code(error), error.exit_code, error.message)
        sys.exit(error.exit_code)
    except KeyboardInterrupt:
        log.error("interrupted")
        _json_error(start, None, "interrupted", EXIT_INTERRUPTED, "interrupted")
        sys.exit(EXIT_INTERRUPTED)
    except Exception as error:  # a bug in certv6, not a user mistake
        if debug:
            traceback.print_exc()
        message = f"internal error: {type(error).__name__}: {error}"
        log.error("%s\n  please report this with the output of --debug", message)
        _json_error(start, None, "internal", 1, message)
        sys.exit(1)
    sys.exit(0)


def _report(error: CertV6Error, debug: bool) -> None:
    if debug:
        traceback.print_exception(error)
    text = error.message + (f"\n  hint: {error.hint}" if error.hint else "")
    report = getattr(error, "report", None)
    if report is not None:
        from certv6.propagation import render_table

        text += "\n" + render_table(report)
    log.error("%s", text)


def _json_error(
    start: Start,
    error: CertV6Error | None,
    code: str,
    exit_code: int,
    message: str,
    *,
    args: list[str] | None = None,
) -> None:
    # `--json` given but the command's option callback never ran (a usage error
    # before it): still answer in JSON if the word is on the command line.
    wanted = start.output.json or "--json" in (args or [])
    if wanted and not start.output.printed:
        body = jsonout.error_body(error, code=code, exit_code=exit_code, message=message)
        click.echo(jsonout.dumps("error", body, one_line=start.output.lines))


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
