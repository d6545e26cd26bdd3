"""Use case: remove published TXT values, now or after a crashed run.

The ledger never lies (issue #13): a value whose publication was refused is
not left in it, a removal that keeps failing is reported with its owner and
provider, and ``cleanup --stale --forget VALUE|--all`` drops entries the user
removed from the DNS by hand.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass

from certv6.clock import Clock
from certv6.dnsquery import Dns
from certv6.errors import CertV6Error, CleanupIncomplete, ProviderAuthError
from certv6.model import TxtRecord
from certv6.providers import Provider
from certv6.service.runtime import build_provider
from certv6.settings import Settings
from certv6.store import Ledger, LedgerEntry, Store
from certv6.store.shared import Backend

log = logging.getLogger("certv6")


@dataclass(frozen=True, slots=True)
class StaleCleanup:
    """Counts of TXT values: removed from the DNS, still there, dropped by --forget."""

    removed: int
    failed: int
    forgotten: int = 0
    left: tuple[str, ...] = ()  # one line per batch still in the ledger: owners, provider, why


def cleanup_published(
    provider: Provider,
    records: Sequence[TxtRecord],
    ledger: Ledger,
    entry: LedgerEntry,
    first_error: BaseException | None,
) -> bool:
    """Remove this run's values; on success drop the ledger entry (and return True).

    A cleanup failure never hides the first error: it is logged, the ledger
    entry stays so the next run retries, and the first error propagates.

    Raises:
        CleanupIncomplete: the run was interrupted (Ctrl-C, SIGTERM) and the
            values could not be removed: they stay in the ledger, and the exit
            code (14) says so instead of 130's "values removed".
    """
    try:
        provider.cleanup(records)
    except CertV6Error as error:
        if never_written(first_error, error):
            # present() was refused for lack of permission and so is cleanup(): these
            # credentials could not have written anything, so there is nothing to retry.
            log.warning("cleanup refused as well (%s); nothing was published", error)
            ledger.discard(entry)
            return True
        where = _where(records, provider.name)
        log.warning("cleanup of %s failed, will retry on the next run: %s", where, error)
        if isinstance(first_error, KeyboardInterrupt):
            raise CleanupIncomplete(
                f"interrupted, and {len(records)} TXT value(s) at {where} could not be "
                f"removed: {error}; they are in the ledger"
            ) from error
        if first_error is None:
            log.warning("  hint: %s", error.hint or "run 'certv6 cleanup --stale'")
        return False
    ledger.discard(entry)
    log.info("removed %d TXT value(s)", len(records))
    return True


def never_written(first_error: BaseException | None, cleanup_error: CertV6Error) -> bool:
    """present() and cleanup() were both refused for lack of permission: nothing was written."""
    return isinstance(first_error, ProviderAuthError) and isinstance(
        cleanup_error, ProviderAuthError
    )


def cleanup_stale(
    settings: Settings,
    store: Store,
    dns: Dns,
    clock: Clock,
    *,
    forget: frozenset[str] = frozenset(),
    forget_all: bool = False,
) -> StaleCleanup:
    """Remove values that killed runs left in the DNS (entries no live run holds).

    ``forget``/``forget_all``: first drop those values (or every stale one) from
    the ledger without touching the DNS, for values removed by hand.
    """
    forgotten = _forget(store, forget, forget_all) if forget or forget_all else 0
    removed = failed = 0
    left = []
    for entry, fd in store.ledger.stale_entries():
        try:
            problem = _remove(settings, dns, clock, entry.provider, entry.records)
        finally:
            os.close(fd)
        if problem:
            failed += len(entry.records)
            left.append(_left(entry.records, entry.provider, entry.lineage, entry.created, problem))
            continue
        store.ledger.discard(entry)
        removed += len(entry.records)
        log.info(
            "removed %d TXT value(s) left by an interrupted run (%s)",
            len(entry.records),
            entry.created,
        )
    return StaleCleanup(removed, failed, forgotten, tuple(left))


def cleanup_fleet_stale(
    settings: Settings, backend: Backend, dns: Dns, clock: Clock
) -> StaleCleanup:
    """Remove values a fleet host published and left when it died (its lease expired).

    Any host does it: the first one to run after the lease ran out (issue #16).
    """
    removed = failed = 0
    left = []
    for entry in backend.stale():
        problem = _remove(settings, dns, clock, entry.provider, entry.records)
        if problem:
            failed += len(entry.records)
            who = f"{entry.host} ({entry.lineage})"
            left.append(_left(entry.records, entry.provider, who, entry.created, problem))
            continue
        backend.unpublish(entry)
        removed += len(entry.records)
        log.info(
            "removed %d TXT value(s) that %s left (%s, %s)",
            len(entry.records),
            entry.host,
            entry.lineage,
            entry.created,
        )
    return StaleCleanup(removed, failed, 0, tuple(left))


def cleanup_fleet(settings: Settings, dns: Dns, clock: Clock) -> StaleCleanup:
    """``cleanup_fleet_stale`` with the configured shared store (nothing without one)."""
    if settings.store.backend == "file":
        return StaleCleanup(0, 0)
    from certv6.store.backends import open_backend  # noqa: PLC0415 (requests, etcd)

    backend = open_backend(settings, clock)
    try:
        return cleanup_fleet_stale(settings, backend, dns, clock)
    finally:
        backend.close()


def merged(first: StaleCleanup, second: StaleCleanup) -> StaleCleanup:
    return StaleCleanup(
        first.removed + second.removed,
        first.failed + second.failed,
        first.forgotten + second.forgotten,
        first.left + second.left,
    )


def _forget(store: Store, values: frozenset[str], everything: bool) -> int:
    forgotten = 0
    for entry, fd in store.ledger.stale_entries():
        try:
            if everything or any(record.value in values for record in entry.records):
                forgotten += store.ledger.forget(entry, None if everything else values)
        finally:
            os.close(fd)
    if forgotten:
        log.info("dropped %d value(s) from the ledger (not touching the DNS)", forgotten)
    return forgotten


def _remove(
    settings: Settings, dns: Dns, clock: Clock, provider: str, records: Sequence[TxtRecord]
) -> str:
    """Remove ``records`` with their provider; why not ('' when they are gone)."""
    try:
        build_provider(settings, provider, dns, clock).cleanup(records)
    except CertV6Error as error:
        return str(error)
    return ""


def _left(records: Sequence[TxtRecord], provider: str, who: str, created: str, why: str) -> str:
    line = (
        f"{len(records)} value(s) at {_where(records, provider)}, left by {who} on {created}: {why}"
    )
    log.warning("stale TXT values not removed yet: %s", line)
    return line


def _where(records: Sequence[TxtRecord], provider: str) -> str:
    owners = sorted({record.owner for record in records})
    return f"{', '.join(owners)} (provider {provider})"
