"""Each install table of a certificate in turn, every outcome recorded in its health.

Before a target is touched it is recorded as pending (a run killed half-way
leaves it owed), then as done -- with the endpoints that proved they serve it
and what it serves -- or as failed, with the step and the reason. A failure
never stops the other targets (issue #13: a broken Postfix must not keep nginx
on an old certificate).

``install_tables`` does the same for several certificates at once (``certv6
renew``, issue #19): install tables that reload the same server are installed
together, with one config test and one reload (``certv6.install.batch``).
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

from certv6 import install
from certv6.clock import Clock
from certv6.errors import InstallError
from certv6.install import InstallSpec, Material, TargetReport
from certv6.install.batch import Job, install_together, server_of
from certv6.renewal import parse_time
from certv6.store import Health, Lineage, Version

log = logging.getLogger("certv6")


def target_key(spec: InstallSpec) -> str:
    """How health.json names an install target: its kind and directory."""
    return f"{spec.target} {spec.directory}"


def done_already(health: Health, version: str) -> set[str]:
    """Targets that already serve ``version`` (the state kept for each names its version)."""
    if health.install is None:
        return set()
    targets = health.install.targets.items()
    return {key for key, state in targets if state.state == "done" and state.version == version}


@dataclass(frozen=True, slots=True)
class Targets:
    """Each install table in turn, every outcome recorded in the lineage's health."""

    lineage: Lineage
    version: Version
    clock: Clock

    def install(
        self, specs: tuple[InstallSpec, ...], material: Material
    ) -> tuple[TargetReport, ...]:
        outcomes = []
        for spec in specs:
            self.pending(spec)
            outcome: Outcome
            try:
                outcome = install.install_target(spec, material, clock=self.clock)
            except InstallError as error:
                outcome = error
            outcomes.append(self.record(spec, outcome))
        return reports_or_error(outcomes)

    def pending(self, spec: InstallSpec) -> None:
        key, version, now = target_key(spec), self.version.name, self.clock.now()
        self.lineage.record(lambda h: h.target_pending(key, version, now))

    def record(self, spec: InstallSpec, outcome: Outcome) -> Outcome:
        """Keep ``outcome`` in the health: done with what it serves, or failed and why."""
        key, version, now = target_key(spec), self.version.name, self.clock.now()
        if isinstance(outcome, InstallError):
            failed = f"{outcome.message} ({outcome.hint})" if outcome.hint else outcome.message
            step = outcome.step
            self.lineage.record(
                lambda h: h.target_failed(key, version, now, error=failed, step=step),
            )
            return outcome
        verified = tuple(str(each.endpoint) for each in outcome.verified)
        not_after = _not_after(self.version)
        self.lineage.record(
            lambda h: h.target_done(key, version, now, verified=verified, not_after=not_after),
        )
        return outcome


Outcome = TargetReport | InstallError


@dataclass(frozen=True, slots=True)
class Certificate:
    """One certificate's part of ``install_tables``: where it records, what, which tables."""

    targets: Targets
    material: Material
    specs: tuple[InstallSpec, ...]


def install_tables(
    certificates: Sequence[Certificate], *, clock: Clock
) -> list[tuple[TargetReport, ...] | InstallError]:
    """Every certificate's install tables, those of one server together; one result each.

    A certificate's result is its reports, or the (combined) error of its tables
    that failed; the others are installed all the same.
    """
    groups: dict[Hashable, list[tuple[int, InstallSpec]]] = {}
    for index, certificate in enumerate(certificates):
        for spec in certificate.specs:
            certificate.targets.pending(spec)
            server = server_of(spec) or ("alone", index, target_key(spec))
            groups.setdefault(server, []).append((index, spec))
    outcomes: list[list[Outcome]] = [[] for _ in certificates]
    for members in groups.values():
        jobs = [Job(spec, certificates[index].material) for index, spec in members]
        for (index, spec), outcome in zip(
            members, install_together(jobs, clock=clock), strict=True
        ):
            outcomes[index].append(certificates[index].targets.record(spec, outcome))
    results: list[tuple[TargetReport, ...] | InstallError] = []
    for found in outcomes:
        try:
            results.append(reports_or_error(found))
        except InstallError as error:
            results.append(error)
    return results


def reports_or_error(outcomes: Sequence[Outcome]) -> tuple[TargetReport, ...]:
    """The reports; raises the failures combined into one error, if any failed."""
    failures = [outcome for outcome in outcomes if isinstance(outcome, InstallError)]
    if failures:
        raise _combined(failures)
    return tuple(outcome for outcome in outcomes if not isinstance(outcome, InstallError))


def _combined(failures: list[InstallError]) -> InstallError:
    for later in failures[1:]:
        log.error("%s (%s)", later, later.hint)
    first = failures[0]
    if len(failures) == 1:
        return first
    combined = InstallError(
        f"{first.message}\n  ({len(failures) - 1} more target(s) failed, see above)",
        step=first.step,
        hint=first.hint,
    )
    combined.__cause__ = first
    return combined


def _not_after(version: Version) -> datetime.datetime | None:
    try:
        return parse_time(version.meta["not_after"])
    except (KeyError, TypeError, ValueError):
        return None
