"""Each install table of a certificate in turn, every outcome recorded in its health.

Before a target is touched it is recorded as pending (a run killed half-way
leaves it owed), then as done -- with the endpoints that proved they serve it
and what it serves -- or as failed, with the step and the reason. A failure
never stops the other targets (issue #13: a broken Postfix must not keep nginx
on an old certificate).
"""

from __future__ import annotations

import datetime
import logging
from dataclasses import dataclass

from certv6 import install
from certv6.clock import Clock
from certv6.errors import InstallError
from certv6.install import InstallSpec, Material, TargetReport
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
        reports: list[TargetReport] = []
        failures: list[InstallError] = []
        for spec in specs:
            try:
                reports.append(self._one(spec, material))
            except InstallError as error:
                failures.append(error)
        if failures:
            raise _combined(failures)
        return tuple(reports)

    def _one(self, spec: InstallSpec, material: Material) -> TargetReport:
        key, version, now = target_key(spec), self.version.name, self.clock.now()
        self.lineage.record(lambda h: h.target_pending(key, version, now))
        try:
            report = install.install_target(spec, material, clock=self.clock)
        except InstallError as error:
            failed = f"{error.message} ({error.hint})" if error.hint else error.message
            step = error.step
            self.lineage.record(
                lambda h: h.target_failed(key, version, now, error=failed, step=step),
            )
            raise
        verified = tuple(str(each.endpoint) for each in report.verified)
        not_after = _not_after(self.version)
        self.lineage.record(
            lambda h: h.target_done(key, version, now, verified=verified, not_after=not_after),
        )
        return report


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
