"""Certificate lineages: versioned directories and an atomically switched ``current`` link.

    certificates/<name>/lineage.json        what to renew: domains, key type, provider, CA
    certificates/<name>/versions/0001/      privkey.pem cert.pem chain.pem fullchain.pem meta.json
    certificates/<name>/current -> versions/0001
    certificates/<name>/ari.json            the CA's renewal info last seen (RFC 9773)

A version directory is complete before it gets its final name, and ``current``
moves only after that, so the four files always change together and the
previous version stays for rollback.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from certv6.errors import ConfigError, StoreError
from certv6.store.atomic import PRIVATE, PUBLIC, fsync_dir, make_dirs, replace_symlink, write_atomic
from certv6.syntax import VERSION_DIR

FILES = ("privkey.pem", "cert.pem", "chain.pem", "fullchain.pem")
ARI_FILE = "ari.json"  # renewal info (RFC 9773) last fetched, written by `certv6 renew`
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def check_lineage_name(name: str) -> str:
    if not _NAME.match(name):
        raise ConfigError(
            f"invalid certificate name {name!r}",
            hint="use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit",
        )
    return name


@dataclass(frozen=True, slots=True)
class Version:
    directory: Path
    meta: Mapping[str, Any]

    def path(self, filename: str) -> Path:
        return self.directory / filename

    def read(self, filename: str) -> bytes:
        try:
            return self.path(filename).read_bytes()
        except OSError as error:
            raise StoreError(f"cannot read {self.path(filename)}: {error.strerror}") from error


class Lineage:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.name = directory.name

    @property
    def current_link(self) -> Path:
        return self.directory / "current"

    def exists(self) -> bool:
        return (self.directory / "lineage.json").is_file() and self.current_link.exists()

    def config(self) -> dict[str, Any]:
        try:
            return dict(json.loads((self.directory / "lineage.json").read_text()))
        except (OSError, ValueError) as error:
            raise StoreError(f"cannot read {self.directory / 'lineage.json'}: {error}") from error

    def save_config(self, config: Mapping[str, Any]) -> None:
        make_dirs(self.directory)
        write_atomic(self.directory / "lineage.json", _json(config), PUBLIC)

    def current(self) -> Version:
        if not self.current_link.exists():
            raise StoreError(f"certificate {self.name!r} has no current version")
        directory = self.current_link.resolve()
        return Version(directory, _read_meta(directory))

    def versions(self) -> list[Path]:
        versions = self.directory / "versions"
        if not versions.is_dir():
            return []
        return sorted(p for p in versions.iterdir() if VERSION_DIR.fullmatch(p.name))

    def add_version(self, files: Mapping[str, bytes], meta: Mapping[str, Any]) -> Version:
        """Write a complete new version and make it current."""
        versions = make_dirs(self.directory / "versions")
        _remove_incomplete(versions)
        number = int(self.versions()[-1].name) + 1 if self.versions() else 1
        incoming = versions / f".incoming-{number:04d}-{os.getpid()}"
        final = versions / f"{number:04d}"
        try:
            make_dirs(incoming)
            for filename in FILES:
                mode = PRIVATE if "key" in filename else PUBLIC
                write_atomic(incoming / filename, files[filename], mode)
            write_atomic(incoming / "meta.json", _json(meta), PUBLIC)
            os.rename(incoming, final)
        except (OSError, StoreError) as error:
            # A full disk: no half version stays behind (a crash's leftovers are
            # removed by the next write, see _remove_incomplete).
            shutil.rmtree(incoming, ignore_errors=True)
            if isinstance(error, StoreError):
                raise
            raise StoreError(f"cannot create {final}: {error.strerror}") from error
        fsync_dir(versions)
        replace_symlink(self.current_link, f"versions/{final.name}")
        return Version(final, meta)

    def roll_back(self) -> Version:
        """Point ``current`` at the version before it (used when an install fails hard)."""
        versions = self.versions()
        current = self.current().directory
        older = [v for v in versions if v.name < current.name]
        if not older:
            raise StoreError(f"certificate {self.name!r} has no earlier version")
        replace_symlink(self.current_link, f"versions/{older[-1].name}")
        return self.current()

    def ari_state(self) -> dict[str, Any] | None:
        """What the CA last said about renewing this lineage (``ari.json``), if anything.

        A torn or foreign file reads as nothing: the CA is then simply asked again.
        """
        return _read_json(os.path.join(self.directory, ARI_FILE))

    def save_ari_state(self, state: Mapping[str, Any]) -> None:
        write_atomic(self.directory / ARI_FILE, _json(state), PUBLIC)

    def snapshot(self) -> Snapshot | None:
        """The current version's meta.json and ari.json; None when not a complete lineage.

        ``certv6 renew`` reads this for every lineage on every run, so it takes
        a handful of system calls and no pathlib walk (bench/renew.py).
        """
        base = str(self.directory)
        try:
            target = os.readlink(os.path.join(base, "current"))
        except OSError:
            return None
        if not os.path.isfile(os.path.join(base, "lineage.json")):
            return None
        meta = _read_json(os.path.join(base, target, "meta.json")) or {}
        return Snapshot(self, meta, self.ari_state())


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What deciding a renewal needs from disk; ``meta`` is {} when unreadable."""

    lineage: Lineage
    meta: Mapping[str, Any]
    ari: Mapping[str, Any] | None


class Lineages:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def get(self, name: str) -> Lineage:
        return Lineage(self.directory / check_lineage_name(name))

    def all(self) -> list[Lineage]:
        if not self.directory.is_dir():
            return []
        found = (Lineage(p) for p in sorted(self.directory.iterdir()) if _NAME.match(p.name))
        return [lineage for lineage in found if lineage.exists()]

    def snapshots(self) -> list[Snapshot]:
        """``snapshot()`` of every complete lineage, in name order."""
        try:
            names = sorted(name for name in os.listdir(self.directory) if _NAME.match(name))
        except FileNotFoundError:
            return []
        except OSError as error:
            raise StoreError(f"cannot list {self.directory}: {error.strerror}") from error
        found = (Lineage(self.directory / name).snapshot() for name in names)
        return [snapshot for snapshot in found if snapshot is not None]


def _remove_incomplete(versions: Path) -> None:
    """Leftovers of a run killed while writing a version; never referenced by ``current``."""
    for leftover in versions.glob(".incoming-*"):
        shutil.rmtree(leftover, ignore_errors=True)


def _read_json(path: str) -> dict[str, Any] | None:
    try:
        with open(path, "rb") as handle:
            data = json.loads(handle.read())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _read_meta(directory: Path) -> dict[str, Any]:
    try:
        return dict(json.loads((directory / "meta.json").read_text()))
    except (OSError, ValueError):
        return {}


def _json(value: Mapping[str, Any]) -> bytes:
    return (json.dumps(value, indent=2, sort_keys=True) + "\n").encode()
