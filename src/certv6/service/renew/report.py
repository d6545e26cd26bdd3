"""What one ``certv6 renew`` run did: per certificate renewed, skipped or failed."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from certv6.service.renew.plan import Candidate

RENEWED = "renewed"
SKIPPED = "skipped"
FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Outcome:
    """One certificate's result.

    ``detail`` says why it was skipped, how it renewed, or why it failed;
    ``problem`` is set when it renewed but a later step (installer, deploy
    hook) failed, which also makes the run exit 12.
    """

    name: str
    status: str
    detail: str
    domains: tuple[str, ...] = ()
    when: datetime.datetime | None = None  # skipped: next renewal; renewed: new notAfter
    problem: str = ""
    hint: str = ""

    @property
    def ok(self) -> bool:
        return self.status != FAILED and not self.problem

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "detail": self.detail,
            "domains": list(self.domains),
            "when": self.when.isoformat(timespec="seconds") if self.when else None,
            "problem": self.problem or None,
            "hint": self.hint or None,
        }


@dataclass(frozen=True, slots=True)
class RenewReport:
    outcomes: tuple[Outcome, ...]
    dry_run: bool = False
    hook_problems: tuple[str, ...] = field(default=())

    def named(self, status: str) -> list[Outcome]:
        return [outcome for outcome in self.outcomes if outcome.status == status]

    @property
    def failed_names(self) -> tuple[str, ...]:
        return tuple(outcome.name for outcome in self.outcomes if not outcome.ok)

    @property
    def ok(self) -> bool:
        return not self.failed_names and not self.hook_problems

    def summary(self) -> str:
        counts = [f"{len(self.named(status))} {status}" for status in (RENEWED, SKIPPED, FAILED)]
        text = ", ".join(counts)
        if self.hook_problems:
            text += f"; {len(self.hook_problems)} hook(s) failed"
        return f"{text} (dry run: nothing was stored)" if self.dry_run else text

    def to_json(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "ok": self.ok,
            "summary": self.summary(),
            "certificates": [outcome.to_json() for outcome in self.outcomes],
            "hook_problems": list(self.hook_problems),
        }


def not_attempted(found: Candidate) -> Outcome:
    """The outcome of a certificate that was not renewed: not due yet, or unreadable."""
    if found.problem or found.decision is None:
        return Outcome(found.name, FAILED, found.problem or "cannot be read")
    decision = found.decision
    detail = f"due {decision.renew_at:%Y-%m-%d %H:%M} UTC ({decision.reason})"
    return Outcome(found.name, SKIPPED, detail, when=decision.renew_at)
