"""Rounds of concurrent queries until every value is visible or the deadline passes.

The only asyncio in certv6. Each round asks every askable address at once,
bounded by ``max_concurrency``: per address first the zone's SOA (serial tracking,
and a liveness probe), then TXT for the owners it has not yet served in full, all
concurrently. An address that does not answer the SOA is not asked anything else
that round, so a dead address costs one ``query_timeout`` per round.

Between rounds, the serial watch (``watch.py``) asks the servers that lag by serial
for their SOA, each on its own backing-off schedule, and the rounds leave them alone
until their serial moves; then the pause ends and the next round runs at once.

When every server that could be asked serves every value but some could not be
asked (IPv4 only without NAT64, or silent), the run waits for those a while longer
(``state.unverified_hold``) before it reports success: the CA may ask them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TypeVar

from certv6.clock import SYSTEM_CLOCK, Clock
from certv6.dnsquery import Dns
from certv6.errors import PropagationTimeout
from certv6.model import RRsetChange, TxtRecord
from certv6.propagation.discover import discover
from certv6.propagation.plan import (
    Delegation,
    Plan,
    PropagationSettings,
    Server,
    UnverifiableNameserver,
    sleep_before_next,
)
from certv6.propagation.render import describe_blocking
from certv6.propagation.report import Report, build_report
from certv6.propagation.state import (
    Answer,
    DelegationCheck,
    Probe,
    State,
    Status,
    compare_delegation,
    judge,
    observe,
    unverified_hold,
)
from certv6.propagation.watch import SerialWatch
from certv6.propagation.wire import Transport, UdpTcpTransport, ask, ask_delegation
from certv6.propagation.zonens import refresh_nameservers

Progress = Callable[[Report], None]
T = TypeVar("T")


def wait_until_visible(
    records: Sequence[TxtRecord | RRsetChange],
    settings: PropagationSettings,
    *,
    dns: Dns,
    clock: Clock = SYSTEM_CLOCK,
    progress: Progress | None = None,
    transport: Transport | None = None,
) -> Report:
    """Return once every value of ``records`` is served at every authoritative address.

    An RRsetChange counts as visible where its added values are served and its
    removed ones no longer are.

    ``progress`` gets the report of every round. ``transport`` is a seam for tests.

    Raises:
        PropagationTimeout: still not visible at the deadline (``.report`` says where).
        UnverifiableNameserver: policy strict and a nameserver is reachable only over IPv4.
        NoReachableNameserver: some zone has no nameserver this host can ask.
        DnsError: discovery failed (CNAME loop, zone not found, resolver trouble).
    """
    started = clock.monotonic()  # the deadline covers discovery too
    plan = discover(records, settings, dns)
    chosen = transport or UdpTcpTransport()

    async def refresh_then_poll() -> Report:
        refreshed, soa = await refresh_nameservers(plan, settings, dns, chosen)
        refuse_unverifiable(refreshed, settings)
        return await poll(
            refreshed,
            settings,
            clock=clock,
            transport=chosen,
            progress=progress,
            started=started,
            first_soa=soa,
        )

    return asyncio.run(refresh_then_poll())


def check_once(
    records: Sequence[TxtRecord | RRsetChange],
    settings: PropagationSettings,
    *,
    dns: Dns,
    clock: Clock = SYSTEM_CLOCK,
    transport: Transport | None = None,
) -> Report:
    """One round, no waiting and no raising on lag: what every address serves right now.

    An address that does not answer this one round is reported as unreachable.
    """
    plan = discover(records, settings, dns)
    chosen = transport or UdpTcpTransport()

    async def refresh_then_ask() -> Report:
        refreshed, _ = await refresh_nameservers(plan, settings, dns, chosen)
        return await one_round(refreshed, settings, clock, chosen)

    return asyncio.run(refresh_then_ask())


def refuse_unverifiable(plan: Plan, settings: PropagationSettings) -> None:
    if settings.strict and plan.unverifiable:
        report = build_report(
            plan, State(), judge(plan, State(), strict=True), policy=settings.policy, elapsed=0.0
        )
        names = ", ".join(server.label for server in plan.unverifiable)
        raise UnverifiableNameserver(
            f"policy strict: cannot check {names}: IPv4 only and no NAT64 prefix",
            report=report,
            qname=plan.unverifiable[0].zone,
        )


async def poll(
    plan: Plan,
    settings: PropagationSettings,
    *,
    clock: Clock,
    transport: Transport,
    progress: Progress | None = None,
    started: float | None = None,
    first_soa: Mapping[str, Answer] | None = None,
) -> Report:
    """Run rounds until visible; raise PropagationTimeout after the deadline's round.

    ``started`` is the clock reading the deadline counts from (default: now).
    ``first_soa``: SOA answers per address just received (by the NS-set check), which
    the first round uses instead of asking again.
    """
    first_soa = first_soa or {}
    start = clock.monotonic() if started is None else started
    limiter = asyncio.Semaphore(settings.max_concurrency)
    referrals = asyncio.ensure_future(check_delegations(plan, settings, transport, limiter))
    watch = SerialWatch(settings)
    state, round_index, watched = State(), 0, frozenset[Server]()
    known = {
        server: first_soa[server.address] for server in plan.askable if server.address in first_soa
    }
    visible_since: dict[Server, float] = {}
    while True:
        asked_at = clock.monotonic()
        probes = await run_round(
            plan, state, settings, transport, limiter, skip=watched, known=known
        )
        watch.asked_in_round([p.server for p in probes], asked_at)
        state = observe(plan, state, probes)
        elapsed = clock.monotonic() - start
        verdict = judge(plan, state, strict=settings.strict)
        for server in verdict.having(Status.VISIBLE):
            visible_since.setdefault(server, elapsed)
        hold = unverified_hold(verdict, visible_since, settings.unverified_grace)
        if hold is not None:
            hold = min(hold, settings.timeout)
        report = build_report(
            plan,
            state,
            verdict,
            policy=settings.policy,
            elapsed=elapsed,
            delegations=await referrals,
            unverified_wait=waited_for_unchecked(hold, elapsed, visible_since),
        )
        if progress is not None:
            progress(report)
        if report.visible and (hold is None or elapsed >= hold):
            return report
        pause = sleep_before_next(round_index, elapsed, settings)
        if pause is None:
            if report.visible:  # the deadline cut the wait for unchecked servers short
                return report
            raise timeout_error(report, elapsed)
        if hold is not None:
            pause = min(pause, max(hold - elapsed, 0.0))
        # A secondary applies a transfer's serial and data together: watch the laggards' SOA.
        lagging = verdict.having(Status.LAGGING)
        moved = await watch.pause(
            lagging,
            state,
            pause,
            clock,
            lambda server: limited(
                limiter,
                ask(transport, server.address, server.zone, "SOA", settings.query_timeout),
            ),
        )
        watched, known = frozenset(lagging) - set(moved), moved
        round_index += 1


def waited_for_unchecked(
    hold: float | None, elapsed: float, visible_since: dict[Server, float]
) -> float:
    """Seconds spent so far waiting for unchecked servers after the checked ones were done."""
    if hold is None:
        return 0.0
    done = max(visible_since.values(), default=elapsed)
    return max(0.0, min(elapsed, hold) - done)


def timeout_error(report: Report, elapsed: float) -> PropagationTimeout:
    message = f"not visible after {elapsed:.1f} s: {describe_blocking(report)}"
    if any(server.serial_unchanged for server in report.blocking):
        return PropagationTimeout(
            message,
            report=report,
            hint="the primary must raise the SOA serial with every update, or its"
            " secondaries never transfer the change (PowerDNS: SOA-EDIT-DNSUPDATE must"
            " not be NONE); a longer propagation_timeout cannot help",
        )
    return PropagationTimeout(message, report=report)


async def one_round(
    plan: Plan, settings: PropagationSettings, clock: Clock, transport: Transport
) -> Report:
    """A single round (and the delegation check); silent addresses count as unreachable."""
    start = clock.monotonic()
    limiter = asyncio.Semaphore(settings.max_concurrency)
    checks, probes = await asyncio.gather(
        check_delegations(plan, settings, transport, limiter),
        run_round(plan, State(), settings, transport, limiter),
    )
    state = observe(plan, State(), probes)
    verdict = judge(plan, state, strict=settings.strict, give_up_after=1)
    return build_report(
        plan,
        state,
        verdict,
        policy=settings.policy,
        elapsed=clock.monotonic() - start,
        delegations=checks,
    )


async def run_round(
    plan: Plan,
    state: State,
    settings: PropagationSettings,
    transport: Transport,
    limiter: asyncio.Semaphore,
    *,
    skip: frozenset[Server] = frozenset(),
    known: Mapping[Server, Answer] | None = None,
) -> list[Probe]:
    """Ask every askable address concurrently; one ``Probe`` per address.

    ``skip``: servers the serial watch is following (asking them again now would only
    add queries: their serial has not moved). ``known``: fresh SOA answers to use
    instead of asking (each server is asked a few times a second at most).
    """
    jobs = []
    rdtypes = plan.rdtypes()
    for server in plan.askable:
        if server in skip:
            continue
        owners = sorted(set(plan.expected(server.zone)) - state.of(server).confirmed)
        soa = (known or {}).get(server)
        jobs.append(probe(server, owners, settings, transport, limiter, soa=soa, rdtypes=rdtypes))
    return list(await asyncio.gather(*jobs))


async def probe(
    server: Server,
    owners: Sequence[str],
    settings: PropagationSettings,
    transport: Transport,
    limiter: asyncio.Semaphore,
    *,
    soa: Answer | None = None,
    rdtypes: Mapping[str, str] | None = None,
) -> Probe:
    """SOA first (unless given); TXT (or ``rdtypes[owner]``) for ``owners`` if it answered."""
    timeout = settings.query_timeout
    kinds = rdtypes or {}
    if soa is None:
        soa = await limited(limiter, ask(transport, server.address, server.zone, "SOA", timeout))
    if not soa.responded:
        return Probe(server, soa)
    answers: list[Answer] = await asyncio.gather(
        *(
            limited(
                limiter, ask(transport, server.address, owner, kinds.get(owner, "TXT"), timeout)
            )
            for owner in owners
        )
    )
    return Probe(server, soa, tuple(zip(owners, answers, strict=True)))


async def check_delegations(
    plan: Plan, settings: PropagationSettings, transport: Transport, limiter: asyncio.Semaphore
) -> tuple[DelegationCheck, ...]:
    """Ask every parent's servers for each zone's NS set (a referral), all concurrently."""
    checks = (check_delegation(d, settings, transport, limiter) for d in plan.delegations)
    return tuple(await asyncio.gather(*checks))


async def check_delegation(
    delegation: Delegation,
    settings: PropagationSettings,
    transport: Transport,
    limiter: asyncio.Semaphore,
) -> DelegationCheck:
    timeout = settings.query_timeout
    referrals = await asyncio.gather(
        *(
            limited(limiter, ask_delegation(transport, server.address, delegation.zone, timeout))
            for server in delegation.parent_servers
        )
    )
    return compare_delegation(delegation, referrals)


async def limited(limiter: asyncio.Semaphore, job: Awaitable[T]) -> T:
    async with limiter:
        return await job
