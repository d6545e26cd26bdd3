"""The propagation report: per authoritative address, what it was asked and what it said.

A ``Report`` is a frozen snapshot built after every round (``build_report``); the
progress callback gets each one and ``PropagationTimeout.report`` carries the
last. ``Report.to_json`` is the stable, documented form (docs/propagation.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from certv6.propagation.plan import Nameserver, Plan, Server, Target, label
from certv6.propagation.state import (
    UNCHECKED,
    DelegationCheck,
    State,
    Status,
    Verdict,
    missing,
    same_serial_without_values,
    stale,
    values_seen,
)

JSON_VERSION = 1


@dataclass(frozen=True, slots=True)
class ServerReport:
    """One authoritative address of one zone, as of the latest round."""

    zone: str
    nameservers: tuple[str, ...]
    address: str  # the IPv6 address asked ("" when unverifiable)
    ipv4: str  # the A address behind NAT64 / unverifiable
    reach: str  # "direct", "nat64", "unverifiable"
    status: str  # a state.Status value
    serial: int | None
    zone_serial: int | None  # newest serial any address of the zone served
    values_seen: int
    values_expected: int
    missing: tuple[tuple[str, str], ...]  # (effective owner, value)
    authoritative: bool | None  # AA of the latest response; None: no response yet
    rcode: str
    problem: str  # why the latest answer did not count; "" when it did
    rtt: float | None
    tcp: bool
    rounds_asked: int
    rounds_answered: int
    # Missing values while serving the serial of a server that has them: the zone
    # changed without a new serial, so a secondary will never transfer it.
    serial_unchanged: bool = False
    stale: tuple[tuple[str, str], ...] = ()  # (owner, value) still served that must be gone
    # (effective owner, every TXT string it served): what a standing record says
    # at each server (dns-persist-01), not only whether a value is there.
    seen: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def texts_at(self, owner: str) -> tuple[str, ...] | None:
        """The TXT strings this server served at ``owner``; None if it never answered."""
        return next((texts for name, texts in self.seen if name == owner), None)

    @property
    def label(self) -> str:
        return label(self.nameservers, self.address, self.ipv4)

    def to_json(self) -> dict[str, object]:
        return {
            "zone": self.zone,
            "nameservers": list(self.nameservers),
            "address": self.address or None,
            "ipv4": self.ipv4 or None,
            "reach": self.reach,
            "status": self.status,
            "serial": self.serial,
            "zone_serial": self.zone_serial,
            "values_seen": self.values_seen,
            "values_expected": self.values_expected,
            "missing": [{"owner": owner, "value": value} for owner, value in self.missing],
            "authoritative": self.authoritative,
            "rcode": self.rcode or None,
            "problem": self.problem or None,
            "rtt": None if self.rtt is None else round(self.rtt, 6),
            "tcp": self.tcp,
            "rounds_asked": self.rounds_asked,
            "rounds_answered": self.rounds_answered,
            "serial_unchanged": self.serial_unchanged,
            "stale": [{"owner": owner, "value": value} for owner, value in self.stale],
        }


@dataclass(frozen=True, slots=True)
class Report:
    """The whole picture after a round: verdict, every address, and what to warn about."""

    visible: bool
    policy: str
    elapsed: float
    rounds: int
    targets: tuple[Target, ...]
    servers: tuple[ServerReport, ...]
    nameservers: tuple[Nameserver, ...] = ()
    delegations: tuple[DelegationCheck, ...] = ()
    nat64_prefix: str | None = None
    warnings: tuple[str, ...] = ()
    unverified_wait: float = 0.0  # seconds waited for servers nobody could ask

    @property
    def values_expected(self) -> int:
        """Distinct (effective owner, value) pairs."""
        return len({(t.effective_owner, value) for t in self.targets for value in t.values})

    def having(self, *statuses: Status) -> tuple[ServerReport, ...]:
        return tuple(server for server in self.servers if server.status in statuses)

    @property
    def lagging(self) -> tuple[ServerReport, ...]:
        return self.having(Status.LAGGING)

    @property
    def blocking(self) -> tuple[ServerReport, ...]:
        """Addresses that keep the report from being visible, under its policy."""
        if self.visible:
            return ()
        tolerated = {Status.VISIBLE}
        if self.policy != "strict":
            tolerated |= {Status.UNREACHABLE, Status.UNVERIFIABLE}
        return tuple(server for server in self.servers if server.status not in tolerated)

    @property
    def unchecked(self) -> tuple[ServerReport, ...]:
        """Servers whose answer nobody saw: unverifiable (IPv4 only) or unreachable."""
        return self.having(*UNCHECKED)

    def outcome(self) -> str:
        """What was verified, exactly: ``visible at 2 of 3 authoritative addresses; not
        verified: ...``. Never claims a server that was not asked."""
        done = len(self.having(Status.VISIBLE))
        if not self.unchecked:
            return f"visible at every authoritative address ({done} of {len(self.servers)})"
        not_verified = ", ".join(
            f"{server.label} ({_unchecked_reason(server)})" for server in self.unchecked
        )
        return (
            f"visible at {done} of {len(self.servers)} authoritative addresses; "
            f"not verified: {not_verified}; waited {self.unverified_wait:.1f} s more for "
            f"{'it' if len(self.unchecked) == 1 else 'them'}"
        )

    def summary(self) -> str:
        """A short phrase for logs: ``2/2 addresses of 1 zone serve 2 values; 1.2 s, 6 rounds``."""
        zones = len({server.zone for server in self.servers})
        done = len(self.having(Status.VISIBLE))
        text = (
            f"{done}/{len(self.servers)} addresses of {zones} zone{'s' if zones != 1 else ''} "
            f"serve {self.values_expected} values; {self.elapsed:.1f} s, {self.rounds} rounds"
        )
        if self.warnings:
            text += f"; {len(self.warnings)} warning{'s' if len(self.warnings) != 1 else ''}"
        return text

    def to_json(self) -> dict[str, object]:
        return {
            "version": JSON_VERSION,
            "visible": self.visible,
            "policy": self.policy,
            "elapsed": round(self.elapsed, 3),
            "rounds": self.rounds,
            "records": [_target_json(target) for target in self.targets],
            "servers": [server.to_json() for server in self.servers],
            "nameservers": [
                {"zone": ns.zone, "name": ns.name, "aaaa": list(ns.aaaa), "a": list(ns.a)}
                for ns in self.nameservers
            ],
            "delegations": [_delegation_json(check) for check in self.delegations],
            "nat64_prefix": self.nat64_prefix,
            "warnings": list(self.warnings),
            "unverified_wait": round(self.unverified_wait, 3),
        }


def _unchecked_reason(server: ServerReport) -> str:
    if server.status == Status.UNVERIFIABLE:
        return "IPv4 only and no NAT64 prefix"
    return f"never answered: {server.problem}" if server.problem else "never answered"


def build_report(
    plan: Plan,
    state: State,
    verdict: Verdict,
    *,
    policy: str,
    elapsed: float,
    delegations: Sequence[DelegationCheck] = (),
    unverified_wait: float = 0.0,
) -> Report:
    """Snapshot ``state`` under ``verdict``. Pure."""
    unchanged = set(same_serial_without_values(plan, state, verdict))
    servers = tuple(
        _server_report(plan, state, verdict, server, server in unchanged) for server in plan.servers
    )
    return Report(
        visible=verdict.visible,
        policy=policy,
        elapsed=elapsed,
        rounds=state.rounds,
        targets=plan.targets,
        servers=servers,
        nameservers=plan.nameservers,
        delegations=tuple(delegations),
        nat64_prefix=plan.nat64_prefix,
        warnings=plan.warnings + _warnings(servers, delegations),
        unverified_wait=unverified_wait,
    )


def _server_report(
    plan: Plan, state: State, verdict: Verdict, server: Server, serial_unchanged: bool
) -> ServerReport:
    known = state.of(server)
    responded = known.last.responded
    problem = known.problem
    if serial_unchanged:
        problem = (
            f"serial {known.serial} as on servers that have the values: "
            "the zone changed without a new serial"
        )
    return ServerReport(
        zone=server.zone,
        nameservers=server.nameservers,
        address=server.address,
        ipv4=server.ipv4,
        reach=server.reach.value,
        status=verdict.statuses[server].value,
        serial=known.serial,
        zone_serial=state.highest.get(server.zone),
        values_seen=values_seen(plan, state, server),
        values_expected=plan.value_count(server.zone),
        missing=missing(plan, state, server),
        authoritative=known.last.authoritative if responded else None,
        rcode=known.last.rcode,
        problem=problem,
        rtt=known.last.rtt,
        tcp=known.last.tcp,
        rounds_asked=known.rounds_asked,
        rounds_answered=known.rounds_answered,
        serial_unchanged=serial_unchanged,
        stale=stale(plan, state, server),
        seen=tuple((owner, tuple(sorted(texts))) for owner, texts in sorted(known.seen.items())),
    )


def _warnings(
    servers: Sequence[ServerReport], delegations: Sequence[DelegationCheck]
) -> tuple[str, ...]:
    notes = [
        f"{server.label} never answered"
        + (f" ({server.problem})" if server.problem else "")
        + ": not checked"
        for server in servers
        if server.status == Status.UNREACHABLE
    ]
    notes += [
        f"{server.label} has only an IPv4 address and no NAT64 prefix is known: not checked"
        " (set nat64_prefix if this host has a NAT64)"
        for server in servers
        if server.status == Status.UNVERIFIABLE
    ]
    for check in delegations:
        if check.matches is False and check.parent_nameservers is not None:
            notes.append(
                f"delegation of {check.zone} in {check.parent} lists "
                f"{', '.join(check.parent_nameservers)} but the zone itself lists "
                f"{', '.join(check.child_nameservers)}"
            )
    return tuple(notes)


def _target_json(target: Target) -> dict[str, object]:
    return {
        "owner": target.owner,
        "chain": list(target.chain),
        "effective_owner": target.effective_owner,
        "zone": target.zone,
        "type": target.rdtype,
        "values": list(target.values),
        "absent": list(target.absent),
    }


def _delegation_json(check: DelegationCheck) -> dict[str, object]:
    return {
        "zone": check.zone,
        "parent": check.parent or None,
        "parent_nameservers": (
            None if check.parent_nameservers is None else list(check.parent_nameservers)
        ),
        "child_nameservers": list(check.child_nameservers),
        "matches": check.matches,
        "note": check.note or None,
    }
