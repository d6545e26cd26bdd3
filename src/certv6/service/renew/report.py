"""What one ``certv6 renew`` run did: per certificate renewed, installed, skipped or failed.

A certificate that renewed but did not reach its servers is ``failed`` (with
``renewed`` true and the install's ``problem``), never plain ``renewed``: a run
whose summary looks green must have put every new certificate in place.
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
STATUSES = (RENEWED, INSTALLED, SKIPPED, FAILED)


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
        return not self.failed_names and not self.hook_problems and not self.problems

    def summary(self) -> str:
        shown = [s for s in STATUSES if s != INSTALLED or self.named(INSTALLED)]
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
    decision = found.decision
    detail = f"due {decision.renew_at:%Y-%m-%d %H:%M} UTC ({decision.reason})"
    return Outcome(found.name, SKIPPED, detail, when=decision.renew_at)


def changed_while_waiting(found: Candidate, now_current: str) -> Outcome:
    detail = (
        f"another certv6 run stored {now_current} while this one waited for the lock; "
        "not renewing it again"
    )
    return Outcome(found.name, SKIPPED, detail)
