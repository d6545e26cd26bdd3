"""The store's file writes: certv6.fsatomic's recipe, failures as StoreError.

A reader (or a crash) sees the old file or the new one, never a mix; a key is
never readable by others, not even for the moment between create and chmod.
"""

from __future__ import annotations

from pathlib import Path

from certv6 import fsatomic
from certv6.errors import StoreError

PRIVATE = 0o600
PUBLIC = 0o644


def write_atomic(path: Path, data: bytes, mode: int = PRIVATE) -> None:
    """Replace ``path`` with ``data``.

    Raises:
        StoreError: the directory is missing, read-only or full.
    """
    try:
        fsatomic.write(path, data, mode=mode)
    except OSError as error:
        raise StoreError(f"cannot write {path}: {error.strerror}") from error


def fsync_dir(directory: Path) -> None:
    """Make a rename in ``directory`` durable (POSIX needs the directory fsynced)."""
    try:
        fsatomic.fsync_dir(directory)
    except OSError as error:
        raise StoreError(f"cannot open {directory}: {error.strerror}") from error


def make_dirs(directory: Path, mode: int = 0o700) -> Path:
    try:
        directory.mkdir(mode=mode, parents=True, exist_ok=True)
    except OSError as error:
        raise StoreError(f"cannot create {directory}: {error.strerror}") from error
    return directory


def replace_symlink(link: Path, target: str) -> None:
    """Point ``link`` at ``target`` atomically (rename over the old link)."""
    try:
        fsatomic.point_link(link, target)
    except OSError as error:
        raise StoreError(f"cannot switch {link} to {target}: {error.strerror}") from error
