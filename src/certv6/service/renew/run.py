"""Steps 3-6 of ``certv6 renew`` (recipe.py has the whole recipe): ask the CA, hooks, renew.

One failure never stops the others: each certificate is renewed on its own,
and whatever goes wrong becomes that certificate's outcome in the report and
its health record (health.json: the attempt, its error and exit code).
The due certificates are renewed side by side, sharing the CA session, the
UPDATEs and the propagation wait (together.py, issue #19); installs and
deploy hooks then run one certificate after the other, in the order of the
report, as before. A certificate that is not due but still owes its servers
an install (a failed install, or a run killed before it) gets that install,
and its deploy hook, in every run until it works (issue #13).
"""

from __future__ import annotations

import datetime
import logging
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from certv6.clock import Clock
from certv6.errors import CertV6Error, CleanupIncomplete, NoCaCouldIssue, PeerHoldsLock
from certv6.service.issue import IssueResult
from certv6.service.renew.ca import dry_run_settings, lineage_config, refresh_ari, renew_one
from certv6.service.renew.installs import install_all
from certv6.service.renew.plan import Candidate, candidate
from certv6.service.renew.report import (
    FAILED,
    RENEWED,
    SKIPPED,
    Outcome,
    RenewReport,
    changed_while_waiting,
    not_attempted,
    postponed,
)
from certv6.service.renew.sessions import CaSessions, postpone_for
from certv6.service.renew.shell_hooks import run_hook
from certv6.service.renew.together import Together
from certv6.settings import Settings
from certv6.store import Store

log = logging.getLogger("certv6")


@dataclass(frozen=True, slots=True)
class _Run:
    settings: Settings
    scratch: Path | None  # a dry run's state directory
    together: Together
    live: CaSessions
    rng: random.Random

    @property
    def clock(self) -> Clock:
        return self.together.clock


@dataclass(frozen=True, slots=True)
class _Issued:
    """A lineage after the side-by-side part: its outcome, and a new certificate to install."""

    outcome: Outcome
    result: IssueResult | None = None


def renew_due(
    settings: Settings,
    store: Store,
    found: Sequence[Candidate],
    *,
    force: bool,
    scratch: Path | None,
    clock: Clock,
    rng: random.Random,
    seen: dict[str, str] | None = None,
) -> RenewReport:
    """Steps 3-6: renewal info where due, the pre hook, each renewal, the post hook.

    ``seen``: the version each lineage had before the run lock was ours; one that
    changed meanwhile was renewed by another run and is not renewed again (--force).

    ``scratch`` set means a dry run: state goes there, no renewal info is asked
    (the staging CA did not issue the live certificates) and no hook runs.
    """
    together = Together(clock, concurrency=settings.renew_concurrency)
    run = _Run(settings, scratch, together, together.sessions(settings, store), rng)
    if scratch is None:
        found = [_asked(each, run) if each.check_ari else each for each in found]
    due = [each for each in found if not each.problem and (force or each.due)]
    moved = {e.name for e in due if seen is not None and seen.get(e.name, e.current) != e.current}
    due = [each for each in due if each.name not in moved]
    chosen = {each.name for each in due}
    outcomes = {each.name: not_attempted(each) for each in found if each.name not in chosen}
    outcomes.update({e.name: changed_while_waiting(e, e.current) for e in found if e.name in moved})
    # A dry run installs nothing: what is owed stays owed for the next real run.
    owed = [e for e in found if e.name not in chosen and e.install_owed] if scratch is None else []
    hooks = scratch is None and bool(due)  # a dry run runs no hooks and installs nothing
    problems = [run_hook("pre", settings.pre_hook, {})] if hooks else []
    issued: dict[str, _Issued] = {}
    try:
        if due:
            log.info(
                "renewing %d certificate(s), %d at a time", len(due), settings.renew_concurrency
            )
        try:
            together.each(
                lambda each: _issued(each, run),
                due,
                lambda each, result: issued.__setitem__(each.name, result),
                label=lambda each: each.name,
            )
        finally:
            together.close()
            # What was renewed before an interrupt still counts, for the post hook too.
            outcomes.update({name: done.outcome for name, done in issued.items()})
        renewed = [(each, result) for each in due if (result := issued[each.name].result)]
        outcomes.update(install_all(settings, renewed, owed, clock=run.clock))
    finally:
        if hooks:
            # In the order of the report, whatever order the renewals ended in.
            ended = [outcomes[each.name] for each in found if each.name in outcomes]
            problems.append(run_hook("post", settings.post_hook, _post_env(ended)))
    return RenewReport(
        tuple(outcomes[each.name] for each in found),
        dry_run=scratch is not None,
        hook_problems=tuple(problem for problem in problems if problem),
    )


