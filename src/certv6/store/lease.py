"""A lineage lock in etcd: a key attached to this host's lease, kept alive by a thread.

The lease is etcd's: if this host stops refreshing it (killed, partitioned,
etcd failed over for longer than the TTL) etcd deletes the lock key when the TTL
runs out, and another host may take the lineage. So a held lock can be lost,
and ``check`` is asked before every irreversible step: it refreshes the lease
once more and raises LeaseLost when that fails or the lease is gone. The commit
transaction also compares the lock key's lease, so a lease lost between the
check and the commit still stops the commit.
"""

from __future__ import annotations

import logging
import threading

from certv6 import etcdnet
from certv6.clock import Clock
from certv6.errors import FleetUnreachable, LeaseLost
from certv6.store.shared import Holder

log = logging.getLogger("certv6")


class LeaseHold:
    def __init__(
        self, client: etcdnet.EtcdClient, key: bytes, holder: Holder, *, lease: int, ttl: int,
        clock: Clock,
    ) -> None:  # fmt: skip
        self.client = client
        self.key = key
        self.holder = holder
        self.lease = lease
        self.ttl = ttl
        self.clock = clock
        self.taken = False
        self.lost = ""  # why, once the lease is known to be gone
        self._refreshed = clock.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._keep_alive, name="certv6-lease", daemon=True)
        self._thread.start()

    @classmethod
    def acquire(
        cls, client: etcdnet.EtcdClient, key: bytes, holder: Holder, ttl: int, clock: Clock
    ) -> LeaseHold:
        return cls(client, key, holder, lease=client.grant(ttl), ttl=ttl, clock=clock)

    def try_take(self, value: bytes) -> bool:
        """Put the lock key with this lease if nobody holds it."""
        done = self.client.txn(
            [etcdnet.modified_at(self.key, 0)], [etcdnet.put_op(self.key, value, self.lease)]
        )
        self.taken = done.succeeded
        return self.taken

    def check(self, step: str) -> None:
        """Raises LeaseLost when the lock is no longer ours (say so before ``step``)."""
        if not self.lost:
            try:
                if self.client.keepalive(self.lease) <= 0:
                    self.lost = "its lease expired"
                else:
                    self._refreshed = self.clock.monotonic()
                    kv = self.client.get(self.key)
                    if kv is None or kv.lease != self.lease:
                        self.lost = "the lock key is gone or belongs to another lease"
            except FleetUnreachable as error:
                age = self.clock.monotonic() - self._refreshed
                if age < self.ttl:
                    # etcd is away for now, but the lease cannot have expired yet: the
                    # commit transaction still compares the lease before it writes.
                    log.warning(
                        "etcd unreachable before %s (%s); the lease is %.0f s old", step, error, age
                    )
                    return
                self.lost = f"etcd unreachable for {age:.0f} s (lease TTL {self.ttl} s): {error}"
        if self.lost:
            raise LeaseLost(
                f"lost the fleet lock on {self.key.decode().rpartition('/')[2]!r} before "
                f"{step}: {self.lost}; stopped before {step}"
            )

    def _keep_alive(self) -> None:
        interval = max(1.0, self.ttl / 3)
        while not self._stop.wait(interval):
            try:
                if self.client.keepalive(self.lease) <= 0:
                    self.lost = "its lease expired"
                    return
                self._refreshed = self.clock.monotonic()
            except FleetUnreachable as error:
                log.debug("lease keep-alive: %s", error)

    def release(self) -> None:
        self._stop.set()
        self._thread.join(5.0)
        try:
            if self.taken:
                self.client.txn(
                    [etcdnet.held_with(self.key, self.lease)], [etcdnet.delete_op(self.key)]
                )
            self.client.revoke(self.lease)
        except FleetUnreachable as error:
            # The lease runs out by itself within its TTL, and the lock with it.
            log.warning(
                "could not release the fleet lock (it expires in %d s): %s", self.ttl, error
            )
