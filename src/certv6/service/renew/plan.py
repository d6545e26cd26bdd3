"""Which certificates are due, from what is on disk alone: no network, no heavy imports.

A timer runs ``certv6 renew`` twice a day and almost always nothing is due, so
this step lists each lineage's directory once and reads only its small JSON
files (lineage.json, meta.json, ari.json, health.json), never a PEM, and imports
neither acme nor cryptography nor dnspython (issue #6: 1,000 certificates
checked in well under a second; bench/renew.py measures it).

A lineage is also "to do" when it is not due but owes its servers an install
(a failed or interrupted one, issue #13), and it is a failure of its own when
its files are damaged (issue #23): never a reason to stop looking at the others.
One the CA asked to wait for (a rate limit, issue #19) is not due before then.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass, field

from certv6 import renewal
from certv6.errors import CertV6Error, ConfigError, StoreError
from certv6.renewal import AriState, Certificate, Decision, decide, parse_time
from certv6.store import Health, Lineage, Postponement, Snapshot, Store


@dataclass(frozen=True, slots=True)
class Candidate:
    """One lineage and what its current certificate, its health and the CA's last word say."""

    lineage: Lineage
    certificate: Certificate | None = None
    ari: AriState | None = None
    decision: Decision | None = None
    problem: str = ""  # the lineage could not be read; it counts as failed
    hint: str = ""
    health: Health = field(default_factory=Health)
    current: str = ""  # versions/NNNN that ``current`` named when it was read
    snapshot: Snapshot | None = None  # what it was read from
    postponed: Postponement | None = None  # due, but the CA asked to wait until then

    @property
    def name(self) -> str:
        return self.lineage.name

    @property
    def due(self) -> bool:
        return self.decision is not None and self.decision.due

    @property
    def check_ari(self) -> bool:
        return self.decision is not None and self.decision.check_ari

    def configured_domains(self) -> tuple[str, ...]:
        """The names lineage.json lists (none when it cannot be read)."""
        try:
            domains = self.lineage.config().get("domains") or ()
        except CertV6Error:
            return ()
        return tuple(str(domain) for domain in domains)

    @property
    def install_owed(self) -> bool:
        return not self.problem and self.health.install_owed

    @property
    def to_do(self) -> bool:
        """Something for a run to do here without --force: renew, ask the CA, or install."""
        return self.due or self.check_ari or self.install_owed


def scan(store: Store, names: Sequence[str], *, now: datetime.datetime) -> list[Candidate]:
    """Every lineage (or the ones named), each with its decision.

    Raises:
        ConfigError: a name that is not in the store.
    """
    return [candidate_of(snapshot, now=now) for snapshot in snapshots(store, names)]


def snapshots(store: Store, names: Sequence[str]) -> list[Snapshot]:
    if not names:
        return store.lineages.snapshots()
    chosen = []
    for name in dict.fromkeys(names):
        snapshot = store.lineages.get(name).snapshot()
        if snapshot is None or snapshot.empty:
            raise ConfigError(
                f"no certificate named {name!r} in {store.root}",
                hint="certv6 list shows the stored certificates",
            )
        chosen.append(snapshot)
    return chosen


def candidate(lineage: Lineage, *, now: datetime.datetime) -> Candidate:
    """``lineage`` read afresh (after a renewal); a lineage gone missing is a problem."""
    snapshot = lineage.snapshot()
    if snapshot is None:
        return Candidate(lineage, problem=f"certificate {lineage.name!r} is gone")
    return candidate_of(snapshot, now=now)


def candidate_of(snapshot: Snapshot, *, now: datetime.datetime) -> Candidate:
    health, current = snapshot.health, snapshot.current
    if snapshot.problem:
        return Candidate(
            snapshot.lineage,
            problem=snapshot.problem,
            hint=snapshot.hint,
            health=health,
            current=current,
            snapshot=snapshot,
        )
    try:
        certificate = current_certificate(snapshot)
    except CertV6Error as error:
        return Candidate(
            snapshot.lineage,
            problem=str(error),
            hint=error.hint,
            health=health,
            current=current,
            snapshot=snapshot,
        )
    ari = AriState.from_json(snapshot.ari) if snapshot.ari is not None else None
    revoked = health.revoked
    if revoked is not None and revoked.serial == certificate.serial:
        decision = renewal.revoked(revoked.at, revoked.reason)
    else:
        decision = decide(certificate, ari, now=now)
    postponed = health.postponed_at(now) if decision.due else None
    if postponed is not None:
        decision = renewal.postponed(decision, postponed.until, postponed.reason)
    return Candidate(
        snapshot.lineage,
        certificate,
        ari,
        decision,
        health=health,
        current=current,
        snapshot=snapshot,
        postponed=postponed,
    )


def current_certificate(snapshot: Snapshot) -> Certificate:
    """The current certificate's serial and validity, from its meta.json.

    Raises:
        StoreError: neither meta.json nor cert.pem can say.
    """
    meta = snapshot.meta
    try:
        return Certificate(
            serial=str(meta["serial"]),
            not_before=parse_time(meta["not_before"]),
            not_after=parse_time(meta["not_after"]),
        )
    except (KeyError, TypeError, ValueError):
        pass
    # A version written by hand or by an older certv6: read the certificate itself.
    # Rare, so cryptography is imported only here.
    from certv6.keys import certificate_info  # noqa: PLC0415 (see the module docstring)

    lineage = snapshot.lineage
    try:
        info = certificate_info(lineage.current().read("cert.pem"))
    except StoreError as error:
        raise StoreError(f"certificate {lineage.name!r}: {error}", hint=error.hint) from error
    return Certificate(f"{info.serial:x}", info.not_before, info.not_after)
