"""What one ``certv6 renew`` run did: per certificate renewed, installed, skipped or failed.

A certificate that renewed but did not reach its servers is ``failed`` (with
``renewed`` true and the install's ``problem``), never plain ``renewed``: a run
whose summary looks green must have put every new certificate in place.

A due certificate the CA asked to wait for (a rate limit and its Retry-After,
issue #19) is ``postponed``: not failed -- nothing is wrong with it, and the
next run after that time renews it -- but not fine either: the run exits 16
(12 when something also failed), and ``list`` warns until it is renewed.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from certv6.service.renew.plan import Candidate

RENEWED = "renewed"
INSTALLED = "installed"  # not due, but an install owed from an earlier run was finished
SKIPPED = "skipped"
FAILED = "failed"
POSTPONED = "postponed"  # due, but the CA asked to wait (rate limit): the next run retries
STATUSES = (RENEWED, INSTALLED, SKIPPED, FAILED, POSTPONED)
# Shown in the summary only when some certificate has them, as before they existed.
WHEN_ANY = (INSTALLED, POSTPONED)


@dataclass(frozen=True, slots=True)
class Outcome:
    """One certificate's result.

    ``detail`` says why it was skipped, how it renewed, or why it failed;
    ``problem`` is what went wrong after a renewal (installer, deploy hook), and
    ``step`` names the step that failed (renewal, install, deploy-hook, store).
    """

    name: str
    status: str
    detail: str
    domains: tuple[str, ...] = ()
    when: datetime.datetime | None = None  # skipped: next renewal; renewed: new notAfter
    problem: str = ""
    hint: str = ""
    renewed: bool = False  # a new certificate was stored in this run
    step: str = ""

    @property
    def ok(self) -> bool:
        return self.status != FAILED

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "renewed": self.renewed,
            "detail": self.detail,
            "domains": list(self.domains),
            "when": self.when.isoformat(timespec="seconds") if self.when else None,
            "problem": self.problem or None,
            "step": self.step or None,
            "hint": self.hint or None,
        }


@dataclass(frozen=True, slots=True)
class RenewReport:
    outcomes: tuple[Outcome, ...]
    dry_run: bool = False
    hook_problems: tuple[str, ...] = field(default=())
    # Problems of the run rather than of one certificate: a damaged account, the metrics file.
    problems: tuple[str, ...] = field(default=())

    def named(self, status: str) -> list[Outcome]:
        return [outcome for outcome in self.outcomes if outcome.status == status]

    @property
    def failed_names(self) -> tuple[str, ...]:
        return tuple(outcome.name for outcome in self.outcomes if not outcome.ok)

    @property
    def ok(self) -> bool:
        """Nothing failed (postponed certificates are not failures: see ``postponed``)."""
        return not self.failed_names and not self.hook_problems and not self.problems

    @property
    def postponed(self) -> tuple[str, ...]:
        return tuple(outcome.name for outcome in self.named(POSTPONED))

    @property
    def complete(self) -> bool:
        """Nothing failed and nothing due was left for later: the run exits 0."""
        return self.ok and not self.postponed

    def summary(self) -> str:
        shown = [s for s in STATUSES if s not in WHEN_ANY or self.named(s)]
        text = ", ".join(f"{len(self.named(status))} {status}" for status in shown)
        if self.hook_problems:
            text += f"; {len(self.hook_problems)} hook(s) failed"
        if self.problems:
            text += f"; {len(self.problems)} other problem(s)"
        return f"{text} (dry run: nothing was stored)" if self.dry_run else text

    def to_json(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "ok": self.ok,
            "complete": self.complete,
            "summary": self.summary(),
            "counts": {status: len(self.named(status)) for status in STATUSES},
            "certificates": [outcome.to_json() for outcome in self.outcomes],
            "hook_problems": list(self.hook_problems),
            "problems": list(self.problems),
        }


def not_attempted(found: Candidate) -> Outcome:
    """The outcome of a certificate that was not renewed: not due yet, or unreadable."""
    if found.health.switch is not None and found.problem:
        # Recovery found the lineage locked: a live run is storing a version right now.
        return Outcome(found.name, SKIPPED, "another certv6 run is storing a new version")
    if found.problem or found.decision is None:
        detail = found.problem or "cannot be read"
        return Outcome(found.name, FAILED, detail, hint=found.hint, step="store")
    if found.postponed is not None:
        return postponed(found.name, found.postponed.until, found.postponed.reason)
    decision = found.decision
    detail = f"due {decision.renew_at:%Y-%m-%d %H:%M} UTC ({decision.reason})"
    return Outcome(found.name, SKIPPED, detail, when=decision.renew_at)


def changed_while_waiting(found: Candidate, now_current: str) -> Outcome:
    detail = (
        f"another certv6 run stored {now_current} while this one waited for the lock; "
        "not renewing it again"
    )
    return Outcome(found.name, SKIPPED, detail)


def postponed(
    name: str, until: datetime.datetime, reason: str, domains: tuple[str, ...] = ()
) -> Outcome:
    return Outcome(
        name,
        POSTPONED,
        f"postponed until {until:%Y-%m-%d %H:%M} UTC: {reason}",
        domains,
        when=until,
        hint="the CA asked to wait; the first certv6 renew after then renews it "
        "(--force tries now)",
        step="renewal",
    )
