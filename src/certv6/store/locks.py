"""Advisory locks (flock) so two certv6 runs never work on the same thing at once.

flock locks belong to the open file, so a killed process releases them at
once and no stale lock file ever blocks the next run.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from certv6.clock import Clock
from certv6.errors import LockBusy, StoreError


@contextlib.contextmanager
def hold_lock(path: Path, *, wait: float, clock: Clock, what: str) -> Iterator[None]:
    """Hold an exclusive lock on ``path``, waiting at most ``wait`` seconds.

    Raises:
        LockBusy: still held by someone else after ``wait``.
    """
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as error:
        raise StoreError(f"cannot open lock {path}: {error.strerror}") from error
    try:
        _acquire(fd, wait, clock, what)
        yield
    finally:
        os.close(fd)


@contextlib.contextmanager
def directory_lock(directory: Path) -> Iterator[None]:
    """Hold an exclusive flock on ``directory`` itself for a short read-change-write.

    No lock file: the directory's own inode carries it, so nothing is left behind.
    """
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as error:
        raise StoreError(f"cannot open {directory}: {error.strerror}") from error
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


@contextlib.contextmanager
def lock_is_free(path: Path) -> Iterator[bool]:
    """Try the lock at ``path`` once; the block sees whether it was free (and then holds it)."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as error:
        raise StoreError(f"cannot open lock {path}: {error.strerror}") from error
    try:
        yield try_lock(fd)
    finally:
        os.close(fd)


def try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _acquire(fd: int, wait: float, clock: Clock, what: str) -> None:
    deadline = clock.monotonic() + wait
    delay = 0.05
    while not try_lock(fd):
        if clock.monotonic() >= deadline:
            raise LockBusy(f"{what} is locked by another certv6 run (waited {wait:.0f} s)")
        clock.sleep(delay)
        delay = min(delay * 2, 1.0)
