"""One check for many waits: waiters join while it runs and leave once their own values show.

``certv6 renew`` publishes the values of many certificates at about the same
time (issue #19). A check per certificate would ask every nameserver for the
same SOA once per certificate and round, and follow the same lagging serial
many times over. Here one loop asks each server once per round for every
owner still expected, and the serial watch follows each lagging server once;
the rounds, verdicts and reports are those of ``run.py``. Each waiter is
judged on its own plan, with its own deadline counted from when it started,
and returns as soon as every server serves *its* values, whatever the others
still wait for; a waiter whose zone never catches up fails alone.

    check = SharedCheck(settings, clock=clock)
    report = check.wait(records, dns=dns)     # from any thread; blocks
    check.close()

``wait`` runs the discovery (look-ups through the resolver) in the caller's
thread; the loop runs on a thread of its own. A waiter that joins while the
loop pauses ends the pause: the next round asks for its values at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from certv6.clock import SYSTEM_CLOCK, Clock
from certv6.dnsquery import Dns
from certv6.errors import CertV6Error
from certv6.model import TxtRecord
from certv6.propagation.discover import discover
from certv6.propagation.plan import (
    Delegation,
    Nameserver,
    Plan,
    PropagationSettings,
    Server,
    sleep_before_next,
)
from certv6.propagation.report import Report, build_report
from certv6.propagation.run import (
    check_delegation,
    limited,
    refuse_unverifiable,
    run_round,
    timeout_error,
    waited_for_unchecked,
)
from certv6.propagation.state import (
    Answer,
    DelegationCheck,
    State,
    Status,
    expect_again,
    judge,
    observe,
    unverified_hold,
)
from certv6.propagation.watch import SerialWatch
from certv6.propagation.wire import Transport, UdpTcpTransport, ask
from certv6.propagation.zonens import refresh_nameservers

Progress = Callable[[Report], None]
STOP_SECONDS = 10.0


class CheckStopped(CertV6Error):
    """The shared check was closed while this wait was still running."""


@dataclass(eq=False)
class _Waiter:
    plan: Plan
    started: float
    progress: Progress | None
    done: asyncio.Future[Report]
    visible_since: dict[Server, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _Zone:
    """A zone's servers as its own NS set lists them (refreshed once per check)."""

    servers: tuple[Server, ...]
    nameservers: tuple[Nameserver, ...]
    delegation: asyncio.Future[DelegationCheck] | None


