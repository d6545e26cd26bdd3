"""Use case: copy the whole store to the other backend (``certv6 store migrate --to etcd|file``).

Everything goes: every account (key sealed on its way into etcd), every
complete version of every lineage, and each lineage's head. Then every copy is
read back from the target and compared with the source, byte for byte (the
SHA-256 of each file), so "migrated" means "verified". A lineage whose head in
the target differs from the source's head is left alone and reported: the
target moved on (a fleet renewed it) and must not be rolled back.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from dataclasses import dataclass
from typing import Any

from certv6.clock import SYSTEM_CLOCK, Clock
from certv6.errors import ConfigError, StoreError
from certv6.settings import Settings
from certv6.store import Store
from certv6.store.backends import open_backend
from certv6.store.shared import Backend, StoredVersion

log = logging.getLogger("certv6")


@dataclass(frozen=True, slots=True)
class Migrated:
    source: str
    target: str
    accounts: int = 0
    lineages: int = 0
    versions: int = 0
    verified_files: int = 0
    skipped: tuple[str, ...] = ()  # lineages left alone, with why

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "target": self.target,
            "accounts": self.accounts,
            "lineages": self.lineages,
            "versions": self.versions,
            "verified_files": self.verified_files,
            "skipped": list(self.skipped),
        }


def migrate(settings: Settings, to: str, *, clock: Clock = SYSTEM_CLOCK) -> Migrated:
    """Copy everything from the other backend to ``to`` ("etcd" or "file"), then verify.

    Raises:
        StoreError: a copy read back differs from its source (nothing is deleted anywhere).
        FleetUnreachable, ConfigError: the etcd side cannot be used.
    """
    source_kind = "file" if to == "etcd" else "etcd"
    if source_kind == "etcd" and not settings.store.etcd.endpoints:
        raise ConfigError("migrating from etcd needs [store.etcd] endpoints")
    Store(settings.state_dir).ensure()
    with (
        contextlib.closing(open_backend(settings, clock, backend=source_kind)) as source,
        contextlib.closing(open_backend(settings, clock, backend=to)) as target,
    ):
        accounts = _accounts(source, target)
        lineages, versions, files, skipped = 0, 0, 0, []
        for name in source.lineage_names():
            copied = _lineage(source, target, name)
            if isinstance(copied, str):
                skipped.append(copied)
                continue
            lineages += 1
            versions += copied[0]
            files += copied[1]
    log.info("migrated to %s: %d account(s), %d lineage(s), %d version(s), verified",
             to, accounts, lineages, versions)  # fmt: skip
    return Migrated(source_kind, to, accounts, lineages, versions, files, tuple(skipped))


def _accounts(source: Backend, target: Backend) -> int:
    count = 0
    for account in source.accounts():
        stored = target.save_account(account)
        again = target.account(account.server)
        if again is None or again.key_pem != stored.key_pem:
            raise StoreError(f"account of {account.server}: the copy does not read back whole")
        if stored.key_pem != account.key_pem:
            log.warning("account of %s: the target has another account already; kept it",
                        account.server)  # fmt: skip
        count += 1
    return count


def _lineage(source: Backend, target: Backend, name: str) -> tuple[int, int] | str:
    head = source.head(name)
    if head is None:
        return f"{name}: no current version in the source"
    there = target.head(name)
    if there is not None and there.version != head.version:
        return (
            f"{name}: the target's current version is {there.version}, the source's "
            f"{head.version}; left alone"
        )
    versions = [v for v in source.versions(name) if v != head.version] + [head.version]
    files = 0
    for number in versions:
        version = source.fetch(name, number)
        target.put_version(name, version, head=number == head.version)
        files += _verify(name, version, target.fetch(name, number))
    moved = target.head(name)
    if moved is None or moved.version != head.version:
        raise StoreError(
            f"{name}: the target's current version is not {head.version} after copying"
        )
    return len(versions), files


def _verify(name: str, want: StoredVersion, got: StoredVersion) -> int:
    for filename, data in want.files.items():
        if _digest(got.files.get(filename, b"")) != _digest(data):
            raise StoreError(
                f"{name}: version {want.version} {filename} differs after copying",
                hint="nothing was removed from the source; run the migration again",
            )
    if dict(got.config) != dict(want.config):
        raise StoreError(f"{name}: version {want.version}'s lineage.json differs after copying")
    return len(want.files)


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
