"""Use case: what certificates the state directory holds, when each renews, and how it is.

The "next renewal" is the moment `certv6 renew` would act on: the CA's ARI
window (as last fetched, kept in ari.json) or the lifetime rule. The health
column is certv6.service.status's verdict (installs, failures, revocation,
expiry). When the config names AAAA records (``certv6 aaaa``), the listing also
says how their last run went (``Listing.aaaa``). Like renew, this reads small
JSON files only, never a PEM, and it changes nothing: what an interrupted run
left is shown, not repaired.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from certv6.clock import SYSTEM_CLOCK, Clock
from certv6.service.aaaa_names import follows_aaaa
from certv6.service.renew.plan import Candidate, scan
from certv6.service.status import CRITICAL, OK, Thresholds, Verdict, assess, assess_aaaa
from certv6.settings import Settings
from certv6.store import AaaaHealth, Store


@dataclass(frozen=True, slots=True)
class CertificateSummary:
    name: str
    domains: tuple[str, ...]
    not_after: datetime.datetime | None
    next_renewal: datetime.datetime | None
    renewal_reason: str
    path: Path
    sha256: str
    provider: str
    verdict: Verdict
    health: dict[str, Any]
    revoked: bool = False  # the current certificate was revoked through certv6
    install_owed: bool = False
    ca: str = ""  # the CA that issued the current certificate (lineage.json "server")
    skipped_cas: tuple[str, ...] = ()  # the CAs of the list its order skipped, and why
    postponed_until: datetime.datetime | None = None  # the CA asked to wait (rate limit)

    @property
    def problem(self) -> str:
        return self.verdict.text if self.verdict.damaged else ""

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "domains": list(self.domains),
            "not_after": _iso(self.not_after),
            "next_renewal": _iso(self.next_renewal),
            "renewal_reason": self.renewal_reason or None,
            "path": str(self.path),
            "sha256": self.sha256,
            "provider": self.provider,
            "ca": self.ca or None,
            "problem": self.problem or None,
            "status": self.verdict.label,
            "status_code": self.verdict.level,
            "summary": self.verdict.text,
            "problems": list(self.verdict.problems),
            "hint": self.verdict.hint or None,
            "health": self.health,
        }


@dataclass(frozen=True, slots=True)
class AccountProblem:
    directory: Path
    problem: str
    hint: str

    def to_json(self) -> dict[str, Any]:
        return {"directory": str(self.directory), "problem": self.problem, "hint": self.hint}


@dataclass(frozen=True, slots=True)
class AaaaSummary:
    """The host's AAAA names (``certv6 aaaa``): how their last recorded run went."""

    verdict: Verdict
    health: AaaaHealth | None  # None: no run recorded yet

    @property
    def text(self) -> str:
        """``www.example.org -> 2001:db8::5: ok (last run ...)``, or the problems."""
        health = self.health
        if health is None or health.damaged or not health.ok:
            return self.verdict.text
        names = ", ".join(name.rstrip(".") for name in health.names) or "no names"
        waits = f"; {', '.join(n.rstrip('.') for n in health.pending)} wait(s) for --watch's pacing"
        return f"{names} -> {health.address}: ok (last run {_minute(health.at)})" + (
            waits if health.pending else ""
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.verdict.label,
            "status_code": self.verdict.level,
            "summary": self.text,
            "problems": list(self.verdict.problems),
            "hint": self.verdict.hint or None,
            "last_run": self.health.to_json() if self.health and not self.health.damaged else None,
        }


@dataclass(frozen=True, slots=True)
class Listing:
    certificates: tuple[CertificateSummary, ...]
    accounts: tuple[AccountProblem, ...]
    aaaa: AaaaSummary | None = None  # None: the config names no AAAA records

    @property
    def level(self) -> int:
        worst = max((s.verdict.level for s in self.certificates), default=OK)
        worst = max(worst, self.aaaa.verdict.level if self.aaaa else OK)
        return max(worst, CRITICAL if self.accounts else OK)

    @property
    def damaged(self) -> bool:
        aaaa = self.aaaa is not None and self.aaaa.verdict.damaged
        return aaaa or bool(self.accounts) or any(s.verdict.damaged for s in self.certificates)


def list_certificates(
    settings: Settings, *, clock: Clock = SYSTEM_CLOCK, thresholds: Thresholds | None = None
) -> Listing:
    store = Store(settings.state_dir)
    now = clock.now()
    chosen = thresholds or Thresholds()
    summaries = [_summary(found, now, chosen) for found in scan(store, [], now=now)]
    accounts = [AccountProblem(a.directory, what, fix) for a, what, fix in store.account_problems()]
    return Listing(tuple(summaries), tuple(accounts), _aaaa(settings, store))


def _aaaa(settings: Settings, store: Store) -> AaaaSummary | None:
    health = store.aaaa_health.read()
    verdict = assess_aaaa(health, configured=follows_aaaa(settings))
    return None if verdict is None else AaaaSummary(verdict, health)


def _summary(
    found: Candidate, now: datetime.datetime, thresholds: Thresholds
) -> CertificateSummary:
    snapshot = found.snapshot
    config = dict(snapshot.config) if snapshot else {}
    meta = dict(snapshot.meta) if snapshot else {}
    decision = found.decision
    return CertificateSummary(
        name=found.name,
        domains=_names(config.get("domains")) or _names(meta.get("domains")),
        not_after=found.certificate.not_after if found.certificate else None,
        next_renewal=decision.renew_at if decision else None,
        renewal_reason=decision.reason if decision else "",
        path=found.lineage.current_link,
        sha256=str(meta.get("sha256", "")),
        provider=str(config.get("provider") or ""),
        verdict=assess(found, now=now, thresholds=thresholds),
        health=found.health.to_json(),
        revoked=found.certificate is not None and found.health.is_revoked(found.certificate.serial),
        install_owed=found.health.install_owed,
        ca=str(config.get("server") or ""),
        skipped_cas=found.health.skipped_cas,
        postponed_until=found.postponed.until if found.postponed else None,
    )


def _names(value: object) -> tuple[str, ...]:
    # A list of names only: a string would otherwise be shown letter by letter (issue #23).
    if isinstance(value, list):
        return tuple(str(name) for name in value)
    return ()


def _iso(moment: datetime.datetime | None) -> str | None:
    return moment.isoformat(timespec="seconds") if moment else None


def _minute(moment: datetime.datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC" if moment else "?"
