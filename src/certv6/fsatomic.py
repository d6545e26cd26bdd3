"""Atomic file changes: the one recipe every writer in certv6 uses.

A file is written to a temp file in the same directory, fsynced, renamed over
the old one, and the directory fsynced; a link is made under a temp name and
renamed over the old one. A reader (or a crash) sees the old file or the new
one, never a mix, and a key is never readable by others, not even between
create and chmod (the mode is set before the first byte).

Temp names are ``.<name>.certv6-<random>.tmp``, so a sweep after a crash
(``is_leftover``) removes only certv6's own leftovers, also in directories
that belong to a web server.

Functions raise plain ``OSError``: each caller turns it into its own family
(StoreError, InstallError, ProviderError) with the hint that fits there.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

MARK = ".certv6-"
SUFFIX = ".tmp"


def write(path: Path, data: bytes, *, mode: int, uid: int = -1, gid: int = -1) -> None:
    """Create or replace ``path`` with ``data``; mode and owner are set before any byte.

    Raises:
        OSError: the directory is missing or read-only, the disk is full, chown was refused.
    """
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}{MARK}", suffix=SUFFIX, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), mode)
            if uid != -1 or gid != -1:
                os.fchown(handle.fileno(), uid, gid)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    fsync_dir(path.parent)


def point_link(link: Path, target: str | Path) -> None:
    """Make ``link`` a symlink to ``target`` with one rename (never absent in between).

    Raises:
        OSError: the directory cannot be written, or ``link`` is a directory.
    """
    temp = link.with_name(f".{link.name}{MARK}{os.getpid()}{SUFFIX}")
    with contextlib.suppress(FileNotFoundError):
        temp.unlink()
    os.symlink(target, temp)
    try:
        os.replace(temp, link)
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise
    fsync_dir(link.parent)


def fsync_dir(directory: Path) -> None:
    """Make renames in ``directory`` durable (POSIX needs the directory fsynced).

    Raises:
        OSError: the directory cannot be opened.
    """
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def is_leftover(name: str) -> bool:
    """Whether ``name`` is a temp file or link that an interrupted write left behind."""
    return name.startswith(".") and MARK in name and name.endswith(SUFFIX)
