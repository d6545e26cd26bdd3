"""Is a certificate healthy? One verdict for ``list``, ``list --check`` and the metrics.

(And are the host's AAAA records, kept by ``certv6 aaaa``? ``assess_aaaa``.)

Levels follow the Nagios/Icinga plugin convention (OK 0, WARNING 1,
CRITICAL 2, UNKNOWN 3), so ``certv6 list --check`` plugs into them as is:

    CRITICAL  damaged lineage, expired, revoked, or expiring within the
              critical threshold (also when a server still serves an older one)
    WARNING   an install failed or is still owed, renewal keeps failing or was
              postponed at the CA's request (a rate limit), a switch was
              interrupted, or expiring within the warning threshold
    OK        none of these

Thresholds default to 14 and 7 days, but never more than a quarter and an
eighth of the certificate's lifetime: a 6-day certificate then warns with
1.5 days left (renewal starts at half its lifetime), not all the time.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from certv6.service.renew.plan import Candidate
from certv6.store import AaaaHealth, Health, TargetState

OK, WARNING, CRITICAL, UNKNOWN = 0, 1, 2, 3
LEVELS = ("ok", "warning", "critical", "unknown")
DEFAULT_WARN = datetime.timedelta(days=14)
DEFAULT_CRITICAL = datetime.timedelta(days=7)


@dataclass(frozen=True, slots=True)
class Thresholds:
    warn: datetime.timedelta | None = None  # None: the default above
    critical: datetime.timedelta | None = None

    def for_lifetime(self, lifetime: datetime.timedelta) -> tuple[datetime.timedelta, ...]:
        warn = self.warn if self.warn is not None else min(DEFAULT_WARN, lifetime / 4)
        critical = (
            self.critical if self.critical is not None else min(DEFAULT_CRITICAL, lifetime / 8)
        )
        return warn, critical


@dataclass(frozen=True, slots=True)
class Verdict:
    level: int
    problems: tuple[str, ...]  # worst first; empty when OK
    hint: str = ""
    damaged: bool = False  # the lineage's files cannot be used as they are

    @property
    def label(self) -> str:
        return LEVELS[self.level]

    @property
    def text(self) -> str:
        return "; ".join(self.problems) if self.problems else "ok"


def assess(found: Candidate, *, now: datetime.datetime, thresholds: Thresholds) -> Verdict:
    """The verdict on one lineage as ``scan`` found it."""
    if found.problem:
        if found.health.switch is not None:
            return Verdict(WARNING, (found.problem,), found.hint)
        return Verdict(CRITICAL, (f"damaged: {found.problem}",), found.hint, damaged=True)
    found_problems: list[tuple[int, str, str]] = []
    certificate = found.certificate
    if certificate is not None:
        found_problems += _expiry(found, now, thresholds)
    found_problems += _health(found.name, found.health, certificate.serial if certificate else "")
    if found.postponed is not None:
        found_problems.append(
            (
                WARNING,
                f"renewal postponed until {_day(found.postponed.until)}: {found.postponed.reason}",
                f"the CA asked to wait: the first certv6 renew after then renews it "
                f"(certv6 renew --force --name {found.name} tries now)",
            )
        )
    if not found_problems:
        return Verdict(OK, ())
    found_problems.sort(key=lambda problem: -problem[0])
    hint = next((hint for _, _, hint in found_problems if hint), "")
    return Verdict(found_problems[0][0], tuple(text for _, text, _ in found_problems), hint)


def assess_aaaa(health: AaaaHealth | None, *, configured: bool) -> Verdict | None:
    """The verdict on the configured AAAA names (None: the config names none).

    CRITICAL when the last run failed and read names that point elsewhere (it could
    not change them); WARNING for any other failure, a damaged record, or no run yet.
    """
    if not configured:
        return None  # a record left from before the config named AAAA records says nothing
    if health is None:
        return Verdict(
            WARNING,
            ("certv6 aaaa has not run yet for the configured names",),
            "run certv6 aaaa (certv6 timer install runs it after every renewal run)",
        )
    if health.damaged:
        return Verdict(
            WARNING, (f"aaaa.json {health.damaged}",), "certv6 check-store --repair", damaged=True
        )
    if health.ok:
        return Verdict(OK, ())
    failing = (
        f"certv6 aaaa failing since {_day(health.failing_since)} "
        f"({health.failures} run(s)): {health.error}"
    )
    hint = health.hint or "certv6 aaaa tries again and shows the whole error"
    if not health.behind:
        return Verdict(WARNING, (failing,), hint)
    behind = f"{', '.join(name.rstrip('.') for name in health.behind)} not pointing here"
    return Verdict(CRITICAL, (behind, failing), hint)


def _health(name: str, health: Health, serial: str) -> list[tuple[int, str, str]]:
    found: list[tuple[int, str, str]] = []
    if health.revoked is not None and health.revoked.serial == serial:
        when = _day(health.revoked.at)
        found.append(
            (
                CRITICAL,
                f"revoked ({health.revoked.reason}) on {when}",
                f"the next certv6 renew replaces it; certv6 delete --name {name} removes it",
            )
        )
    failed = health.failed_targets()
    for key, state in failed.items():
        found.append(
            (
                WARNING,
                f"install failed: {_label(key)}: {_first_line(state)}",
                f"fix it; the next certv6 renew (or certv6 install --name {name}) tries again",
            )
        )
    if health.install_owed and not failed:
        install = health.install
        version = health.switch.version if health.switch else install.version if install else "?"
        since = health.switch.since if health.switch else install.since if install else None
        found.append(
            (
                WARNING,
                f"install of {version} pending since {_day(since)}",
                f"the next certv6 renew (or certv6 install --name {name}) installs it",
            )
        )
    if health.failures and health.attempt is not None and not health.attempt.ok:
        found.append(
            (
                WARNING,
                f"renewal failing since {_day(health.failing_since)} "
                f"({health.failures} attempt(s)): {health.attempt.error.splitlines()[0]}",
                f"certv6 renew --name {name} tries again and shows the whole error",
            )
        )
    return found


def _expiry(
    found: Candidate, now: datetime.datetime, thresholds: Thresholds
) -> list[tuple[int, str, str]]:
    certificate = found.certificate
    if certificate is None:
        return []
    warn, critical = thresholds.for_lifetime(certificate.not_after - certificate.not_before)
    ends, who = certificate.not_after, ""
    for key, state in _served(found.health).items():
        if state.served_not_after is not None and state.served_not_after < ends:
            ends, who = state.served_not_after, f"{_label(key)} serves a certificate that "
    left = ends - now
    if left <= datetime.timedelta(0):
        return [(CRITICAL, f"{who}expired on {_day(ends)}", "certv6 renew replaces it")]
    level = CRITICAL if left <= critical else WARNING if left <= warn else OK
    if level == OK:
        return []
    fix = f"certv6 renew --name {found.name}" + (" --force" if not found.due else "")
    return [(level, f"{who}expires in {_span(left)}", fix)]


def _served(health: Health) -> dict[str, TargetState]:
    if health.install is None:
        return {}
    return {k: t for k, t in health.install.targets.items() if t.served_version}


def _label(key: str) -> str:
    return key.split(" ", 1)[0]


def _first_line(state: TargetState) -> str:
    return state.error.splitlines()[0] if state.error else f"{state.step or 'unknown'} failed"


def _day(moment: datetime.datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC" if moment else "?"


def _span(left: datetime.timedelta) -> str:
    if left >= datetime.timedelta(days=2):
        return f"{left.total_seconds() / 86400:.0f} days"
    return f"{left.total_seconds() / 3600:.0f} hours"
