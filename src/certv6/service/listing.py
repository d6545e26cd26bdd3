"""Use case: what certificates the state directory holds, and when each renews.

The "next renewal" is the moment `certv6 renew` would act on: the CA's ARI
window (as last fetched, kept in ari.json) or the lifetime rule. Like renew,
this reads meta.json and ari.json only, never a PEM, so it stays fast.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from certv6.clock import SYSTEM_CLOCK, Clock
from certv6.errors import CertV6Error
from certv6.service.renew.plan import Candidate, scan
from certv6.settings import Settings
from certv6.store import Store


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
    problem: str = ""

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
            "problem": self.problem or None,
        }


def list_certificates(
    settings: Settings, *, clock: Clock = SYSTEM_CLOCK
) -> list[CertificateSummary]:
    store = Store(settings.state_dir)
    return [_summary(candidate) for candidate in scan(store, [], now=clock.now())]


def _summary(candidate: Candidate) -> CertificateSummary:
    lineage = candidate.lineage
    try:
        config = lineage.config()
        meta = lineage.current().meta
    except CertV6Error as error:
        config, meta = {}, {}
        problem = str(error)
    else:
        problem = candidate.problem
    decision = candidate.decision
    return CertificateSummary(
        name=lineage.name,
        domains=tuple(config.get("domains", meta.get("domains", ()))),
        not_after=candidate.certificate.not_after if candidate.certificate else None,
        next_renewal=decision.renew_at if decision else None,
        renewal_reason=decision.reason if decision else "",
        path=lineage.current_link,
        sha256=str(meta.get("sha256", "")),
        provider=str(config.get("provider", "")),
        problem=problem,
    )


def _iso(moment: datetime.datetime | None) -> str | None:
    return moment.isoformat(timespec="seconds") if moment else None
