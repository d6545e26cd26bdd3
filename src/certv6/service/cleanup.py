"""Use case: remove published TXT values, now or after a crashed run."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass

from certv6.clock import Clock
from certv6.dnsquery import Dns
from certv6.errors import CertV6Error, ProviderAuthError
from certv6.model import TxtRecord
from certv6.providers import Provider
from certv6.service.runtime import build_provider
from certv6.settings import Settings
from certv6.store import Ledger, LedgerEntry, Store

log = logging.getLogger("certv6")


@dataclass(frozen=True, slots=True)
class StaleCleanup:
    removed: int
    failed: int


def cleanup_published(
    provider: Provider,
    records: Sequence[TxtRecord],
    ledger: Ledger,
    entry: LedgerEntry,
    first_error: BaseException | None,
) -> None:
    """Remove this run's values; on success drop the ledger entry.

    A cleanup failure never hides the first error: it is logged, the ledger
    entry stays so the next run retries, and the first error propagates.
    """
    try:
        provider.cleanup(records)
    except CertV6Error as error:
        if _never_written(first_error, error):
            # present() was refused for lack of permission and so is cleanup(): these
            # credentials could not have written anything, so there is nothing to retry.
            log.warning("cleanup refused as well (%s); nothing was published", error)
            ledger.discard(entry)
            return
        log.warning("cleanup failed, will retry on the next run: %s", error)
        if first_error is None:
            log.warning("  hint: %s", error.hint or "run 'certv6 cleanup --stale'")
        return
    ledger.discard(entry)
    log.info("removed %d TXT value(s)", len(records))


def _never_written(first_error: BaseException | None, cleanup_error: CertV6Error) -> bool:
    return isinstance(first_error, ProviderAuthError) and isinstance(
        cleanup_error, ProviderAuthError
    )


def cleanup_stale(settings: Settings, store: Store, dns: Dns, clock: Clock) -> StaleCleanup:
    """Remove values that killed runs left in the DNS (entries no live run holds)."""
    removed = failed = 0
    for entry, fd in store.ledger.stale_entries():
        try:
            provider = build_provider(settings, entry.provider, dns, clock)
            provider.cleanup(entry.records)
        except CertV6Error as error:
            failed += 1
            log.warning("stale TXT values from %s not removed yet: %s", entry.created, error)
            continue
        finally:
            os.close(fd)
        store.ledger.discard(entry)
        removed += len(entry.records)
        log.info(
            "removed %d TXT value(s) left by an interrupted run (%s)",
            len(entry.records),
            entry.created,
        )
    return StaleCleanup(removed, failed)
