"""The status line on a real terminal (a pty): fits its width, follows a resize, is cleared."""

from __future__ import annotations

import fcntl
import io
import logging
import os
import pty
import struct
import sys
import termios
from collections.abc import Iterator

import pytest

from certv6.cli import logs
from certv6.cli.progress import ProgressLine
from fakes.clock import FakeClock

LONG = "waiting for 3/4 addresses of 2 zones: ns2.certv6.test [fd00::a2] serial 7 < 8; " * 3


class Terminal:
    def __init__(self) -> None:
        self.primary, secondary = pty.openpty()
        self.stream = os.fdopen(secondary, "w")

    def resize(self, columns: int) -> None:
        fcntl.ioctl(
            self.stream.fileno(), termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0)
        )

    def read(self) -> str:
        self.stream.flush()
        return os.read(self.primary, 65536).decode()

    def close(self) -> None:
        self.stream.close()
        os.close(self.primary)


@pytest.fixture
def terminal(monkeypatch: pytest.MonkeyPatch) -> Iterator[Terminal]:
    monkeypatch.setenv("TERM", "xterm")
    opened = Terminal()
    yield opened
    opened.close()


def visible_lines(written: str) -> list[str]:
    """What each redraw leaves on the screen: text after the last CR and erase-line."""
    return [part for part in written.split("\r\x1b[K") if part]


def test_fits_the_width_and_follows_a_resize(terminal: Terminal) -> None:
    terminal.resize(80)
    line = ProgressLine(quiet=False, stream=terminal.stream)
    line.show(LONG)
    [shown] = visible_lines(terminal.read())
    assert len(shown) == 79 and LONG.startswith(shown)  # one column spare: no wrap
    terminal.resize(40)
    line.show(LONG)
    [shown] = visible_lines(terminal.read())
    assert len(shown) == 39
    line.close()
    assert terminal.read() == "\r\x1b[K"  # cleared: the next message starts at column 0


def test_a_log_message_clears_the_line_first(
    terminal: Terminal, monkeypatch: pytest.MonkeyPatch
) -> None:
    terminal.resize(80)
    logs.setup(verbosity=0, quiet=False, env={})
    records = io.StringIO()
    line = ProgressLine(quiet=False, stream=terminal.stream)
    line.show("waiting")
    terminal.read()
    monkeypatch.setattr(sys, "stderr", records)  # the handler writes to the stderr of the moment
    try:
        logging.getLogger("certv6").warning("ns2 lags")
    finally:
        monkeypatch.undo()
        line.close()
    assert terminal.read().startswith("\r\x1b[K")
    assert records.getvalue() == "certv6: warning: ns2 lags\n"


@pytest.mark.parametrize(
    ("quiet", "enabled", "term"), [(True, True, "xterm"), (False, False, "xterm"),
                                   (False, True, "dumb")],
)  # fmt: skip
def test_never_with_quiet_no_progress_or_a_dumb_terminal(
    terminal: Terminal, monkeypatch: pytest.MonkeyPatch, quiet: bool, enabled: bool, term: str
) -> None:
    monkeypatch.setenv("TERM", term)
    line = ProgressLine(quiet=quiet, enabled=enabled, stream=terminal.stream)
    assert not line.live


def test_not_a_terminal_gets_an_occasional_log_line(caplog: pytest.LogCaptureFixture) -> None:
    pipe, clock = io.StringIO(), FakeClock()
    line = ProgressLine(quiet=False, stream=pipe, clock=clock)
    with caplog.at_level(logging.INFO, logger="certv6"):
        line.show("first")
        clock.advance(4.9)
        line.show("second")  # within 5 s of the first: not logged
        clock.advance(0.2)
        line.show("third")
        line.close()
    assert pipe.getvalue() == ""
    assert [r.getMessage() for r in caplog.records] == ["first", "third"]