def _asked(found: Candidate, run: _Run) -> Candidate:
    # A lineage whose renewal info cannot be asked or kept is decided by the fallback.
    try:
        server = lineage_config(found.lineage, run.settings).server
        return refresh_ari(found, run.live, server, clock=run.clock, rng=run.rng)
    except CertV6Error as error:
        log.warning("%s: %s", found.name, error)
        return found


def _issued(found: Candidate, run: _Run) -> _Issued:
    """Order, validate, store (side by side with the others); never raises but interrupts."""
    try:
        return _issue(found, run)
    except CleanupIncomplete:
        raise  # interrupted and values left in the DNS: the run's exit code says so
    except PeerHoldsLock as error:
        # A fleet: another host is renewing it right now; its result arrives by sync.
        log.info("%s: skipped, %s", found.name, error)
        return _Issued(
            Outcome(found.name, SKIPPED, f"skipped: {error}", found.configured_domains())
        )
    except CertV6Error as error:
        wait = postpone_for(error)
        if wait is not None:
            return _postponed(found, run, run.clock.now() + wait, _why_postponed(error))
        log.error("%s: renewal failed: %s", found.name, error)
        if error.hint:
            log.error("  hint: %s", error.hint)
        _attempted(found, run, str(error), error.exit_code)
        outcome = Outcome(
            found.name,
            FAILED,
            str(error),
            found.configured_domains(),
            hint=error.hint,
            step="renewal",
        )
        return _Issued(outcome)
    except Exception as error:  # a bug in one renewal must not stop the others
        log.debug("%s: internal error", found.name, exc_info=True)
        detail = f"internal error: {type(error).__name__}: {error} (--debug shows more)"
        log.error("%s: %s", found.name, detail)
        _attempted(found, run, detail, 1)
        return _Issued(
            Outcome(found.name, FAILED, detail, found.configured_domains(), step="renewal")
        )


def _issue(found: Candidate, run: _Run) -> _Issued:
    server = lineage_config(found.lineage, run.settings).server
    if run.scratch is None:
        settings = run.settings.at_ca(server)
    else:
        settings = dry_run_settings(run.settings, server, run.scratch)
    sessions = run.together.sessions(settings, Store(settings.state_dir))
    result = renew_one(
        found,
        settings,
        sessions,
        replacing=run.scratch is None,
        clock=run.clock,
        sharing=run.together,
    )
    if run.scratch is not None:
        detail = "dry run: staging issued"
        return _Issued(Outcome(found.name, RENEWED, detail, result.domains, result.not_after))
    if result.kept:
        return _Issued(changed_while_waiting(found, f"versions/{result.directory.name}"))
    _attempted(found, run, "", 0)
    # RFC 9773 4.3: ask about the new certificate right after issuance. Not asking
    # (or not keeping the answer) only delays that: the next run asks again.
    try:
        fresh = candidate(found.lineage, now=run.clock.now())
        refresh_ari(fresh, sessions, result.ca or settings.server, clock=run.clock, rng=run.rng)
    except CertV6Error as error:
        log.warning("%s: renewal info not kept: %s", found.name, error)
    renewed = Outcome(
        found.name, RENEWED, "renewed", result.domains, result.not_after, renewed=True
    )
    return _Issued(renewed, result)


def _why_postponed(error: CertV6Error) -> str:
    if isinstance(error, NoCaCouldIssue):
        return str(error)  # every CA of the list, each with its reason
    return f"the CA rate-limited it ({error})"


def _postponed(found: Candidate, run: _Run, until: datetime.datetime, reason: str) -> _Issued:
    """Not failed: the CA asked to wait. Kept in its health for ``list`` and the next run."""
    log.warning("%s: postponed until %s UTC: %s", found.name, f"{until:%Y-%m-%d %H:%M}", reason)
    if run.scratch is None:
        now = run.clock.now()
        found.lineage.record(lambda health: health.postponed_until(until, reason, now))
    return _Issued(postponed(found.name, until, reason, found.configured_domains()))


def _attempted(found: Candidate, run: _Run, error: str, exit_code: int) -> None:
    if run.scratch is None:
        now = run.clock.now()
        found.lineage.record(lambda health: health.attempted(now, error, exit_code))


def _post_env(outcomes: Iterable[Outcome]) -> dict[str, str]:
    done = list(outcomes)
    renewed = [domain for each in done if each.renewed for domain in each.domains]
    failed = [
        domain
        for each in done
        if not each.renewed and each.status == FAILED
        for domain in each.domains
    ]
    return {"RENEWED_DOMAINS": " ".join(renewed), "FAILED_DOMAINS": " ".join(failed)}
