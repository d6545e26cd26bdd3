"""What the checker will ask, and of whom: pure data, no I/O.

A ``Plan`` is built once per run by ``discover``: every challenge owner with its
CNAME chain and zone (a ``Target``), and every authoritative address of every
zone involved (a ``Server``), including the ones this host cannot reach.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from certv6.errors import ConfigError, DnsError
from certv6.propagation import nat64

POLICIES = ("all-reachable", "strict")


@dataclass(frozen=True, slots=True)
class PropagationSettings:
    """How long and how hard to look. See docs/propagation.md for tuning."""

    timeout: float = 120.0  # overall deadline
    poll_interval: float = 1.0  # cap of the delay between rounds
    first_interval: float = 0.1  # first delay; doubles each round up to poll_interval
    query_timeout: float = 1.0  # per query (a dead address costs one of these per round)
    # The serial watch asks a lagging server's SOA this long after it was last asked,
    # then at doubling intervals up to poll_interval: never more than 4 queries a second.
    serial_interval: float = 0.1
    policy: str = "all-reachable"  # or "strict"
    nat64_prefix: str | None = None  # configured prefix; None = discover via RFC 7050
    discover_nat64: bool = True
    max_concurrency: int = 64
    # Servers that cannot be asked (unverifiable, unreachable) are given as long again as
    # the servers that could be checked needed, and at least this long.
    unverified_grace: float = 5.0

    def __post_init__(self) -> None:
        if self.policy not in POLICIES:
            raise ConfigError(f"propagation policy {self.policy!r} is not one of {POLICIES}")
        for name in (
            "timeout",
            "poll_interval",
            "first_interval",
            "query_timeout",
            "serial_interval",
        ):
            if getattr(self, name) <= 0:
                raise ConfigError(f"propagation {name} must be positive")
        if self.unverified_grace < 0:
            raise ConfigError("propagation unverified_grace must not be negative")
        if self.max_concurrency < 1:
            raise ConfigError("propagation max_concurrency must be at least 1")
        if self.nat64_prefix is not None:
            try:
                nat64.parse_prefix(self.nat64_prefix)
            except ValueError as error:
                raise ConfigError(str(error), hint="write it like 64:ff9b::/96") from error

    @property
    def strict(self) -> bool:
        return self.policy == "strict"


class Reach(enum.StrEnum):
    """How this host gets an answer from an authoritative address."""

    DIRECT = "direct"  # the nameserver's own AAAA
    NAT64 = "nat64"  # its A, embedded in the NAT64 prefix (RFC 6052)
    UNVERIFIABLE = "unverifiable"  # A only and no NAT64 prefix: cannot be asked


@dataclass(frozen=True, slots=True)
class Target:
    """One owner and where its values really live: dns-01 TXT values, or a changed RRset."""

    owner: str  # _acme-challenge.<name>.
    chain: tuple[str, ...]  # CNAME chain from owner; the last entry is the effective owner
    zone: str  # apex of the zone holding the effective owner
    values: tuple[str, ...]  # expected values, sorted, unique
    rdtype: str = "TXT"  # the type whose RRset is asked for
    absent: tuple[str, ...] = ()  # values that must no longer be served (a replaced RRset)

    @property
    def effective_owner(self) -> str:
        return self.chain[-1]


@dataclass(frozen=True, slots=True)
class Server:
    """One authoritative address of one zone (the unit that is asked and reported)."""

    zone: str
    nameservers: tuple[str, ...]  # NS names that resolve to this address
    address: str  # IPv6 address asked; "" when unverifiable
    reach: Reach
    ipv4: str = ""  # the A address behind a NAT64 or unverifiable server

    @property
    def label(self) -> str:
        return label(self.nameservers, self.address, self.ipv4)


def label(nameservers: tuple[str, ...], address: str, ipv4: str) -> str:
    """``ns2.example.org [2001:db8::53]``, for messages."""
    shown = address or ipv4 or "no address"
    return f"{', '.join(ns.rstrip('.') for ns in nameservers)} [{shown}]"


@dataclass(frozen=True, slots=True)
class Delegation:
    """The parent side of a zone cut, to compare its NS set with the child's."""

    zone: str
    parent: str  # "" when the parent zone could not be found
    parent_servers: tuple[Server, ...]  # asked for the referral (RD=0)
    child_nameservers: tuple[str, ...]
    note: str = ""  # why it could not be checked


@dataclass(frozen=True, slots=True)
class Nameserver:
    """An NS name of a zone with every address it has, for the report."""

    zone: str
    name: str
    aaaa: tuple[str, ...]
    a: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Plan:
    """Everything a run asks about, fixed before the first round."""

    targets: tuple[Target, ...]
    servers: tuple[Server, ...]
    nameservers: tuple[Nameserver, ...] = ()
    delegations: tuple[Delegation, ...] = ()
    nat64_prefix: str | None = None
    warnings: tuple[str, ...] = ()

    @property
    def zones(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(target.zone for target in self.targets))

    @property
    def askable(self) -> tuple[Server, ...]:
        return tuple(server for server in self.servers if server.address)

    @property
    def unverifiable(self) -> tuple[Server, ...]:
        return tuple(server for server in self.servers if not server.address)

    def targets_in(self, zone: str) -> tuple[Target, ...]:
        return tuple(target for target in self.targets if target.zone == zone)

    def expected(self, zone: str) -> dict[str, frozenset[str]]:
        """Effective owner -> values every server of ``zone`` must serve.

        Two owners whose CNAMEs end at the same name pool their values there.
        """
        pooled: dict[str, set[str]] = {}
        for target in self.targets_in(zone):
            pooled.setdefault(target.effective_owner, set()).update(target.values)
        return {owner: frozenset(values) for owner, values in pooled.items()}

    def unwanted(self, zone: str) -> dict[str, frozenset[str]]:
        """Effective owner -> values no server of ``zone`` may serve any more."""
        pooled: dict[str, set[str]] = {}
        for target in self.targets_in(zone):
            pooled.setdefault(target.effective_owner, set()).update(target.absent)
        return {owner: frozenset(values) for owner, values in pooled.items() if values}

    def rdtypes(self) -> dict[str, str]:
        """Effective owner -> the record type to ask for there."""
        return {target.effective_owner: target.rdtype for target in self.targets}

    def value_count(self, zone: str | None = None) -> int:
        zones = self.zones if zone is None else (zone,)
        return sum(len(values) for z in zones for values in self.expected(z).values())


class UnverifiableNameserver(DnsError):
    """Policy strict, and some nameserver can only be reached over IPv4.

    ``report`` is the propagation report built from the plan (no round was run).
    """

    default_hint = "set nat64_prefix (or fix NAT64 discovery), or use policy all-reachable"

    def __init__(self, message: str, *, report: object = None, qname: str = "") -> None:
        super().__init__(message, qname=qname)
        self.report = report


def next_delay(round_index: int, settings: PropagationSettings) -> float:
    """Pause after round ``round_index`` (0-based): first_interval doubling, capped."""
    return min(settings.poll_interval, settings.first_interval * 2.0 ** min(round_index, 32))


def sleep_before_next(
    round_index: int, elapsed: float, settings: PropagationSettings
) -> float | None:
    """How long to wait before the next round, or None when the deadline has passed.

    The last pause is cut short so that one final round runs at the deadline.
    """
    remaining = settings.timeout - elapsed
    if remaining <= 0:
        return None
    return min(next_delay(round_index, settings), remaining)
