"""A fleet's shared store as the use cases meet it: which lineages this host serves,
bringing the fleet's head of a lineage into the local state directory, and the
account every host shares (docs/fleet.md).

The local state directory stays what it always was: ``mirror`` writes a version
the fleet committed with the lineage's own write-ahead switch (same number,
same files), so servers, hooks and ``certv6 list`` read it as before, and the
install it makes owed is done by the next ``sync`` or ``renew``.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

from certv6.clock import Clock
from certv6.errors import StoreError
from certv6.settings import Settings
from certv6.store import AccountRecord, Store
from certv6.store.backends import host_name, open_backend
from certv6.store.shared import Backend, Head, HostHealth, StoredAccount

log = logging.getLogger("certv6")


def is_fleet(settings: Settings) -> bool:
    return settings.store.backend != "file"


@contextlib.contextmanager
def opened(settings: Settings, clock: Clock) -> Iterator[Backend]:
    backend = open_backend(settings, clock)
    try:
        yield backend
    finally:
        backend.close()


def serves(settings: Settings, name: str) -> bool:
    """Whether this host serves lineage ``name``: ``hosts`` names it or one of its tags.

    A certificate without ``hosts`` (or without a ``[certificate.NAME]`` table) is
    served by every host of the fleet.
    """
    table = settings.certificates.get(name, {})
    hosts = table.get("hosts")
    if hosts is None:
        return True
    if not isinstance(hosts, list) or not all(isinstance(h, str) for h in hosts):
        raise StoreError(f"[certificate.{name}] hosts must be a list of host names or tags")
    mine = {host_name(settings), *settings.store.tags}
    return bool(mine & set(hosts))


def local_version(store: Store, name: str) -> str:
    """The version the local mirror has current ('' when none)."""
    snapshot = store.lineages.get(name).snapshot()
    if snapshot is None or snapshot.empty or not snapshot.current:
        return ""
    return snapshot.current.rpartition("/")[2]


def mirror(backend: Backend, store: Store, head: Head, clock: Clock) -> str:
    """Make the fleet's ``head`` current in the local state directory; '' when it already is.

    Returns the version made current. The caller holds the lineage's local lock.

    Raises:
        StoreError: the version cannot be read (sealed with another key) or written.
    """
    have = local_version(store, head.lineage)
    if have == head.version:
        return ""
    version = backend.fetch(head.lineage, head.version)
    lineage = store.lineages.get(head.lineage)
    lineage.add_version(
        version.files,
        version.meta,
        version.config,
        now=clock.now(),
        deploy_hook=bool(have),  # a new version of a lineage it served already: a renewal
        name=version.version,
    )
    log.info(
        "%s: version %s from the fleet (committed by %s)", head.lineage, head.version, head.host
    )
    return version.version


def next_version(store: Store, name: str, head: Head | None) -> str:
    """The number of the version a commit adds: after the fleet's head and every local one."""
    local = [int(p.name) for p in store.lineages.get(name).versions()]
    fleet = [int(head.version)] if head is not None else []
    return f"{max([0, *local, *fleet]) + 1:04d}"


def share_account(settings: Settings, store: Store, clock: Clock) -> None:
    """Before using the account of ``settings.server``: take the fleet's, or give it ours.

    One account per CA for the whole fleet: a host that finds one in the store
    writes it locally (the fleet's wins over a local one); a host that has one the
    fleet lacks stores it there.
    """
    files = store.account(settings.server)
    if files.read_next_key() is not None:
        return  # a key rollover in flight here: settled first, then given to the fleet
    with opened(settings, clock) as backend:
        shared = backend.account(settings.server)
        local = _local_account(settings, store)
        if local is not None and (shared is None or not shared.url or local.newer_key_than(shared)):
            # The fleet has none yet, or this host rolled the account's key over.
            shared = backend.save_account(local)
        if shared is None or not shared.url:
            return
        if local is None or shared.key_pem != local.key_pem or shared.url != local.url:
            files.write_key(shared.key_pem)
            record = files.read_record()
            if record is None or record.url != shared.url:
                record = AccountRecord(settings.server, shared.url)
            files.write_record(record.but(key_changed=shared.key_changed))
            log.info("account: using the fleet's account %s", shared.url)


def _local_account(settings: Settings, store: Store) -> StoredAccount | None:
    files = store.account(settings.server)
    key, record = files.read_key(), files.read_record()
    if key is None or record is None or not record.url:
        return None
    return StoredAccount(settings.server, key, record.url, record.key_changed)


def publish_account(settings: Settings, store: Store, clock: Clock) -> None:
    """After registering: put the new account in the fleet (or adopt a faster host's)."""
    files = store.account(settings.server)
    local = _local_account(settings, store)
    if local is None:
        return
    with opened(settings, clock) as backend:
        stored = backend.save_account(local)
    if stored.key_pem != local.key_pem and stored.url:
        files.write_key(stored.key_pem)
        files.write_record(
            AccountRecord(settings.server, stored.url, key_changed=stored.key_changed)
        )
        log.info("account: another host registered first; using %s from now on", stored.url)


def report(
    backend: Backend, settings: Settings, name: str, *, outcome: str, version: str, error: str,
    clock: Clock,
) -> None:  # fmt: skip
    """Tell the fleet what this host did with ``name``; a failure to say so is only logged."""
    health = HostHealth(
        host_name(settings), clock.now().isoformat(timespec="seconds"), version, outcome, error
    )
    try:
        backend.report(name, health)
    except StoreError as error_:
        log.warning("%s: cannot record this host's health in the fleet: %s", name, error_)
