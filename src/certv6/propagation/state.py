"""What the servers said so far, and the verdict on it: pure functions, no I/O.

``observe`` folds one round of ``Probe``s into the ``State``; ``judge`` turns a
state into a ``Verdict``. Both are deterministic, so every corner (lagging
serials, AA=0 answers, silent addresses, policy) is tested without a socket.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from certv6.propagation.plan import Delegation, Plan, Server

# An address that never answered is given up on ("unreachable") only after this many
# rounds, so one lost packet does not make certv6 skip a server.
GIVE_UP_AFTER_ROUNDS = 2
_SERIAL_HALF = 2**31


def serial_lt(a: int, b: int) -> bool:
    """``a`` is older than ``b`` in sequence space arithmetic (RFC 1982 section 3.2)."""
    return a != b and ((a < b and b - a < _SERIAL_HALF) or (a > b and a - b > _SERIAL_HALF))


@dataclass(frozen=True, slots=True)
class Answer:
    """What one query to one authoritative address got back."""

    rcode: str = ""  # "NOERROR", "NXDOMAIN", "REFUSED", ...; "" when nothing came back
    authoritative: bool = False  # the AA bit (RFC 1035 section 4.1.1)
    texts: frozenset[str] = frozenset()  # the owner's RRset: TXT strings, or values as text
    serial: int | None = None  # SOA serial, for SOA queries
    rtt: float | None = None
    tcp: bool = False  # the UDP answer was truncated and TCP was used (RFC 7766 section 5)
    error: str = ""  # "timeout", an OS error, or why a response was unusable

    @property
    def responded(self) -> bool:
        return bool(self.rcode)

    @property
    def problem(self) -> str:
        """Why this answer does not count as authoritative data; "" when it does."""
        if not self.rcode:
            return self.error or "no response"
        if self.error:
            return self.error
        if self.rcode not in ("NOERROR", "NXDOMAIN"):
            return self.rcode
        if not self.authoritative:
            return "not authoritative (AA=0)"
        return ""


@dataclass(frozen=True, slots=True)
class Probe:
    """One round's answers from one server: its zone's SOA, then TXT per owner."""

    server: Server
    soa: Answer
    txt: tuple[tuple[str, Answer], ...] = ()  # (effective owner, answer)


@dataclass(frozen=True, slots=True)
class ServerState:
    """Everything one server has said during this run."""

    rounds_asked: int = 0
    rounds_answered: int = 0
    serial: int | None = None
    seen: Mapping[str, frozenset[str]] = field(default_factory=dict)  # owner -> TXT strings
    confirmed: frozenset[str] = frozenset()  # owners serving every expected value
    last: Answer = Answer()  # the most telling answer of the latest round
    problem: str = ""


@dataclass(frozen=True, slots=True)
class State:
    rounds: int = 0
    servers: Mapping[Server, ServerState] = field(default_factory=dict)
    highest: Mapping[str, int] = field(default_factory=dict)  # zone -> newest serial seen

    def of(self, server: Server) -> ServerState:
        return self.servers.get(server, ServerState())


def observe(plan: Plan, state: State, probes: Iterable[Probe]) -> State:
    """Fold one round into the state."""
    servers = dict(state.servers)
    highest = dict(state.highest)
    for probe in probes:
        updated = _observe_server(plan, state.of(probe.server), probe)
        servers[probe.server] = updated
        zone = probe.server.zone
        if updated.serial is not None and (
            zone not in highest or serial_lt(highest[zone], updated.serial)
        ):
            highest[zone] = updated.serial
    return State(rounds=state.rounds + 1, servers=servers, highest=highest)


def expect_again(state: State, owners: Iterable[str]) -> State:
    """``state`` with ``owners`` no longer confirmed anywhere: more values are expected there.

    A shared check (``shared.py``) takes in new waiters while it runs; one whose
    values go to an owner a server already served in full must see that server
    serve the new value too.
    """
    stale = frozenset(owners)
    if not stale:
        return state
    servers = {
        server: replace(known, confirmed=known.confirmed - stale)
        for server, known in state.servers.items()
    }
    return replace(state, servers=servers)


def _observe_server(plan: Plan, before: ServerState, probe: Probe) -> ServerState:
    expected = plan.expected(probe.server.zone)
    unwanted = plan.unwanted(probe.server.zone)
    seen = dict(before.seen)
    confirmed = set(before.confirmed)
    for owner, answer in probe.txt:
        if not answer.problem:
            seen[owner] = answer.texts
            if expected.get(owner, frozenset()) <= answer.texts and not (
                unwanted.get(owner, frozenset()) & answer.texts
            ):
                confirmed.add(owner)
    soa_ok = not probe.soa.problem and probe.soa.serial is not None
    telling = _most_telling(probe)
    return replace(
        before,
        rounds_asked=before.rounds_asked + 1,
        rounds_answered=before.rounds_answered + probe.soa.responded,
        serial=probe.soa.serial if soa_ok else before.serial,
        seen=seen,
        confirmed=frozenset(confirmed),
        last=telling,
        problem=telling.problem or ("" if soa_ok else "no SOA in the answer"),
    )


def _most_telling(probe: Probe) -> Answer:
    """The SOA answer if it failed, else the first failed TXT answer, else the last one."""
    if probe.soa.problem or not probe.txt:
        return probe.soa
    failed = [answer for _, answer in probe.txt if answer.problem]
    return failed[0] if failed else probe.txt[-1][1]


class Status(enum.StrEnum):
    VISIBLE = "visible"  # serves every expected value, authoritatively
    LAGGING = "lagging"  # answered, values missing, SOA serial behind the zone's newest
    WAITING = "waiting"  # answered, values missing (or answers not authoritative)
    SILENT = "silent"  # asked, no answer yet
    UNREACHABLE = "unreachable"  # never answered in GIVE_UP_AFTER_ROUNDS rounds
    UNVERIFIABLE = "unverifiable"  # IPv4 only and no NAT64 prefix: never asked


@dataclass(frozen=True, slots=True)
class Verdict:
    visible: bool
    statuses: Mapping[Server, Status]

    def having(self, *wanted: Status) -> tuple[Server, ...]:
        return tuple(server for server, status in self.statuses.items() if status in wanted)


def status_of(
    plan: Plan, state: State, server: Server, give_up_after: int = GIVE_UP_AFTER_ROUNDS
) -> Status:
    if not server.address:
        return Status.UNVERIFIABLE
    known = state.of(server)
    if set(plan.expected(server.zone)) <= known.confirmed:
        return Status.VISIBLE
    if known.rounds_answered == 0:
        return Status.UNREACHABLE if known.rounds_asked >= give_up_after else Status.SILENT
    if is_lagging(state, server):
        return Status.LAGGING
    return Status.WAITING


def is_lagging(state: State, server: Server) -> bool:
    serial = state.of(server).serial
    newest = state.highest.get(server.zone)
    return serial is not None and newest is not None and serial_lt(serial, newest)


def serial_moved(state: State, server: Server, soa: Answer) -> bool:
    """``soa`` (a fresh SOA answer from ``server``) shows a serial other than the known one."""
    known = state.of(server).serial
    return not soa.problem and soa.serial is not None and soa.serial != known


def judge(
    plan: Plan, state: State, *, strict: bool, give_up_after: int = GIVE_UP_AFTER_ROUNDS
) -> Verdict:
    """Visible when every zone has a server serving every value and no server blocks.

    Under all-reachable, unreachable and unverifiable servers do not block (they are
    reported); under strict every server must serve every value. Either way a zone
    whose servers all failed to answer is never visible.
    """
    statuses = {server: status_of(plan, state, server, give_up_after) for server in plan.servers}
    tolerated = (
        {Status.VISIBLE} if strict else {Status.VISIBLE, Status.UNREACHABLE, Status.UNVERIFIABLE}
    )
    every_zone_seen = all(
        any(statuses[s] is Status.VISIBLE for s in plan.servers if s.zone == zone)
        for zone in plan.zones
    )
    visible = every_zone_seen and all(status in tolerated for status in statuses.values())
    return Verdict(visible=visible, statuses=statuses)


UNCHECKED = (Status.UNREACHABLE, Status.UNVERIFIABLE)


def unverified_hold(
    verdict: Verdict, visible_since: Mapping[Server, float], grace: float
) -> float | None:
    """Until when (seconds since the start) to keep waiting for servers nobody could ask.

    certv6 cannot see what an unverifiable or unreachable server serves, but the CA's
    resolver may ask it. Such a server got the change from its primary the way the others
    did, so it gets as long again as the slowest server of its zones that could be
    checked needed, and at least ``grace``. None: nothing to wait for (no unchecked
    server, or the checked ones are not all visible yet).
    """
    unchecked = verdict.having(*UNCHECKED)
    if not unchecked or not verdict.visible:
        return None
    zones = {server.zone for server in unchecked}
    slowest = max(
        (since for server, since in visible_since.items() if server.zone in zones), default=0.0
    )
    return slowest + max(grace, slowest)


def same_serial_without_values(plan: Plan, state: State, verdict: Verdict) -> tuple[Server, ...]:
    """Servers missing values while serving the very serial of a server that has them.

    A secondary transfers a zone only when its serial grows (RFC 1996 section 3.11), so
    when the primary changes the zone without raising the serial (PowerDNS with
    SOA-EDIT-DNSUPDATE=NONE does that), these servers never get the values.
    """
    found = []
    for server in verdict.having(Status.WAITING):
        serial = state.of(server).serial
        if serial is None:
            continue
        if any(
            other.zone == server.zone
            and verdict.statuses[other] is Status.VISIBLE
            and state.of(other).serial == serial
            for other in plan.servers
        ):
            found.append(server)
    return tuple(found)


def values_seen(plan: Plan, state: State, server: Server) -> int:
    known = state.of(server)
    expected = plan.expected(server.zone)
    return sum(
        len(values & known.seen.get(owner, frozenset())) for owner, values in expected.items()
    )


def missing(plan: Plan, state: State, server: Server) -> tuple[tuple[str, str], ...]:
    """(owner, value) pairs this server has not been seen serving."""
    known = state.of(server)
    return tuple(
        (owner, value)
        for owner, values in sorted(plan.expected(server.zone).items())
        for value in sorted(values - known.seen.get(owner, frozenset()))
    )


def stale(plan: Plan, state: State, server: Server) -> tuple[tuple[str, str], ...]:
    """(owner, value) pairs this server was last seen still serving that must be gone."""
    known = state.of(server)
    return tuple(
        (owner, value)
        for owner, values in sorted(plan.unwanted(server.zone).items())
        for value in sorted(values & known.seen.get(owner, frozenset()))
    )


@dataclass(frozen=True, slots=True)
class DelegationCheck:
    """The parent's NS set for a zone next to the child's own (RFC 1034 section 4.2.2)."""

    zone: str
    parent: str
    parent_nameservers: tuple[str, ...] | None  # None: not checked (see note)
    child_nameservers: tuple[str, ...]
    note: str = ""

    @property
    def matches(self) -> bool | None:
        if self.parent_nameservers is None:
            return None
        return set(self.parent_nameservers) == set(self.child_nameservers)


def compare_delegation(
    delegation: Delegation, referrals: Sequence[tuple[str, ...] | None]
) -> DelegationCheck:
    """Combine what the parent's servers said (None: no usable answer) with the child's set."""
    answered = [names for names in referrals if names is not None]
    check = DelegationCheck(
        delegation.zone, delegation.parent, None, delegation.child_nameservers, delegation.note
    )
    if not answered:
        return replace(check, note=delegation.note or "no parent nameserver gave a referral")
    union = tuple(sorted({name for names in answered for name in names}))
    note = "" if len(set(answered)) == 1 else "the parent's nameservers disagree with each other"
    return replace(check, parent_nameservers=union, note=note)
