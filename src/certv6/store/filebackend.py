"""The store interface over the state directory: what certv6 always did, in the store's terms.

Its lock is an flock (lost only with the process), its commit is the lineage's
write-ahead ``add_version``, its ledger is ``ledger/`` (an entry whose flock is
free is stale), and health is the one host's ``health.json``. ``certv6 store
migrate`` reads and writes through it, so both directions use one code path.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator

from certv6.clock import Clock
from certv6.errors import ConfigError
from certv6.model import TxtRecord
from certv6.store import AccountRecord, Store
from certv6.store.lineage import FILES
from certv6.store.locks import hold_lock
from certv6.store.shared import (
    Head,
    Hold,
    Holder,
    HostHealth,
    NoLease,
    Published,
    StoredAccount,
    StoredVersion,
)


class FileBackend:
    name = "file"
    shared = False

    def __init__(self, store: Store, *, host: str, clock: Clock) -> None:
        self.store = store
        self.host = host
        self.clock = clock

    def lineage_names(self) -> list[str]:
        return [lineage.name for lineage in self.store.lineages.all()]

    def heads(self) -> dict[str, Head]:
        found = {}
        for name in self.lineage_names():
            head = self.head(name)
            if head is not None:
                found[name] = head
        return found

    def head(self, lineage: str) -> Head | None:
        snapshot = self.store.lineages.get(lineage).snapshot()
        if snapshot is None or not snapshot.current:
            return None
        version = snapshot.current.rpartition("/")[2]
        return Head(lineage, version, 0, str(snapshot.meta.get("sha256", "")), self.host)

    def versions(self, lineage: str) -> list[str]:
        return self.store.lineages.get(lineage).complete_versions()

    def fetch(self, lineage: str, version: str) -> StoredVersion:
        stored = self.store.lineages.get(lineage).version(version)
        meta = dict(stored.meta)
        config = meta.pop("lineage", None)
        if not isinstance(config, dict):
            config = self.store.lineages.get(lineage).config()
        files = {name: stored.read(name) for name in FILES}
        return StoredVersion(version, files, meta, config)

    def commit(
        self, lineage: str, version: StoredVersion, *, based_on: Head | None, hold: Hold
    ) -> Head:
        hold.check("commit")
        store = self.store.lineages.get(lineage)
        now = self.clock.now()
        store.add_version(
            version.files,
            version.meta,
            version.config,
            now=now,
            deploy_hook=based_on is not None,
            name=version.version,
        )
        return Head(lineage, version.version, 0, version.sha256, self.host)

    def put_version(self, lineage: str, version: StoredVersion, *, head: bool) -> None:
        stored = self.store.lineages.get(lineage)
        if version.version not in stored.complete_versions():
            stored.store_version(version.version, version.files, version.meta, version.config)
        if head:
            stored.add_version(
                version.files, version.meta, version.config, now=self.clock.now(),
                name=version.version,
            )  # fmt: skip

    def remove(self, lineage: str, hold: Hold) -> None:
        self.store.lineages.get(lineage).remove()

    @contextlib.contextmanager
    def lock(self, lineage: str, *, wait: float) -> Iterator[Hold]:
        holder = Holder(self.host, os.getpid(), self.clock.now().isoformat(timespec="seconds"))
        # Busy: LockBusy (exit 11) as always on one host; no peer can hold it.
        with hold_lock(
            self.store.certificate_lock(lineage),
            wait=wait,
            clock=self.clock,
            what=f"certificate {lineage!r}",
        ):
            yield NoLease(holder)

    def holder(self, lineage: str) -> Holder | None:
        return None  # flock does not say who holds it

    def accounts(self) -> list[StoredAccount]:
        found = []
        for files in self.store.accounts():
            key, server = files.read_key(), _server(files.info_path)
            if key is not None and server:
                found.append(StoredAccount(server, key, files.read_url()))
        return found

    def account(self, server: str) -> StoredAccount | None:
        files = self.store.account(server)
        key = files.read_key()
        if key is None:
            return None
        record = files.read_record()
        return StoredAccount(
            server, key, record.url if record else None, record.key_changed if record else None
        )

    def save_account(self, account: StoredAccount) -> StoredAccount:
        files = self.store.account(account.server)
        existing = files.read_key()
        if existing is not None and existing != account.key_pem:
            return StoredAccount(account.server, existing, files.read_url())
        files.write_key(account.key_pem)
        if account.url:
            files.write_record(
                AccountRecord(account.server, account.url, key_changed=account.key_changed)
            )
        return account

    def publish(
        self, provider: str, lineage: str, records: tuple[TxtRecord, ...], hold: Hold
    ) -> Published:
        # The local ledger (Store.ledger) already records them, flock-ed by this run.
        return Published("", self.host, provider, lineage, records, "")

    def unpublish(self, entry: Published) -> None:
        return None

    def stale(self) -> Iterator[Published]:
        for entry, fd in self.store.ledger.stale_entries():
            os.close(fd)
            yield Published(entry.path.stem, self.host, entry.provider, entry.lineage,
                            entry.records, entry.created)  # fmt: skip

    def host_health(self, lineage: str) -> list[HostHealth]:
        health = self.store.lineages.get(lineage).health()
        at = health.attempt.at.isoformat() if health.attempt else ""
        error = health.attempt.error if health.attempt else ""
        version = health.install.version if health.install else ""
        return [HostHealth(self.host, at, version, "failed" if error else "", error)]

    def report(self, lineage: str, health: HostHealth) -> None:
        return None  # health.json already holds it (Lineage.update_health)

    def follow(self, stop: threading.Event) -> Iterator[str]:
        raise ConfigError('only a shared store can be followed ([store] backend = "etcd")')

    @property
    def requests(self) -> int:
        return 0

    def close(self) -> None:
        return None


def _server(info_path: os.PathLike[str]) -> str:
    import json  # noqa: PLC0415

    try:
        with open(info_path) as handle:
            data = json.load(handle)
    except (OSError, ValueError):
        return ""
    return str(data.get("server", "")) if isinstance(data, dict) else ""
