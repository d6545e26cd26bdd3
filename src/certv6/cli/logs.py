"""Where certv6's messages go: stderr (plain, or with journald priorities), a log file.

Levels: default certv6's own info lines; ``-q`` warnings and errors only; ``-v``
certv6's debug lines too; ``-vv`` (or ``--debug``) the libraries' as well.
Under systemd (``JOURNAL_STREAM`` names our stderr) every line starts with its
sd-daemon(3) priority, ``<3>`` for errors up to ``<7>`` for debug, so
``journalctl -p warning -u certv6`` shows what needs attention. The log file
(``--log-file`` / ``log_file``) gets certv6's debug lines with time and level,
rotated by size.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TextIO

log = logging.getLogger("certv6")
BACKUPS = 5
# sd-daemon(3): SD_ERR, SD_WARNING, SD_INFO, SD_DEBUG.
_PRIORITY = ((logging.ERROR, 3), (logging.WARNING, 4), (logging.INFO, 6), (0, 7))


class StatusLine:
    """What a live status line needs from the log handler: to be cleared before a message."""

    def clear(self) -> None:  # pragma: no cover - overridden by ProgressLine
        """Remove the status line from the terminal."""


class _Stderr(logging.Handler):
    """Writes to the stderr of the moment (tests swap it) and clears a live status line first."""

    status: StatusLine | None = None

    def __init__(self, journald: bool) -> None:
        super().__init__()
        self.journald = journald

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record)
            if self.status is not None:
                self.status.clear()
            stream: TextIO = sys.stderr
            stream.write(text + "\n")
            stream.flush()
        except Exception:  # logging must never take the run down
            self.handleError(record)

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.levelno >= logging.ERROR:
            message = f"error: {message}"
        elif record.levelno >= logging.WARNING:
            message = f"warning: {message}"
        if not self.journald:
            return "certv6: " + message
        level = next(number for floor, number in _PRIORITY if record.levelno >= floor)
        return "\n".join(f"<{level}>{line}" for line in message.splitlines())


def setup(*, verbosity: int, quiet: bool, env: Mapping[str, str]) -> None:
    """(Re)configure what reaches stderr; a log file already attached stays.

    Records are made at every level (the log file wants certv6's debug lines);
    the stderr handler's level and filter decide what is shown.
    """
    stderr = _Stderr(journald=under_journald(env))
    stderr.setLevel(stderr_level(verbosity, quiet))
    stderr.addFilter(_Libraries(verbosity))
    root = logging.getLogger()
    files = [h for h in root.handlers if getattr(h, "baseFilename", None)]
    root.handlers[:] = [stderr, *files]
    root.setLevel(logging.DEBUG)
    log.setLevel(logging.DEBUG)


def stderr_level(verbosity: int, quiet: bool) -> int:
    if verbosity >= 1:
        return logging.DEBUG
    return logging.WARNING if quiet else logging.INFO


def set_stderr_level(level: int) -> None:
    """Change what stderr shows (the hooks are quiet unless asked: certbot reads stderr)."""
    for handler in logging.getLogger().handlers:
        if isinstance(handler, _Stderr):
            handler.setLevel(level)


class _Libraries(logging.Filter):
    """Below -vv, other libraries' records reach stderr only from WARNING up."""

    def __init__(self, verbosity: int) -> None:
        super().__init__()
        self.verbosity = verbosity

    def filter(self, record: logging.LogRecord) -> bool:
        own = record.name == "certv6" or record.name.startswith("certv6.")
        return own or self.verbosity >= 2 or record.levelno >= logging.WARNING


def attach_file(path: Path, max_bytes: int) -> None:
    """Also log to ``path`` (debug and up, rotated at ``max_bytes``); once per path.

    Raises:
        OSError: the file cannot be opened (the caller turns it into a ConfigError).
    """
    import logging.handlers  # here: `certv6 hook` starts without it (5 ms)

    root = logging.getLogger()
    for handler in root.handlers:
        if isinstance(handler, logging.handlers.RotatingFileHandler):
            if Path(handler.baseFilename) == path.absolute():
                handler.maxBytes = max_bytes
                return
            root.removeHandler(handler)
            handler.close()
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.handlers.RotatingFileHandler(
        path, maxBytes=max_bytes, backupCount=BACKUPS, encoding="utf-8"
    )
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s")
    )
    handler.addFilter(_Libraries(verbosity=1))
    root.addHandler(handler)


def set_status_line(status: StatusLine | None) -> None:
    """Tell the stderr handler which status line to clear before each message."""
    for handler in logging.getLogger().handlers:
        if isinstance(handler, _Stderr):
            handler.status = status


def under_journald(env: Mapping[str, str]) -> bool:
    """True when stderr is the journal stream systemd named in JOURNAL_STREAM (sd-daemon(3))."""
    stream = env.get("JOURNAL_STREAM", "")
    device, _, inode = stream.partition(":")
    if not device.isdigit() or not inode.isdigit():
        return False
    try:
        info = os.fstat(sys.stderr.fileno())
    except (OSError, ValueError, AttributeError):
        return False
    return (info.st_dev, info.st_ino) == (int(device), int(inode))
