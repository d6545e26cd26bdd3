"""Atomic file changes: the one recipe every writer in certv6 uses.

A file is written to a temp file in the same directory, fsynced, renamed over
the old one, and the directory fsynced; a link is made under a temp name and
renamed over the old one. A reader (or a crash) sees the old file or the new
one, never a mix, and a key is never readable by others, not even between
create and chmod (the mode is set before the first byte).

Temp names are ``.<name>.certv6-<pid>-<random>.tmp`` (a link's:
``.<name>.certv6-<pid>.tmp``), so a sweep after a crash (``sweep``) removes
only certv6's own leftovers, also in directories that belong to a web server,
and never the temp file of a writer that is still running (its pid is alive).

Functions raise plain ``OSError``: each caller turns it into its own family
(StoreError, InstallError, ProviderError) with the hint that fits there.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
import time
from pathlib import Path

MARK = ".certv6-"
SUFFIX = ".tmp"
# A temp name without a pid (written by certv6 before 0.2, or ``.<x>.<pid>.tmp``
# links): removed once it is this old; no write takes that long.
ORPHAN_AGE = 3600.0
_PID = re.compile(r"(?:\.certv6-|\.)(\d+)(?:-[^.]*)?\.tmp$")


def write(path: Path, data: bytes, *, mode: int, uid: int = -1, gid: int = -1) -> None:
    """Create or replace ``path`` with ``data``; mode and owner are set before any byte.

    Raises:
        OSError: the directory is missing or read-only, the disk is full, chown was refused.
    """
    prefix = f".{path.name}{MARK}{os.getpid()}-"
    fd, temp = tempfile.mkstemp(prefix=prefix, suffix=SUFFIX, dir=path.parent)
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


def writer_gone(name: str, path: Path) -> bool:
    """Whether the process that made temp name ``name`` is gone (so its file is debris).

    The pid in the name decides; a name without one (older certv6 versions)
    counts as gone once it is ORPHAN_AGE seconds old.
    """
    pid = pid_in(name)
    if pid is not None:
        return not pid_alive(pid)
    try:
        return time.time() - path.lstat().st_mtime > ORPHAN_AGE
    except FileNotFoundError:
        return False


def pid_in(name: str) -> int | None:
    """The writer's pid in a temp name (``.x.certv6-PID-RANDOM.tmp``, ``.x.PID.tmp``)."""
    found = _PID.search(name)
    return int(found.group(1)) if found else None


def pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return True


def sweep(directory: Path, *, state: bool = False) -> list[Path]:
    """Remove the temp files and links of dead writers in ``directory``; return what went.

    ``state``: ``directory`` belongs to certv6 alone (the state directory), so any
    ``.<name>.tmp`` counts, also the names older certv6 versions used; elsewhere
    (a web server's directory) only names carrying certv6's mark are touched.

    Raises:
        OSError: the directory cannot be read, or a leftover cannot be removed.
    """
    removed = []
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return []
    for name in names:
        ours = is_leftover(name) or (state and name.startswith(".") and name.endswith(SUFFIX))
        path = directory / name
        if ours and writer_gone(name, path):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            removed.append(path)
    return removed
