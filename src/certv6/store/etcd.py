"""The store in etcd, for a fleet (issue #16). Keys under the fleet's prefix P:

    P fleet                       marker: this prefix is certv6's (refused otherwise)
    P heads/<lineage>             the head: which version is current (small; sync reads all)
    P versions/<lineage>/<NNNN>   one whole version: files, meta, lineage.json (key sealed)
    P accounts/<id>               an ACME account: CA, URL, key (sealed)
    P locks/<lineage>             the lock, attached to its holder's lease
    P ledger/<uuid>               TXT values published under a lease, until cleaned up
    P health/<lineage>/<host>     what each host last did with the lineage

A commit is one transaction: put the version and the head, if the head's
mod_revision is the one the run started from and the lock is still attached to
the run's lease. Values are JSON; the gateway's base64 stays in certv6.etcdnet.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import hashlib
import json
import logging
import os
import threading
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import asdict
from typing import Any

from certv6 import etcdnet
from certv6.clock import Clock
from certv6.errors import FleetUnreachable, PeerHoldsLock, StoreError
from certv6.model import TxtRecord
from certv6.store.lease import LeaseHold
from certv6.store.sealing import Sealer
from certv6.store.shared import (
    Head,
    Hold,
    Holder,
    HostHealth,
    Published,
    StoredAccount,
    StoredVersion,
)

log = logging.getLogger("certv6")

MARKER = {"certv6": 1, "layout": 1}
PRIVATE_FILES = ("privkey.pem",)


class EtcdBackend:
    name = "etcd"
    shared = True

    def __init__(
        self,
        client: etcdnet.EtcdClient,
        prefix: str,
        sealer: Sealer,
        *,
        host: str,
        lease_ttl: int,
        clock: Clock,
    ) -> None:
        self.client = client
        self.prefix = prefix if prefix.endswith("/") else prefix + "/"
        self.sealer = sealer
        self.host = host
        self.lease_ttl = lease_ttl
        self.clock = clock
        self._seen = 0  # the store's revision at the last heads()

    def _key(self, *parts: str) -> bytes:
        return (self.prefix + "/".join(parts)).encode()

    # --- the prefix ---------------------------------------------------------------------

    def claim_prefix(self) -> None:
        """Refuse a prefix another tool writes to; mark an empty one as certv6's.

        Raises:
            StoreError: keys certv6 did not write are there.
        """
        marker = self._key("fleet")
        kv = self.client.get(marker)
        if kv is not None:
            value = _json_or_none(kv.value)
            if not isinstance(value, dict) or value.get("certv6") != 1:
                raise self._foreign()
            return
        if self.client.range(self.prefix.encode(), prefix=True, keys_only=True).kvs:
            raise self._foreign()
        self.client.txn([etcdnet.modified_at(marker, 0)], [etcdnet.put_op(marker, _dump(MARKER))])

    def _foreign(self) -> StoreError:
        return StoreError(
            f"etcd prefix {self.prefix!r} holds keys certv6 did not write",
            hint='give certv6 a prefix of its own ([store.etcd] prefix = "/certv6/"); '
            "it never writes into another tool's keys",
        )

    # --- lineages -----------------------------------------------------------------------

    def heads(self) -> dict[str, Head]:
        found = self.client.range(self._key("heads", ""), prefix=True)
        self._seen = found.revision
        heads = {}
        for kv in found.kvs:
            head = self._head(kv)
            if head is not None:
                heads[head.lineage] = head
        return heads

    def head(self, lineage: str) -> Head | None:
        kv = self.client.get(self._key("heads", lineage))
        return self._head(kv) if kv is not None else None

    def _head(self, kv: etcdnet.KeyValue) -> Head | None:
        lineage = kv.key.decode(errors="replace").rpartition("/")[2]
        value = _json_or_none(kv.value)
        if not isinstance(value, dict) or not isinstance(value.get("version"), str):
            log.warning("etcd: %s is not a certv6 head; ignored", kv.key.decode(errors="replace"))
            return None
        return Head(
            lineage,
            value["version"],
            kv.mod_revision,
            str(value.get("sha256", "")),
            str(value.get("host", "")),
            str(value.get("committed", "")),
        )

    def lineage_names(self) -> list[str]:
        return sorted(self.heads())

    def versions(self, lineage: str) -> list[str]:
        found = self.client.range(self._key("versions", lineage, ""), prefix=True, keys_only=True)
        return sorted(kv.key.decode().rpartition("/")[2] for kv in found.kvs)

    def fetch(self, lineage: str, version: str) -> StoredVersion:
        place = self.prefix + f"versions/{lineage}/{version}"
        kv = self.client.get(place.encode())
        value = _json_or_none(kv.value) if kv is not None else None
        if not isinstance(value, dict) or not isinstance(value.get("files"), dict):
            raise StoreError(f"etcd has no whole version at {place}", hint="run certv6 sync again")
        files = {name: base64.b64decode(data) for name, data in value["files"].items()}
        for name, box in value.get("sealed", {}).items():
            files[name] = self.sealer.open(box, f"{place}/{name}")
        return StoredVersion(version, files, value.get("meta", {}), value.get("config", {}))

    def commit(
        self, lineage: str, version: StoredVersion, *, based_on: Head | None, hold: Hold
    ) -> Head:
        hold.check("commit")
        place = self.prefix + f"versions/{lineage}/{version.version}"
        head_key = self._key("heads", lineage)
        now = self.clock.now().isoformat(timespec="seconds")
        head = {"version": version.version, "sha256": version.sha256, "host": self.host,
                "committed": now}  # fmt: skip
        outcome = self.client.txn(
            [
                etcdnet.modified_at(head_key, based_on.revision if based_on else 0),
                etcdnet.held_with(self._key("locks", lineage), hold.lease),
            ],
            [etcdnet.put_op(place.encode(), self._version_value(version, place)),
             etcdnet.put_op(head_key, _dump(head))],
        )  # fmt: skip
        if outcome.succeeded:
            return Head(lineage, version.version, outcome.revision, version.sha256, self.host, now)
        moved = self.head(lineage)
        if moved is not None and (moved.version, moved.sha256, moved.host) == (
            version.version, version.sha256, self.host,
        ):  # fmt: skip
            # A retried request whose first try was applied (the answer got lost): ours.
            return moved
        hold.check("commit")  # the lease went: LeaseLost says so
        raise StoreError(
            f"{lineage}: the fleet's head moved to {moved.version if moved else 'nothing'} "
            f"(by {moved.host if moved else '?'}) while this host held the lock; "
            f"version {version.version} was not stored",
            hint="a migration or a host with an expired lease wrote it; run certv6 sync",
        )

    def _version_value(self, version: StoredVersion, place: str) -> bytes:
        files = {n: base64.b64encode(d).decode() for n, d in version.files.items()
                 if n not in PRIVATE_FILES}  # fmt: skip
        sealed = {n: self.sealer.seal(version.files[n], f"{place}/{n}")
                  for n in PRIVATE_FILES if n in version.files}  # fmt: skip
        body = {"files": files, "sealed": sealed, "meta": dict(version.meta),
                "config": dict(version.config)}  # fmt: skip
        return _dump(body)

    def put_version(self, lineage: str, version: StoredVersion, *, head: bool) -> None:
        """Copy a version in as it is (``certv6 store migrate``); ``head``: make it current."""
        place = self.prefix + f"versions/{lineage}/{version.version}"
        ops = [etcdnet.put_op(place.encode(), self._version_value(version, place))]
        if head:
            now = self.clock.now().isoformat(timespec="seconds")
            value = {"version": version.version, "sha256": version.sha256, "host": self.host,
                     "committed": now}  # fmt: skip
            ops.append(etcdnet.put_op(self._key("heads", lineage), _dump(value)))
        self.client.txn([], ops)

    def remove(self, lineage: str, hold: Hold) -> None:
        hold.check("delete")
        # The head goes first and alone: a reader then never finds a head without its version.
        done = self.client.txn(
            [etcdnet.held_with(self._key("locks", lineage), hold.lease)],
            [etcdnet.delete_op(self._key("heads", lineage))],
        )
        if not done.succeeded:
            hold.check("delete")
            raise StoreError(f"{lineage}: the fleet lock is no longer this run's; nothing deleted")
        self.client.delete(self._key("versions", lineage, ""), prefix=True)
        self.client.delete(self._key("health", lineage, ""), prefix=True)

    # --- locks --------------------------------------------------------------------------

    @contextlib.contextmanager
    def lock(self, lineage: str, *, wait: float) -> Iterator[LeaseHold]:
        holder = Holder(self.host, os.getpid(), self.clock.now().isoformat(timespec="seconds"))
        key = self._key("locks", lineage)
        hold = LeaseHold.acquire(self.client, key, holder, self.lease_ttl, self.clock)
        try:
            deadline = self.clock.monotonic() + wait
            while not hold.try_take(_dump(asdict(holder))):
                if self.clock.monotonic() >= deadline:
                    peer = self.holder(lineage)
                    raise PeerHoldsLock(
                        f"certificate {lineage!r} is being renewed by {peer or 'another host'}",
                        holder=str(peer or ""),
                    )
                self.clock.sleep(0.5)
            yield hold
        finally:
            hold.release()

    def holder(self, lineage: str) -> Holder | None:
        kv = self.client.get(self._key("locks", lineage))
        value = _json_or_none(kv.value) if kv is not None else None
        if not isinstance(value, dict):
            return None
        return Holder(
            str(value.get("host", "?")), int(value.get("pid", 0)), str(value.get("since"))
        )

    # --- accounts -----------------------------------------------------------------------

    def _account_key(self, server: str) -> bytes:
        return self._key("accounts", hashlib.sha256(server.encode()).hexdigest()[:24])

    def accounts(self) -> list[StoredAccount]:
        found = self.client.range(self._key("accounts", ""), prefix=True)
        return [self._account(kv) for kv in found.kvs]

    def account(self, server: str) -> StoredAccount | None:
        kv = self.client.get(self._account_key(server))
        return self._account(kv) if kv is not None else None

    def _account(self, kv: etcdnet.KeyValue) -> StoredAccount:
        value = _json_or_none(kv.value)
        if not isinstance(value, dict) or not isinstance(value.get("server"), str):
            raise StoreError(f"etcd key {kv.key.decode(errors='replace')} is not a certv6 account")
        key = self.sealer.open(value.get("key"), kv.key.decode())
        changed = value.get("key_changed")
        return StoredAccount(
            value["server"], key, value.get("url"), changed if isinstance(changed, str) else None
        )

    def save_account(self, account: StoredAccount) -> StoredAccount:
        key = self._account_key(account.server)
        body = {"server": account.server, "url": account.url, "key_changed": account.key_changed,
                "key": self.sealer.seal(account.key_pem, key.decode())}  # fmt: skip
        existing = self.client.get(key)
        if existing is not None:
            stored = self._account(existing)
            # A rollover of the fleet's account on a host: its later key replaces the old one.
            if not account.newer_key_than(stored):
                if stored.key_pem != account.key_pem or (stored.url and not account.url):
                    return stored  # another host was first: everyone uses that account
                if stored.url == account.url:
                    return stored
        revision = existing.mod_revision if existing is not None else 0
        done = self.client.txn(
            [etcdnet.modified_at(key, revision)], [etcdnet.put_op(key, _dump(body))]
        )
        if not done.succeeded:
            return self.account(account.server) or account
        return account

    # --- ledger -------------------------------------------------------------------------

    def publish(
        self, provider: str, lineage: str, records: tuple[TxtRecord, ...], hold: Hold
    ) -> Published:
        entry = Published(uuid.uuid4().hex, self.host, provider, lineage, records,
                          self.clock.now().isoformat(timespec="seconds"), hold.lease)  # fmt: skip
        body = {"host": entry.host, "provider": provider, "lineage": lineage,
                "records": [[r.owner, r.value] for r in records], "created": entry.created,
                "lease": str(hold.lease)}  # fmt: skip
        self.client.put(self._key("ledger", entry.id), _dump(body))
        return entry

    def unpublish(self, entry: Published) -> None:
        self.client.delete(self._key("ledger", entry.id))

    def stale(self) -> Iterator[Published]:
        for kv in self.client.range(self._key("ledger", ""), prefix=True).kvs:
            entry = _published(kv)
            if entry is None:
                continue
            if entry.lease and self.client.time_to_live(entry.lease) > 0:
                continue  # its host is alive and working on it
            yield entry

    # --- health -------------------------------------------------------------------------

    def host_health(self, lineage: str) -> list[HostHealth]:
        found = self.client.range(self._key("health", lineage, ""), prefix=True)
        result = []
        for kv in found.kvs:
            value = _json_or_none(kv.value)
            if isinstance(value, dict):
                host, at, version, outcome, error = (
                    str(value.get(k, "")) for k in ("host", "at", "version", "outcome", "error")
                )
                result.append(HostHealth(host, at, version, outcome, error))
        return result

    def report(self, lineage: str, health: HostHealth) -> None:
        body = {k: v for k, v in asdict(health).items() if k != "extra"} | dict(health.extra)
        self.client.put(self._key("health", lineage, health.host), _dump(body))

    def follow(self, stop: threading.Event) -> Iterator[str]:
        """Lineages whose head is put after the last ``heads()`` (an etcd watch)."""
        prefix = self._key("heads", "")
        for event in self.client.watch(prefix, start_revision=self._seen + 1, stop=stop):
            if event.kind == etcdnet.COMPACTED:
                # The watch fell behind etcd's compaction: every head may have moved.
                yield from sorted(self.heads())
            elif event.kind == "PUT":
                yield event.kv.key.decode(errors="replace").rpartition("/")[2]

    @property
    def requests(self) -> int:
        return self.client.requests

    def close(self) -> None:
        self.client.close()


def _published(kv: etcdnet.KeyValue) -> Published | None:
    value: Any = _json_or_none(kv.value)
    try:
        records = tuple(TxtRecord(str(o), str(v)) for o, v in value["records"])
        return Published(
            id=kv.key.decode().rpartition("/")[2],
            host=str(value["host"]),
            provider=str(value["provider"]),
            lineage=str(value["lineage"]),
            records=records,
            created=str(value.get("created", "")),
            lease=int(value.get("lease", 0)),
        )
    except (TypeError, KeyError, ValueError):
        log.warning("etcd: ledger entry %s is damaged; ignored", kv.key.decode(errors="replace"))
        return None


def _dump(value: Mapping[str, Any]) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def _json_or_none(data: bytes) -> Any:
    try:
        return json.loads(data)
    except ValueError:
        return None


def now_text(clock: Clock) -> str:
    return clock.now().astimezone(datetime.UTC).isoformat(timespec="seconds")


__all__ = ["EtcdBackend", "FleetUnreachable"]
