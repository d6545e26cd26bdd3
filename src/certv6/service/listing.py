"""Use case: what certificates the state directory holds, and when each renews."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from certv6.errors import CertV6Error
from certv6.keys import certificate_info
from certv6.renewal import default_renewal_time
from certv6.settings import Settings
from certv6.store import Store


@dataclass(frozen=True, slots=True)
class CertificateSummary:
    name: str
    domains: tuple[str, ...]
    not_after: datetime.datetime | None
    next_renewal: datetime.datetime | None
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
            "path": str(self.path),
            "sha256": self.sha256,
            "provider": self.provider,
            "problem": self.problem or None,
        }


def list_certificates(settings: Settings) -> list[CertificateSummary]:
    summaries = []
    for lineage in Store(settings.state_dir).lineages.all():
        try:
            config = lineage.config()
            info = certificate_info(lineage.current().read("cert.pem"))
        except CertV6Error as error:
            summaries.append(
                CertificateSummary(
                    lineage.name, (), None, None, lineage.current_link, "", "", str(error)
                )
            )
            continue
        summaries.append(
            CertificateSummary(
                name=lineage.name,
                domains=tuple(config.get("domains", info.names)),
                not_after=info.not_after,
                next_renewal=default_renewal_time(info.not_before, info.not_after),
                path=lineage.current_link,
                sha256=info.sha256,
                provider=str(config.get("provider", "")),
            )
        )
    return summaries


def _iso(moment: datetime.datetime | None) -> str | None:
    return moment.isoformat(timespec="seconds") if moment else None
