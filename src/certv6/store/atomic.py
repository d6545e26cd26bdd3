"""Atomic file writes: temp file in the same directory, fsync, rename, fsync the directory.

A reader (or a crash) sees the old file or the new one, never a mix; a key is
never readable by others, not even for the moment between create and chmod.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from certv6.errors import StoreError

PRIVATE = 0o600
PUBLIC = 0o644


def write_atomic(path: Path, data: bytes, mode: int = PRIVATE) -> None:
    """Replace ``path`` with ``data``.

    Raises:
        StoreError: the directory is missing, read-only or full.
    """
    try:
        fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as error:
        raise StoreError(f"cannot write {path}: {error.strerror}") from error
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), mode)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except OSError as error:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise StoreError(f"cannot write {path}: {error.strerror}") from error
    fsync_dir(path.parent)


def fsync_dir(directory: Path) -> None:
    """Make a rename in ``directory`` durable (POSIX needs the directory fsynced)."""
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as error:
        raise StoreError(f"cannot open {directory}: {error.strerror}") from error
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def make_dirs(directory: Path, mode: int = 0o700) -> Path:
    try:
        directory.mkdir(mode=mode, parents=True, exist_ok=True)
    except OSError as error:
        raise StoreError(f"cannot create {directory}: {error.strerror}") from error
    return directory


def replace_symlink(link: Path, target: str) -> None:
    """Point ``link`` at ``target`` atomically (rename over the old link)."""
    temp = link.with_name(f".{link.name}.{os.getpid()}.tmp")
    try:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()
        os.symlink(target, temp)
        os.replace(temp, link)
    except OSError as error:
        raise StoreError(f"cannot switch {link} to {target}: {error.strerror}") from error
    fsync_dir(link.parent)
