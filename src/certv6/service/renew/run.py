"""Steps 3-6 of ``certv6 renew`` (recipe.py has the whole recipe): ask the CA, hooks, renew.

One failure never stops the others: each certificate is renewed on its own,
and whatever goes wrong becomes that certificate's outcome in the report and
its health record (health.json: the attempt, its error and exit code).
A certificate that is not due but still owes its servers an install (a failed
install, or a run killed before it) gets that install, and its deploy hook,
in every run until it works (issue #13).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from certv6.clock import Clock
from certv6.errors import CertV6Error, PeerHoldsLock
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
from certv6.service.renew.report import (
    FAILED,
    INSTALLED,
    RENEWED,
    SKIPPED,
    Outcome,
    RenewReport,
    changed_while_waiting,
    not_attempted,
)
from certv6.service.renew.shell_hooks import run_hook
from certv6.settings import Settings
from certv6.store import Health, Lineage, Store

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
    seen: dict[str, str] | None = None,
) -> RenewReport:
    """Steps 3-6: renewal info where due, the pre hook, each renewal, the post hook.

    ``seen``: the version each lineage had before the run lock was ours; one that
    changed meanwhile was renewed by another run and is not renewed again (--force).

    ``scratch`` set means a dry run: state goes there, no renewal info is asked
    (the staging CA did not issue the live certificates) and no hook runs.
    """
    run = _Run(settings, CaSessions(settings, store, clock), scratch, clock, rng)
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
    try:
        for each in due:
            outcomes[each.name] = _renewed_here(each, run)
        for each in owed:
            outcomes[each.name] = _guarded(_finish_install, each, run)
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


def _renewed_here(found: Candidate, run: _Run) -> Outcome:
    """``_renewed``, or skipped when another fleet host holds the lineage's lock."""
    try:
        return _renewed(found, run)
    except PeerHoldsLock as error:
        # A fleet: another host is renewing it right now; its result arrives by sync.
        log.info("%s: skipped, %s", found.name, error)
        return Outcome(found.name, SKIPPED, f"skipped: {error}", _domains(found))


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
    except PeerHoldsLock:
        raise  # not a failure of this host: _renewed_here says so
    except CertV6Error as error:
        log.error("%s: renewal failed: %s", found.name, error)
        if error.hint:
            log.error("  hint: %s", error.hint)
        _attempted(found, run, str(error), error.exit_code)
        return Outcome(
            found.name, FAILED, str(error), _domains(found), hint=error.hint, step="renewal"
        )
    except Exception as error:  # a bug in one renewal must not stop the others
        log.debug("%s: internal error", found.name, exc_info=True)
        detail = f"internal error: {type(error).__name__}: {error} (--debug shows more)"
        log.error("%s: %s", found.name, detail)
        _attempted(found, run, detail, 1)
        return Outcome(found.name, FAILED, detail, _domains(found), step="renewal")
    if run.scratch is not None:
        return Outcome(
            found.name, RENEWED, "dry run: staging issued", result.domains, result.not_after
        )
    if result.kept:
        return changed_while_waiting(found, f"versions/{result.directory.name}")
    _attempted(found, run, "", 0)
    problem, step, hint = _after_renewal(found, result, settings, sessions, run)
    detail = f"renewed, valid until {result.not_after:%Y-%m-%d}"
    if problem:
        return Outcome(
            found.name,
            FAILED,
            detail,
            result.domains,
            result.not_after,
            problem,
            hint,
            renewed=True,
            step=step,
        )
    return Outcome(found.name, RENEWED, "renewed", result.domains, result.not_after, renewed=True)


def _after_renewal(
    found: Candidate, result: IssueResult, settings: Settings, sessions: CaSessions, run: _Run
) -> tuple[str, str, str]:
    """Installer, deploy hook, the new certificate's renewal info; (problem, step, hint)."""
    problem = _install_and_hook(found.lineage, result.domains, settings, run.clock)
    # RFC 9773 4.3: ask about the new certificate right after issuance. Not asking
    # (or not keeping the answer) only delays that: the next run asks again.
    try:
        fresh = candidate(found.lineage, now=run.clock.now())
        refresh_ari(fresh, sessions, settings.server, clock=run.clock, rng=run.rng)
    except CertV6Error as error:
        log.warning("%s: renewal info not kept: %s", found.name, error)
    return problem


def _guarded(step: Callable[[Candidate, _Run], Outcome], found: Candidate, run: _Run) -> Outcome:
    try:
        return step(found, run)
    except Exception as error:  # a bug in one certificate's step must not stop the others
        log.debug("%s: internal error", found.name, exc_info=True)
        detail = f"internal error: {type(error).__name__}: {error} (--debug shows more)"
        log.error("%s: %s", found.name, detail)
        return Outcome(found.name, FAILED, detail, _domains(found), step="install")


def _finish_install(found: Candidate, run: _Run) -> Outcome:
    """Install what an earlier run owes the servers (and run its deploy hook)."""
    install = found.health.install
    since = found.health.switch.since if found.health.switch else install.since if install else None
    owed = f" (owed since {since:%Y-%m-%d %H:%M} UTC)" if since else ""
    log.info("%s: installing %s%s", found.name, found.current, owed)
    problem, step, hint = _install_and_hook(found.lineage, _domains(found), run.settings, run.clock)
    if problem:
        return Outcome(
            found.name,
            FAILED,
            f"install of {found.current}{owed} failed again",
            _domains(found),
            problem=problem,
            hint=hint,
            step=step,
        )
    return Outcome(found.name, INSTALLED, f"installed {found.current}{owed}", _domains(found))


def install_and_hook(lineage: Lineage, settings: Settings, clock: Clock) -> tuple[str, str, str]:
    """What ``lineage`` owes its servers, then the global deploy hook (``certv6 sync`` too)."""
    try:
        domains = tuple(str(domain) for domain in lineage.config().get("domains") or ())
    except CertV6Error:
        domains = ()
    return _install_and_hook(lineage, domains, settings, clock)


def _install_and_hook(
    lineage: Lineage, domains: tuple[str, ...], settings: Settings, clock: Clock
) -> tuple[str, str, str]:
    """The certificate's install tables (only those not done), then the global deploy hook."""
    try:
        install_configured(settings, lineage.name, clock=clock, owed_only=True)
    except CertV6Error as error:
        log.error("%s: installing the certificate failed: %s", lineage.name, error)
        return f"installing failed: {error}", "install", error.hint
    install = lineage.health().install
    if install is None or not install.deploy_hook:
        return "", "", ""
    env = {"RENEWED_LINEAGE": str(lineage.current_link), "RENEWED_DOMAINS": " ".join(domains)}
    problem = run_hook("deploy", settings.deploy_hook, env)
    if problem:
        return problem, "deploy-hook", "it runs again at the next certv6 renew"
    lineage.record(Health.deploy_hook_ran)
    return "", "", ""


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


def _domains(found: Candidate) -> tuple[str, ...]:
    try:
        domains = found.lineage.config().get("domains") or ()
    except CertV6Error:
        return ()
    return tuple(str(domain) for domain in domains)
