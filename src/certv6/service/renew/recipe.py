"""Use case: renew every certificate that is due, each on its own (``certv6 renew``).

Read it top to bottom:

1. one run at a time: the run lock (a second run waits LOCK_WAIT s, then exits 11)
2. finish what killed runs left (a pending switch, temp files: certv6.store.recovery),
   then what is due, from each lineage's small JSON files alone (plan.py); a
   damaged lineage or account is a failure of its own, never a reason to stop
3. the CA's renewal info (RFC 9773) where its Retry-After has passed (ca.py)
4. the pre hook, once, if anything is due (shell_hooks.py)
5. every due certificate on its own: order with ``replaces``, store, install,
   deploy hook; one failure never stops the others (run.py); then every
   install an earlier run still owes (failed or interrupted), retried
6. the post hook, once, with RENEWED_DOMAINS and FAILED_DOMAINS
7. the report: renewed, skipped, failed; the CLI exits 12 when anything failed

Steps 3-6 need the network and acme, so when nothing is due and no renewal
info is due for a check, the run ends after step 2 having imported neither.

``dry_run`` takes every chosen certificate through steps 2 and 4-5 against the
CA's staging directory, with all state in a temporary directory: the live
store is only read, no hook runs and nothing is installed.
"""

from __future__ import annotations

import datetime
import logging
import random
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from certv6.clock import SYSTEM_CLOCK, Clock
from certv6.errors import CertV6Error, StoreError
from certv6.service.renew.plan import Candidate, candidate_of, scan, snapshots
from certv6.service.renew.report import RenewReport, not_attempted
from certv6.settings import Settings
from certv6.store import Snapshot, Store, hold_lock, needs_recovery

log = logging.getLogger("certv6")

LOCK_WAIT = 5.0


@dataclass(frozen=True, slots=True)
class RenewRequest:
    names: tuple[str, ...] = ()  # empty: every certificate in the store
    force: bool = False  # renew the chosen ones whether due or not
    dry_run: bool = False


def renew(
    settings: Settings,
    request: RenewRequest,
    *,
    clock: Clock = SYSTEM_CLOCK,
    rng: random.Random | None = None,
) -> RenewReport:
    """Renew what is due; see the module docstring for the steps.

    Raises:
        LockBusy: another ``certv6 renew`` is running (after waiting LOCK_WAIT s).
        ConfigError: a ``names`` entry that is not in the store.
    """
    chance = rng or random.SystemRandom()
    if request.dry_run:
        return _dry_run(settings, request, clock, chance)
    # Unknown or malformed --name values fail before anything is written; with
    # --force, what each lineage holds now tells whether another run renewed it
    # while this one waited for the lock.
    looked = request.names or request.force  # the timer's plain run reads the store once
    before = scan(Store(settings.state_dir), request.names, now=clock.now()) if looked else []
    store = Store(settings.state_dir).ensure()
    with hold_lock(store.lock_path("renew"), wait=LOCK_WAIT, clock=clock, what="certv6 renew"):
        if settings.store.backend != "file":
            # A fleet: decide on what the fleet has (a peer may have renewed already).
            from certv6.service.sync import pull  # noqa: PLC0415 (requests, etcd)

            pull(settings, store, clock)
        found = recovered(store, request.names, now=clock.now())
        problems = account_problems(store) + stale_values(settings, store, clock)
        if not any(request.force or each.to_do for each in found):
            log.info("nothing is due (%d certificate(s) checked)", len(found))
            return RenewReport(tuple(not_attempted(each) for each in found), problems=problems)
        # Only now pay for acme, cryptography and dnspython (about 0.3 s to
        # import): the timer's runs mostly end above (issue #6, bench/renew.py).
        from certv6.service.renew.run import renew_due  # noqa: PLC0415

        report = renew_due(
            settings,
            store,
            found,
            force=request.force,
            scratch=None,
            clock=clock,
            rng=chance,
            seen={each.name: each.current for each in before} if request.force else None,
        )
        return replace(report, problems=problems)


def recovered(store: Store, names: Sequence[str], *, now: datetime.datetime) -> list[Candidate]:
    """``scan``, after finishing what killed runs left in each lineage (issue #23)."""
    found = []
    for seen in snapshots(store, names):
        snapshot: Snapshot | None = seen
        if needs_recovery(seen):
            try:
                store.recover(seen, now)
            except StoreError as error:
                log.warning("%s: cannot finish what an interrupted run left: %s", seen.name, error)
            snapshot = seen.lineage.snapshot()
        if snapshot is not None:  # None: it held no certificate, and is gone
            found.append(candidate_of(snapshot, now=now))
    return found


def stale_values(settings: Settings, store: Store, clock: Clock) -> tuple[str, ...]:
    """Remove TXT values that killed runs left, whether or not anything is due.

    A run killed between publishing and cleaning up leaves its values in the
    DNS; the timer's next run removes them (issue #23), and says so when it cannot.
    """
    fleet = settings.store.backend != "file"  # a dead peer's values: whoever runs next
    if not fleet and not store.ledger.has_entries():
        return ()
    from certv6.service.cleanup import (  # noqa: PLC0415 (dnspython: only if needed)
        cleanup_fleet,
        cleanup_stale,
        merged,
    )
    from certv6.service.runtime import build_dns  # noqa: PLC0415

    try:
        dns = build_dns(settings)
        result = merged(
            cleanup_stale(settings, store, dns, clock), cleanup_fleet(settings, dns, clock)
        )
    except CertV6Error as error:
        return (f"stale TXT values: {error}",)
    return tuple(f"stale TXT values not removed: {line}" for line in result.left)


def account_problems(store: Store) -> tuple[str, ...]:
    """Damaged account keys and URLs: each one stops every renewal at its CA, so say it now."""
    found = []
    for _account, what, fix in store.account_problems():
        log.error("account: %s", what)
        log.error("  hint: %s", fix)
        found.append(f"account: {what} ({fix})")
    return tuple(found)


def _dry_run(
    settings: Settings, request: RenewRequest, clock: Clock, rng: random.Random
) -> RenewReport:
    # No lock and no ensure(): a dry run must not write to the live store.
    found = scan(Store(settings.state_dir), request.names, now=clock.now())
    from certv6.service.renew.run import renew_due  # noqa: PLC0415 (see renew())

    with tempfile.TemporaryDirectory(prefix="certv6-dry-run-") as scratch:
        log.info("dry run: staging CA, state in %s (removed afterwards)", scratch)
        return renew_due(
            settings,
            Store(settings.state_dir),
            found,
            force=True,
            scratch=Path(scratch),
            clock=clock,
            rng=rng,
        )
