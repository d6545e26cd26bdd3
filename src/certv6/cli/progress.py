"""The live status line while certv6 waits for nameservers.

On a terminal it is one line that fits the terminal's current width (read again
at every update, so a resized window is followed), rewritten in place, cleared
before any log message and when the wait ends. Where stderr is no terminal
(a pipe, a file, the journal), with ``TERM=dumb``, ``-q`` or ``--no-progress``
it never appears; a pipe gets an occasional ordinary log line instead.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any, TextIO

from certv6.cli import logs
from certv6.clock import SYSTEM_CLOCK, Clock

log = logging.getLogger("certv6")
_CLEAR = "\r\x1b[K"  # carriage return, erase to the end of the line (ECMA-48 EL)


class ProgressLine(logs.StatusLine):
    """Call it with a propagation report; ``close()`` when the wait is over."""

    def __init__(
        self,
        *,
        quiet: bool,
        enabled: bool = True,
        stream: TextIO | None = None,
        every: float = 5.0,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.live = enabled and not quiet and terminal(self.stream)
        self.quiet = quiet
        self.every = every
        self.clock = clock
        self._last: float | None = None
        self._shown = False

    def __call__(self, report: Any) -> None:
        from certv6.propagation import render_status_line

        self.show(render_status_line(report))

    def show(self, line: str) -> None:
        if self.live:
            # One column spare: writing the last column makes some terminals wrap.
            width = max(terminal_width(self.stream) - 1, 10)
            self.stream.write(_CLEAR + line[:width])
            self.stream.flush()
            if not self._shown:
                self._shown = True
                logs.set_status_line(self)
            return
        now = self.clock.monotonic()
        if not self.quiet and (self._last is None or now - self._last >= self.every):
            self._last = now
            log.info("%s", line)

    def clear(self) -> None:
        if self._shown:
            self.stream.write(_CLEAR)
            self.stream.flush()

    def close(self) -> None:
        self.clear()
        if self._shown:
            self._shown = False
            logs.set_status_line(None)


def terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty() and os.environ.get("TERM", "") != "dumb"
    except ValueError:  # a closed stream
        return False


def terminal_width(stream: TextIO) -> int:
    try:
        return os.get_terminal_size(stream.fileno()).columns
    except (OSError, ValueError):
        return 80
