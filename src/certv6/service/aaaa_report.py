"""What a ``certv6 aaaa`` run found and did: per provider its plans, and the JSON form.

``AaaaOutcome.to_json`` is the stable, documented ``--json`` object (docs/aaaa.md);
``log_survey`` says in the log which address was chosen and what each name becomes;
``HealthRecorder`` keeps how the run went in the store, for ``certv6 list``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from certv6.aaaa import Choice, Judged, NamePlan
from certv6.clock import Clock
from certv6.errors import CertV6Error, StoreError
from certv6.ifaddr import HostAddress
from certv6.propagation import Report
from certv6.store import AaaaHealth, Store

log = logging.getLogger("certv6")

JSON_VERSION = 1


@dataclass(frozen=True, slots=True)
class ProviderRun:
    """The names one provider writes, their plans, and the propagation report once written."""

    provider: str
    plans: tuple[NamePlan, ...]
    report: Report | None = None

    @property
    def changes(self) -> list[NamePlan]:
        return [plan for plan in self.plans if plan.change is not None]


@dataclass(frozen=True, slots=True)
class AaaaOutcome:
    choice: Choice | None  # None: no names to follow
    runs: tuple[ProviderRun, ...] = ()
    written: bool = False  # changes were sent (and are visible) in this run
    dry_run: bool = False

    @property
    def pending(self) -> bool:
        """A change is needed that this run did not write (--dry-run, or --watch waiting)."""
        return not self.written and any(run.changes for run in self.runs)

    def to_json(self) -> dict[str, object]:
        chosen = self.choice.chosen if self.choice else None
        return {
            "version": JSON_VERSION,
            "dry_run": self.dry_run,
            "changed": self.written,
            "pending": self.pending,
            "address": chosen.address if chosen else None,
            "interface": chosen.interface if chosen else None,
            "kind": self.choice.kind if self.choice else None,
            "why": self.choice.why if self.choice else None,
            "candidates": [_candidate_json(j.address, j.kind, j.rejected) for j in self._judged],
            "names": [_plan_json(run.provider, plan) for run in self.runs for plan in run.plans],
            "propagation": [run.report.to_json() for run in self.runs if run.report is not None],
        }

    @property
    def _judged(self) -> Sequence[Judged]:
        return self.choice.judged if self.choice else ()


def log_survey(choice: Choice, runs: Sequence[ProviderRun]) -> None:
    log.info("aaaa: %s", choice.why)
    for run in runs:
        for plan in run.plans:
            _log_plan(plan)


def _log_plan(plan: NamePlan) -> None:
    now = " ".join(sorted(plan.current)) or "no AAAA"
    if plan.change is None:
        log.info("aaaa: %s is %s: up to date", plan.name, now)
    else:
        log.info("aaaa: %s is %s; becomes %s", plan.name, now, " ".join(sorted(plan.result)))
    if plan.foreign:
        log.warning(
            "aaaa: %s also has %s, which certv6 did not publish and is not this host's: left"
            " as it is (--adopt replaces it)",
            plan.name,
            " ".join(sorted(plan.foreign)),
        )


def _candidate_json(address: HostAddress, kind: str, rejected: str) -> dict[str, object]:
    return {
        "address": address.address,
        "interface": address.interface,
        "scope": address.scope,
        "kind": kind,
        "flags": list(address.flag_names),
        "preferred": address.preferred,
        "valid": address.valid,
        "rejected": rejected or None,
    }


def _plan_json(provider: str, plan: NamePlan) -> dict[str, object]:
    change = plan.change
    return {
        "name": plan.name,
        "zone": plan.zone,
        "provider": provider,
        "current": sorted(plan.current),
        "owned": sorted(plan.owned),
        "foreign": sorted(plan.foreign),
        "result": sorted(plan.result),
        "added": sorted(change.add) if change else [],
        "removed": sorted(change.remove) if change else [],
        "changed": change is not None,
    }


class HealthRecorder:
    """Writes each run's result to ``<state_dir>/aaaa.json``; never hides the run's own error."""

    def __init__(self, store: Store, clock: Clock) -> None:
        self._file = store.aaaa_health
        self._clock = clock

    def succeeded(self, outcome: AaaaOutcome) -> None:
        chosen = outcome.choice.chosen if outcome.choice else None
        names = tuple(plan.name for run in outcome.runs for plan in run.plans)
        pending = tuple(plan.name for run in outcome.runs for plan in run.changes)
        self._save(
            lambda before: before.succeeded(
                self._clock.now(),
                address=chosen.address if chosen else "",
                names=names,
                pending=pending if outcome.pending else (),
            )
        )

    def failed(self, error: CertV6Error, *, behind: tuple[str, ...] = ()) -> None:
        first = error.message.splitlines()[0] if error.message else type(error).__name__
        self._save(
            lambda before: before.failed(
                self._clock.now(),
                error=first,
                hint=error.hint or "",
                exit_code=error.exit_code,
                behind=behind,
            )
        )

    def _save(self, change: Callable[[AaaaHealth], AaaaHealth]) -> None:
        before = self._file.read()
        if before is None or before.damaged:
            before = AaaaHealth()
        try:
            self._file.write(change(before))
        except StoreError as error:
            log.warning("aaaa: cannot record this run for certv6 list: %s", error)
