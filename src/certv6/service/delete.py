"""Use case: ``certv6 delete --name NAME`` -- forget a certificate for good.

The lineage (every version, its health and renewal info) leaves the state
directory in one rename, under the certificate's and its installer's locks, so
no renewal or install is half-way through it. What was installed into servers
stays where it is: a server may still read those files, and removing them
could stop it from starting. The result names those directories. In a fleet
it goes from etcd first (other hosts keep their local copies and stop
receiving new versions; ``certv6 delete`` there removes those).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from certv6.clock import SYSTEM_CLOCK, Clock
from certv6.errors import CertV6Error, ConfigError
from certv6.service.install import install_config
from certv6.settings import Settings
from certv6.store import Store, hold_lock

log = logging.getLogger("certv6")

LOCK_WAIT = 10.0


@dataclass(frozen=True, slots=True)
class Deleted:
    name: str
    directory: Path
    installed: tuple[Path, ...]  # install directories left in place


def installed_directories(settings: Settings, name: str) -> tuple[Path, ...]:
    try:
        return tuple(spec.directory for spec in install_config(settings, name).specs)
    except CertV6Error:
        return ()  # a broken install table must not stop a delete


def _delete_from_fleet(settings: Settings, name: str, clock: Clock) -> None:
    """A fleet: the head, every version and the hosts' health go from etcd first, under
    the lineage's fleet lock, so no host's next sync brings it back."""
    from certv6.store.backends import open_backend  # noqa: PLC0415 (requests, etcd)

    backend = open_backend(settings, clock)
    try:
        with backend.lock(name, wait=LOCK_WAIT) as hold:
            backend.remove(name, hold)
    finally:
        backend.close()
    log.info("deleted certificate %s from the fleet", name)


def delete(settings: Settings, name: str, *, clock: Clock = SYSTEM_CLOCK) -> Deleted:
    """Remove lineage ``name`` from the store.

    Raises:
        ConfigError: there is no such certificate.
        LockBusy: a renewal, issuance or install of it is running.
    """
    store = Store(settings.state_dir)
    lineage = store.lineages.get(name)
    if not lineage.directory.is_dir():
        raise ConfigError(f"no certificate named {name!r}", hint="certv6 list shows them")
    store = store.ensure()
    if settings.store.backend != "file":
        _delete_from_fleet(settings, name, clock)
    with (
        hold_lock(store.certificate_lock(name), wait=LOCK_WAIT, clock=clock, what=repr(name)),
        hold_lock(store.lock_path(f"install-{name}"), wait=LOCK_WAIT, clock=clock, what=repr(name)),
    ):
        lineage.remove()
    log.info("deleted certificate %s (%s)", name, lineage.directory)
    return Deleted(name, lineage.directory, installed_directories(settings, name))
