"""Rounds of concurrent queries until every value is visible or the deadline passes.

The only asyncio in certv6. Each round asks every askable address at once,
bounded by ``max_concurrency``: per address first the zone's SOA (serial tracking,
and a liveness probe), then TXT for the owners it has not yet served in full, all
concurrently. An address that does not answer the SOA is not asked anything else
that round, so a dead address costs one ``query_timeout`` per round.

Between rounds, the SOA of every server that lags by serial is asked every
``serial_interval``; when its serial moves, the pause ends and the next round runs
at once. A catching-up secondary is thus seen within about ``serial_interval``
instead of half a ``poll_interval`` on average, at the cost of one small query per
lagging address per interval.
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
    serial_moved,
)
from certv6.propagation.wire import Transport, UdpTcpTransport, ask, ask_delegation

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
    _refuse_unverifiable(plan, settings)
    chosen = transport or UdpTcpTransport()
    return asyncio.run(
        poll(plan, settings, clock=clock, transport=chosen, progress=progress, started=started)
    )


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
    return asyncio.run(one_round(plan, settings, clock, transport or UdpTcpTransport()))


def _refuse_unverifiable(plan: Plan, settings: PropagationSettings) -> None:
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
) -> Report:
    """Run rounds until visible; raise PropagationTimeout after the deadline's round.

    ``started`` is the clock reading the deadline counts from (default: now).
    """
    start = clock.monotonic() if started is None else started
    limiter = asyncio.Semaphore(settings.max_concurrency)
    referrals = asyncio.ensure_future(check_delegations(plan, settings, transport, limiter))
    state, round_index = State(), 0
    while True:
        state = observe(plan, state, await run_round(plan, state, settings, transport, limiter))
        elapsed = clock.monotonic() - start
        verdict = judge(plan, state, strict=settings.strict)
        report = build_report(
            plan,
            state,
            verdict,
            policy=settings.policy,
            elapsed=elapsed,
            delegations=await referrals,
        )
        if progress is not None:
            progress(report)
        if report.visible:
            return report
        pause = sleep_before_next(round_index, elapsed, settings)
        if pause is None:
            message = f"not visible after {elapsed:.1f} s: {describe_blocking(report)}"
            raise PropagationTimeout(message, report=report)
        # A secondary applies a transfer's serial and data together: watch the laggards' SOA.
        await pause_until_serial_moves(
            verdict.having(Status.LAGGING),
            state,
            pause,
            settings=settings,
            clock=clock,
            transport=transport,
            limiter=limiter,
        )
        round_index += 1


async def pause_until_serial_moves(
    servers: Sequence[Server],
    state: State,
    pause: float,
    *,
    settings: PropagationSettings,
    clock: Clock,
    transport: Transport,
    limiter: asyncio.Semaphore,
) -> None:
    """Sleep ``pause``, or less: until the SOA serial of one of ``servers`` changes."""
    end = clock.monotonic() + pause
    step = settings.serial_interval
    if not servers or step >= pause:
        await clock.asleep(pause)
        return
    while (left := end - clock.monotonic()) > step:
        await clock.asleep(step)
        timeout = min(settings.query_timeout, max(end - clock.monotonic(), step))
        answers = await asyncio.gather(
            *(
                _limited(limiter, ask(transport, server.address, server.zone, "SOA", timeout))
                for server in servers
            )
        )
        if any(serial_moved(state, s, a) for s, a in zip(servers, answers, strict=True)):
            return
    if left > 0:
        await clock.asleep(left)


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
) -> list[Probe]:
    """Ask every askable address concurrently; one ``Probe`` per address."""
    jobs = []
    rdtypes = plan.rdtypes()
    for server in plan.askable:
        owners = sorted(set(plan.expected(server.zone)) - state.of(server).confirmed)
        jobs.append(probe(server, owners, settings, transport, limiter, rdtypes=rdtypes))
    return list(await asyncio.gather(*jobs))


async def probe(
    server: Server,
    owners: Sequence[str],
    settings: PropagationSettings,
    transport: Transport,
    limiter: asyncio.Semaphore,
    *,
    rdtypes: Mapping[str, str] | None = None,
) -> Probe:
    """SOA first; TXT (or ``rdtypes[owner]``) for ``owners`` only if the address answered."""
    timeout = settings.query_timeout
    kinds = rdtypes or {}
    soa = await _limited(limiter, ask(transport, server.address, server.zone, "SOA", timeout))
    if not soa.responded:
        return Probe(server, soa)
    answers: list[Answer] = await asyncio.gather(
        *(
            _limited(
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
            _limited(limiter, ask_delegation(transport, server.address, delegation.zone, timeout))
            for server in delegation.parent_servers
        )
    )
    return compare_delegation(delegation, referrals)


async def _limited(limiter: asyncio.Semaphore, job: Awaitable[T]) -> T:
    async with limiter:
        return await job