class SharedPoll:
    """The loop itself, in asyncio terms: ``join`` waits, ``run`` polls until ``close``."""

    def __init__(self, settings: PropagationSettings, *, clock: Clock, transport: Transport):
        self.settings = settings
        self.clock = clock
        self.transport = transport
        self.limiter = asyncio.Semaphore(settings.max_concurrency)
        self.watch = SerialWatch(settings)
        self.state = State()
        self.waiters: list[_Waiter] = []
        self.zones: dict[str, _Zone] = {}
        self.joined = asyncio.Event()
        self.refreshing = asyncio.Lock()
        self.known: dict[Server, Answer] = {}  # fresh SOA answers for the next round
        self.watched: frozenset[Server] = frozenset()
        self.round_index = 0
        self.stopped: BaseException | None = None

    async def join(
        self, plan: Plan, dns: Dns, started: float, progress: Progress | None = None
    ) -> Report:
        """Wait until every server serves ``plan``'s values; ``started``: its clock start.

        Raises what ``wait_until_visible`` raises, or CheckStopped.
        """
        if self.stopped is not None:
            raise CheckStopped(f"the propagation check was stopped: {self.stopped}")
        plan = await self._with_known_zones(plan, dns)
        refuse_unverifiable(plan, self.settings)
        before = self.merged()
        grown = [
            target.effective_owner
            for target in plan.targets
            if not set(target.values)
            <= before.expected(target.zone).get(target.effective_owner, set())
        ]
        self.state = expect_again(self.state, grown)
        waiter = _Waiter(plan, started, progress, asyncio.get_running_loop().create_future())
        self.waiters.append(waiter)
        self.round_index = 0  # the newcomer's first checks come quickly
        self.joined.set()
        return await waiter.done

    async def run(self) -> None:
        """Rounds while anyone waits; idle otherwise; returns after ``close``."""
        while self.stopped is None:
            if not self.waiters:
                self.joined.clear()
                await self.joined.wait()
                continue
            self.joined.clear()
            plan = self.merged()
            asked_at = self.clock.monotonic()
            probes = await run_round(
                plan,
                self.state,
                self.settings,
                self.transport,
                self.limiter,
                skip=self.watched,
                known=self.known,
            )
            self.watch.asked_in_round([probe.server for probe in probes], asked_at)
            self.state = observe(plan, self.state, probes)
            pauses = [await self._settle(waiter) for waiter in list(self.waiters)]
            left = [pause for pause in pauses if pause is not None]
            if not left:
                self.watched, self.known = frozenset(), {}
                continue
            lagging = judge(self.merged(), self.state, strict=self.settings.strict).having(
                Status.LAGGING
            )
            moved = await self._pause(lagging, min(left))
            self.watched, self.known = frozenset(lagging) - set(moved), moved
            self.round_index += 1

    def close(self, reason: BaseException) -> None:
        """Stop; every waiter still waiting gets CheckStopped naming ``reason``."""
        self.stopped = reason
        for waiter in self.waiters:
            if not waiter.done.done():
                waiter.done.set_exception(
                    CheckStopped(f"the propagation check was stopped: {reason or 'closed'}")
                )
        self.waiters.clear()
        self.joined.set()

    def merged(self) -> Plan:
        """Every waiter's plan in one: what each round asks."""
        plans = [waiter.plan for waiter in self.waiters]
        return Plan(
            targets=tuple(target for plan in plans for target in plan.targets),
            servers=tuple(dict.fromkeys(server for plan in plans for server in plan.servers)),
            nat64_prefix=next((plan.nat64_prefix for plan in plans if plan.nat64_prefix), None),
        )

    async def _settle(self, waiter: _Waiter) -> float | None:
        """Report to ``waiter``; finish it (visible, or its deadline) or return its pause."""
        settings = self.settings
        elapsed = self.clock.monotonic() - waiter.started
        verdict = judge(waiter.plan, self.state, strict=settings.strict)
        for server in verdict.having(Status.VISIBLE):
            waiter.visible_since.setdefault(server, elapsed)
        hold = unverified_hold(verdict, waiter.visible_since, settings.unverified_grace)
        if hold is not None:
            hold = min(hold, settings.timeout)
        report = build_report(
            waiter.plan,
            self.state,
            verdict,
            policy=settings.policy,
            elapsed=elapsed,
            delegations=await self._delegations(waiter.plan),
            unverified_wait=waited_for_unchecked(hold, elapsed, waiter.visible_since),
        )
        if waiter.progress is not None:
            try:
                waiter.progress(report)
            except Exception as error:  # the caller's callback fails its own wait only
                self._finish(waiter, report, error)
                return None
        if report.visible and (hold is None or elapsed >= hold):
            self._finish(waiter, report, None)
            return None
        pause = sleep_before_next(self.round_index, elapsed, settings)
        if pause is None:
            failure = None if report.visible else timeout_error(report, elapsed)
            self._finish(waiter, report, failure)
            return None
        return pause if hold is None else min(pause, max(hold - elapsed, 0.0))

    def _finish(self, waiter: _Waiter, report: Report, failure: Exception | None) -> None:
        self.waiters.remove(waiter)
        if waiter.done.done():
            return
        if failure is None:
            waiter.done.set_result(report)
        else:
            waiter.done.set_exception(failure)

    async def _pause(self, lagging: Sequence[Server], pause: float) -> dict[Server, Answer]:
        """The serial watch's pause, ended early when a waiter joins."""
        await asyncio.sleep(0)  # joins already scheduled on the loop come in first
        if self.joined.is_set():
            return {}
        watching = asyncio.ensure_future(
            self.watch.pause(lagging, self.state, pause, self.clock, self._ask_soa)
        )
        joined = asyncio.ensure_future(self.joined.wait())
        done, _ = await asyncio.wait({watching, joined}, return_when=asyncio.FIRST_COMPLETED)
        for job in (watching, joined):
            if job not in done:
                job.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await job
        return watching.result() if watching in done else {}

    async def _ask_soa(self, server: Server) -> Answer:
        timeout = self.settings.query_timeout
        return await limited(
            self.limiter, ask(self.transport, server.address, server.zone, "SOA", timeout)
        )

    async def _with_known_zones(self, plan: Plan, dns: Dns) -> Plan:
        """``plan`` with each zone's own NS set: asked once per zone and check, then reused."""
        async with self.refreshing:  # waiters joining at once share one refresh
            if any(zone not in self.zones for zone in plan.zones):
                refreshed, soa = await refresh_nameservers(plan, self.settings, dns, self.transport)
                for server in refreshed.askable:
                    if server.address in soa:
                        self.known.setdefault(server, soa[server.address])
                for zone in refreshed.zones:
                    delegation = next((d for d in refreshed.delegations if d.zone == zone), None)
                    self.zones.setdefault(zone, self._zone(refreshed, zone, delegation))
        return _with_zones(plan, self.zones)

    def _zone(self, plan: Plan, zone: str, delegation: Delegation | None) -> _Zone:
        check = None
        if delegation is not None:
            check = asyncio.ensure_future(
                check_delegation(delegation, self.settings, self.transport, self.limiter)
            )
        return _Zone(
            tuple(server for server in plan.servers if server.zone == zone),
            tuple(ns for ns in plan.nameservers if ns.zone == zone),
            check,
        )

    async def _delegations(self, plan: Plan) -> tuple[DelegationCheck, ...]:
        checks = [self.zones[zone].delegation for zone in plan.zones if zone in self.zones]
        return tuple([await check for check in checks if check is not None])


