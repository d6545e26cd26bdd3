"""Steps 3-6 of ``certv6 renew`` (renew.py has the whole recipe): ask the CA, hooks, renew.

One failure never stops the others: each certificate is renewed on its own,
and whatever goes wrong becomes that certificate's outcome in the report.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from certv6.clock import Clock
from certv6.errors import CertV6Error
from certv6.service.install import install_configured
from certv6.service.issue import IssueResult
from certv6.service.renew.ca import (
    CaSessions,
    dry_run_settings,
    lineage_config,
    refresh_ari,
    renew_one,
)
from certv6.service.renew.plan import Candidate, candidate
from certv6.service.renew.report import FAILED, RENEWED, Outcome, RenewReport, not_attempted
from certv6.service.renew.shell_hooks import run_hook
from certv6.settings import Settings
from certv6.store import Store

log = logging.getLogger("certv6")


@dataclass
class _Run:
    settings: Settings
    live: CaSessions
    scratch: Path | None  # a dry run's state directory
    clock: Clock
    rng: random.Random
    staged: CaSessions | None = None

    def sessions_for(self, settings: Settings) -> CaSessions:
        if self.scratch is None:
            return self.live
        if self.staged is None:
            self.staged = CaSessions(settings, Store(self.scratch), self.clock)
        return self.staged


def renew_due(
    settings: Settings,
    store: Store,
    found: Sequence[Candidate],
    *,
    force: bool,
    scratch: Path | None,
    clock: Clock,
    rng: random.Random,
) -> RenewReport:
    """Steps 3-6: renewal info where due, the pre hook, each renewal, the post hook.

    ``scratch`` set means a dry run: state goes there, no renewal info is asked
    (the staging CA did not issue the live certificates) and no hook runs.
    """
    run = _Run(settings, CaSessions(settings, store, clock), scratch, clock, rng)
    if scratch is None:
        found = [_asked(each, run) if each.check_ari else each for each in found]
    due = [each for each in found if not each.problem and (force or each.due)]
    chosen = {each.name for each in due}
    outcomes = {each.name: not_attempted(each) for each in found if each.name not in chosen}
    hooks = scratch is None and bool(due)  # a dry run runs no hooks and installs nothing
    problems = [run_hook("pre", settings.pre_hook, {})] if hooks else []
    try:
        for each in due:
            outcomes[each.name] = _renewed(each, run)
    finally:
        if hooks:
            problems.append(run_hook("post", settings.post_hook, _post_env(outcomes.values())))
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


def _renewed(found: Candidate, run: _Run) -> Outcome:
    try:
        server = lineage_config(found.lineage, run.settings).server
        if run.scratch is None:
            settings = replace(run.settings, server=server)
        else:
            settings = dry_run_settings(run.settings, server, run.scratch)
        sessions = run.sessions_for(settings)
        result = renew_one(
            found, settings, sessions, replacing=run.scratch is None, clock=run.clock
        )
    except CertV6Error as error:
        log.error("%s: renewal failed: %s", found.name, error)
        if error.hint:
            log.error("  hint: %s", error.hint)
        return Outcome(found.name, FAILED, str(error), _domains(found), hint=error.hint)
    except Exception as error:  # a bug in one renewal must not stop the others
        log.debug("%s: internal error", found.name, exc_info=True)
        detail = f"internal error: {type(error).__name__}: {error} (--debug shows more)"
        log.error("%s: %s", found.name, detail)
        return Outcome(found.name, FAILED, detail, _domains(found))
    if run.scratch is not None:
        return Outcome(
            found.name, RENEWED, "dry run: staging issued", result.domains, result.not_after
        )
    problem = _after_renewal(found, result, settings, sessions, run)
    return Outcome(found.name, RENEWED, "renewed", result.domains, result.not_after, problem)


def _after_renewal(
    found: Candidate, result: IssueResult, settings: Settings, sessions: CaSessions, run: _Run
) -> str:
    """Installer, then the global deploy hook, then the new certificate's renewal info."""
    try:
        install_configured(settings, found.name, clock=run.clock)
    except CertV6Error as error:
        log.error("%s: installing the new certificate failed: %s", found.name, error)
        return f"renewed, but installing failed: {error}"
    env = {
        "RENEWED_LINEAGE": str(result.live_directory),
        "RENEWED_DOMAINS": " ".join(result.domains),
    }
    problem = run_hook("deploy", settings.deploy_hook, env)
    # RFC 9773 4.3: ask about the new certificate right after issuance.
    fresh = candidate(found.lineage, now=run.clock.now())
    refresh_ari(fresh, sessions, settings.server, clock=run.clock, rng=run.rng)
    return f"renewed, but {problem}" if problem else ""


def _post_env(outcomes: Iterable[Outcome]) -> dict[str, str]:
    done = list(outcomes)
    renewed = [domain for each in done if each.status == RENEWED for domain in each.domains]
    failed = [domain for each in done if each.status == FAILED for domain in each.domains]
    return {"RENEWED_DOMAINS": " ".join(renewed), "FAILED_DOMAINS": " ".join(failed)}


def _domains(found: Candidate) -> tuple[str, ...]:
    try:
        domains = found.lineage.config().get("domains") or ()
    except CertV6Error:
        return ()
    return tuple(str(domain) for domain in domains)
