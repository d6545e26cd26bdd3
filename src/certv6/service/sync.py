"""Use case: bring the fleet's certificates to this host (``certv6 sync [--watch]``).

1. read every lineage's head from the fleet's store (one request)
2. for each lineage this host serves (``[certificate.NAME] hosts``, docs/fleet.md)
   whose head differs from the local ``current``: fetch that version (one
   request), write it locally with the write-ahead switch, under the lineage's
   local lock
3. install what is owed (new versions, and installs an earlier run left owed):
   config test, reload, served-certificate check, rollback -- the installer of
   ``certv6 install`` -- then the deploy hooks
4. tell the fleet what this host now serves (only when something changed)

With nothing new that is two requests to etcd (the prefix marker and the heads)
and no write anywhere (bench/fleet.py). ``--watch`` then follows the heads with
an etcd watch and does 2-4 for each lineage that changes.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from certv6.clock import SYSTEM_CLOCK, Clock
from certv6.errors import CertV6Error, FleetUnreachable
from certv6.service.fleet import local_version, mirror, report, serves
from certv6.settings import Settings
from certv6.store import Store, hold_lock
from certv6.store.backends import open_backend
from certv6.store.shared import Backend, Head

log = logging.getLogger("certv6")

LOCK_WAIT = 30.0
UP_TO_DATE = "up-to-date"
SYNCED = "synced"
INSTALLED = "installed"
NOT_SERVED = "not-served"
FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Synced:
    """One lineage after a sync: its status, the version here now, what went wrong."""

    name: str
    status: str
    version: str = ""
    committed_by: str = ""
    problem: str = ""
    hint: str = ""

    @property
    def ok(self) -> bool:
        return self.status != FAILED

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "version": self.version or None,
            "committed_by": self.committed_by or None,
            "problem": self.problem or None,
            "hint": self.hint or None,
        }


@dataclass(frozen=True, slots=True)
class SyncReport:
    lineages: tuple[Synced, ...] = ()
    requests: int = 0  # etcd requests this run made

    @property
    def ok(self) -> bool:
        return all(each.ok for each in self.lineages)


def sync(settings: Settings, *, clock: Clock = SYSTEM_CLOCK) -> SyncReport:
    """Steps 1-4 once.

    Raises:
        FleetUnreachable: etcd cannot be reached (the local certificates stay as they are).
        ConfigError: ``[store] backend`` is not a shared store.
    """
    backend = _open(settings, clock)
    try:
        store = Store(settings.state_dir).ensure()
        heads = backend.heads()
        found = tuple(_one(settings, backend, store, head, clock) for head in heads.values())
        return SyncReport(found, backend.requests)
    finally:
        backend.close()


def watch(
    settings: Settings,
    *,
    clock: Clock = SYSTEM_CLOCK,
    stop: threading.Event,
    on_report: Callable[[SyncReport], None],
) -> None:
    """``sync`` once, then again for every lineage whose head changes, until ``stop``."""
    backend = _open(settings, clock)
    try:
        store = Store(settings.state_dir).ensure()
        heads = backend.heads()
        on_report(
            SyncReport(tuple(_one(settings, backend, store, h, clock) for h in heads.values()))
        )
        for name in backend.follow(stop):
            head = backend.head(name)
            if head is not None:
                on_report(SyncReport((_one(settings, backend, store, head, clock),)))
    finally:
        backend.close()


def pull(settings: Settings, store: Store, clock: Clock) -> list[str]:
    """Make the fleet's heads of the lineages this host serves current here (no install).

    ``certv6 renew`` does it first, so it decides on what the fleet has, and
    installs what this makes owed like any other owed install.

    Raises:
        FleetUnreachable: etcd cannot be reached.
    """
    pulled = []
    with contextlib.closing(open_backend(settings, clock)) as backend:
        for head in backend.heads().values():
            if not serves(settings, head.lineage):
                continue
            lock = store.certificate_lock(head.lineage)
            with hold_lock(lock, wait=LOCK_WAIT, clock=clock, what=f"certificate {head.lineage!r}"):
                if mirror(backend, store, head, clock):
                    pulled.append(head.lineage)
    return pulled


def _open(settings: Settings, clock: Clock) -> Backend:
    if settings.store.backend == "file":
        from certv6.errors import ConfigError  # noqa: PLC0415

        raise ConfigError(
            'certv6 sync needs a shared store; [store] backend is "file"',
            hint='set [store] backend = "etcd" and [store.etcd] (docs/fleet.md)',
        )
    return open_backend(settings, clock)


def _one(settings: Settings, backend: Backend, store: Store, head: Head, clock: Clock) -> Synced:
    name = head.lineage
    try:
        if not serves(settings, name):
            return Synced(name, NOT_SERVED, local_version(store, name), head.host)
        lock = store.certificate_lock(name)
        with hold_lock(lock, wait=LOCK_WAIT, clock=clock, what=f"certificate {name!r}"):
            pulled = mirror(backend, store, head, clock)
        problem, hint = _install_owed(settings, store, name, clock)
    except FleetUnreachable:
        raise
    except CertV6Error as error:
        log.error("%s: sync failed: %s", name, error)
        report(backend, settings, name, outcome=FAILED, version=head.version, error=str(error),
               clock=clock)  # fmt: skip
        return Synced(name, FAILED, local_version(store, name), head.host, str(error), error.hint)
    if problem:
        report(backend, settings, name, outcome=FAILED, version=head.version, error=problem,
               clock=clock)  # fmt: skip
        return Synced(name, FAILED, head.version, head.host, problem, hint)
    if not pulled and problem is None:
        return Synced(name, UP_TO_DATE, head.version, head.host)
    status = SYNCED if pulled else INSTALLED
    report(backend, settings, name, outcome=status, version=head.version, error="", clock=clock)
    return Synced(name, status, head.version, head.host)


def _install_owed(
    settings: Settings, store: Store, name: str, clock: Clock
) -> tuple[str | None, str]:
    """Install what the lineage owes its servers; (None, '') when nothing was owed."""
    lineage = store.lineages.get(name)
    if not lineage.health().install_owed:
        return None, ""
    from certv6.service.renew.installs import install_and_hook  # noqa: PLC0415 (the installer)

    problem, _step, hint = install_and_hook(lineage, settings, clock)
    return problem, hint