def _with_zones(plan: Plan, zones: dict[str, _Zone]) -> Plan:
    servers = tuple(server for zone in plan.zones for server in zones[zone].servers)
    nameservers = tuple(ns for zone in plan.zones for ns in zones[zone].nameservers)
    return Plan(
        targets=plan.targets,
        servers=servers,
        nameservers=nameservers,
        delegations=plan.delegations,
        nat64_prefix=plan.nat64_prefix,
        warnings=plan.warnings,
    )


class SharedCheck:
    """A ``SharedPoll`` on a thread of its own, for callers on other threads."""

    def __init__(
        self,
        settings: PropagationSettings,
        *,
        clock: Clock = SYSTEM_CLOCK,
        transport: Transport | None = None,
    ) -> None:
        self.settings = settings
        self._clock = clock
        self._transport = transport or UdpTcpTransport()
        self._lock = threading.Lock()
        self._running: tuple[asyncio.AbstractEventLoop, SharedPoll] | None = None
        self._thread: threading.Thread | None = None

    def wait(
        self, records: Sequence[TxtRecord], *, dns: Dns, progress: Progress | None = None
    ) -> Report:
        """``wait_until_visible`` for ``records``, sharing the rounds with every other wait.

        Raises:
            PropagationTimeout, UnverifiableNameserver, DnsError: as wait_until_visible.
            CheckStopped: ``close`` was called while waiting.
        """
        started = self._clock.monotonic()  # the deadline covers discovery too
        plan = discover(records, self.settings, dns)
        loop, poll = self._started()
        joined = poll.join(plan, dns, started, progress)
        return asyncio.run_coroutine_threadsafe(joined, loop).result()

    def close(self, reason: BaseException | None = None) -> None:
        """Stop the loop; waits still running raise CheckStopped. Idempotent."""
        with self._lock:
            running, thread = self._running, self._thread
            self._running = None
        if running is None or thread is None:
            return
        loop, poll = running
        loop.call_soon_threadsafe(poll.close, reason or CheckStopped("closed"))
        thread.join(STOP_SECONDS)

    def _started(self) -> tuple[asyncio.AbstractEventLoop, SharedPoll]:
        with self._lock:
            if self._running is None:
                ready: list[tuple[asyncio.AbstractEventLoop, SharedPoll]] = []
                started = threading.Event()
                self._thread = threading.Thread(
                    target=self._serve,
                    args=(ready, started),
                    name="certv6-shared-check",
                    daemon=True,
                )
                self._thread.start()
                started.wait()
                self._running = ready[0]
            return self._running

    def _serve(
        self, ready: list[tuple[asyncio.AbstractEventLoop, SharedPoll]], started: threading.Event
    ) -> None:
        async def main() -> None:
            poll = SharedPoll(self.settings, clock=self._clock, transport=self._transport)
            ready.append((asyncio.get_running_loop(), poll))
            started.set()
            try:
                await poll.run()
            except BaseException as error:  # a bug here must not leave a waiter hanging
                poll.close(error)
                raise

        asyncio.run(main())
