"""The store interface both backends implement, in the store's own terms (issue #16).

    accounts    the ACME account per CA: key (sealed in a shared store) and URL
    lineages    per certificate: its head (the current version) and its versions,
                each whole: files, meta, the lineage.json it came with
    locks       one per lineage; a shared store's lock is a lease that can be lost,
                so the holder checks it (``Hold.check``) before every irreversible
                step: finalize, commit
    ledger      TXT values published under a lock, until they are cleaned up; an
                entry whose holder is gone is any host's to clean up
    health      what each host last did with a lineage (attempt, version served)

``FileBackend`` (store/filebackend.py) is the state directory as it always was;
``EtcdBackend`` (store/etcd.py) is a fleet's etcd. With a shared backend every
host keeps its local state directory too: ``sync`` mirrors the fleet's heads
into it with the same write-ahead ``current`` switch, so servers and hooks read
the same files as on a single host.

A commit is one step: the new version and the head that names it change
together, and only if the head is still the one the run started from
(``based_on``) and the run still holds its lock. Readers get a head or a
version whole, never a mix.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from certv6.model import TxtRecord


@dataclass(frozen=True, slots=True)
class Head:
    """A lineage's current version; ``revision`` is the backend's token to commit against."""

    lineage: str
    version: str
    revision: int = 0
    sha256: str = ""
    host: str = ""  # who committed it
    committed: str = ""


@dataclass(frozen=True, slots=True)
class StoredVersion:
    """One whole version: the four PEM files, its meta.json and its lineage.json."""

    version: str
    files: Mapping[str, bytes]
    meta: Mapping[str, Any]
    config: Mapping[str, Any]

    @property
    def sha256(self) -> str:
        return str(self.meta.get("sha256", ""))


@dataclass(frozen=True, slots=True)
class StoredAccount:
    server: str
    key_pem: bytes
    url: str | None = None
    # When its key last changed (``certv6 account rollover``, ISO 8601); the later key of
    # one account wins between the fleet and a host (issue #14 in a fleet).
    key_changed: str | None = None

    def newer_key_than(self, other: StoredAccount) -> bool:
        """The same account, with another key that changed after ``other``'s."""
        return (
            bool(self.url)
            and self.url == other.url
            and self.key_pem != other.key_pem
            and (self.key_changed or "") > (other.key_changed or "")
        )


@dataclass(frozen=True, slots=True)
class Holder:
    """Who holds a lineage's lock: the fleet host, its pid, since when."""

    host: str
    pid: int = 0
    since: str = ""

    def __str__(self) -> str:
        return f"{self.host} (pid {self.pid}, since {self.since})"


@dataclass(frozen=True, slots=True)
class Published:
    """A ledger entry of a shared store: values one host published under its lock."""

    id: str
    host: str
    provider: str
    lineage: str
    records: tuple[TxtRecord, ...]
    created: str
    lease: int = 0


@dataclass(frozen=True, slots=True)
class HostHealth:
    """What one host last did with a lineage (shared stores keep one per host)."""

    host: str
    at: str
    version: str = ""  # the version this host serves (or tried to)
    outcome: str = ""  # renewed, synced, failed, ...
    error: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)


class Hold(Protocol):
    """A held lineage lock; ``lease`` is the shared store's lease id (0: a local lock)."""

    holder: Holder
    lease: int

    def check(self, step: str) -> None:
        """Raise LeaseLost when the lock is no longer this run's (before ``step``)."""


class NoLease:
    """The hold of a local lock (flock): it cannot be lost while the process lives."""

    lease = 0

    def __init__(self, holder: Holder) -> None:
        self.holder = holder

    def check(self, step: str) -> None:
        return None


class Backend(Protocol):
    name: str
    shared: bool  # True: other hosts see it; the local state directory is a mirror

    def lineage_names(self) -> list[str]: ...

    def heads(self) -> dict[str, Head]:
        """Every lineage's head, in one read."""

    def head(self, lineage: str) -> Head | None: ...

    def versions(self, lineage: str) -> list[str]: ...

    def fetch(self, lineage: str, version: str) -> StoredVersion: ...

    def commit(
        self, lineage: str, version: StoredVersion, *, based_on: Head | None, hold: Hold
    ) -> Head:
        """Store ``version`` and make it the head, if the head is still ``based_on``.

        Raises:
            LeaseLost: the lock is no longer ``hold``'s.
            StoreError: the head moved (another host committed), or it cannot be written.
        """

    def put_version(self, lineage: str, version: StoredVersion, *, head: bool) -> None:
        """Copy a whole version in as it is (``store migrate``); ``head``: make it current."""

    def remove(self, lineage: str, hold: Hold) -> None:
        """Forget the lineage: its head, every version, the hosts' health."""

    def lock(self, lineage: str, *, wait: float) -> contextlib.AbstractContextManager[Hold]:
        """Hold the lineage's lock. Raises PeerHoldsLock (with ``holder``) after ``wait``."""

    def holder(self, lineage: str) -> Holder | None: ...

    def accounts(self) -> list[StoredAccount]: ...

    def account(self, server: str) -> StoredAccount | None: ...

    def save_account(self, account: StoredAccount) -> StoredAccount:
        """Store it unless one exists for its CA with another key (and not an older key of
        the same account); return the stored one."""

    def publish(
        self, provider: str, lineage: str, records: tuple[TxtRecord, ...], hold: Hold
    ) -> Published: ...

    def unpublish(self, entry: Published) -> None: ...

    def stale(self) -> Iterator[Published]:
        """Ledger entries whose holder is gone (its lease expired, its process died)."""

    def host_health(self, lineage: str) -> list[HostHealth]: ...

    def follow(self, stop: threading.Event) -> Iterator[str]:
        """Lineages whose head changes after the last ``heads()``, as they change."""

    @property
    def requests(self) -> int:
        """Requests sent to a shared store so far (0 for the file store)."""

    def report(self, lineage: str, health: HostHealth) -> None: ...

    def close(self) -> None: ...
