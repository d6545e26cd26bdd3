"""File operations for installed files, with owner, group and mode; failures as InstallError.

Writes and link switches are certv6.fsatomic's recipe (the store uses the same
one), with chown: installed files belong to whoever the server runs as.
"""

from __future__ import annotations

import os
from pathlib import Path

from certv6 import fsatomic
from certv6.errors import InstallError

STEP = "write"


def write_file(path: Path, data: bytes, *, mode: int, uid: int = -1, gid: int = -1) -> None:
    """Create or replace ``path``; mode and owner are set before any byte is written.

    Raises:
        InstallError: (step "write") directory missing or read-only, disk full, chown refused.
    """
    try:
        fsatomic.write(path, data, mode=mode, uid=uid, gid=gid)
    except OSError as error:
        raise _error("cannot write", path, error) from error


def point_link(link: Path, target: str | Path) -> None:
    """Make ``link`` a symlink to ``target`` with one rename (never absent in between)."""
    try:
        fsatomic.point_link(link, target)
    except OSError as error:
        raise _error(f"cannot point {link} at {target}:", link, error) from error


def read_link(link: Path) -> str | None:
    try:
        return os.readlink(link)
    except FileNotFoundError:
        return None
    except OSError as error:  # EINVAL: a regular file where a link belongs
        raise _error("cannot read link", link, error) from error


def make_dir(directory: Path, *, mode: int = 0o755) -> Path:
    """Create ``directory`` (and parents) with ``mode`` whatever the umask.

    A service's umask is often 077; servers that read their files as their own
    user must still be able to enter the directories (the key is protected by
    its own mode).
    """
    missing = []
    ancestor = directory
    while not ancestor.is_dir() and ancestor != ancestor.parent:
        missing.append(ancestor)
        ancestor = ancestor.parent
    try:
        for each in reversed(missing):
            each.mkdir(exist_ok=True)
            os.chmod(each, mode)
    except OSError as error:
        raise _error("cannot create", directory, error) from error
    return directory


def fsync_dir(directory: Path) -> None:
    """Make renames in ``directory`` durable (POSIX needs the directory fsynced)."""
    try:
        fsatomic.fsync_dir(directory)
    except OSError as error:
        raise _error("cannot open", directory, error) from error


def rename(source: Path, destination: Path) -> None:
    try:
        os.rename(source, destination)
    except OSError as error:
        raise _error(f"cannot rename {source} to", destination, error) from error
    fsync_dir(destination.parent)


def unlink(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError as error:
        raise _error("cannot remove", path, error) from error


def _error(what: str, path: Path, error: OSError) -> InstallError:
    hint = (
        "run certv6 as root (or as a user who may chown to the configured owner/group)"
        if error.errno in {1, 13}
        else "check the install directory and free space"
    )
    return InstallError(f"{what} {path}: {error.strerror}", step=STEP, hint=hint)
