"""One propagation check for many waits (issue #19): each waiter leaves when its own values show.

The loop is driven with a FakeClock and in-memory servers where the schedule matters,
and on threads against fake servers on [::1] where the callers are threads, as in
``certv6 renew``.
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from test_propagation_fakes import Authority, MemoryTransport, world, zone_text
from test_propagation_wire import SERVES, ZONES

from certv6.dnsquery import Dns, DnsSettings
from certv6.errors import PropagationTimeout
from certv6.model import TxtRecord
from certv6.propagation import PropagationSettings, Report
from certv6.propagation.plan import Nameserver, Plan, Reach, Server, Target
from certv6.propagation.shared import CheckStopped, SharedCheck, SharedPoll
from fakes.clock import FakeClock

ZONE = "certv6.test."
ZONE_TEXT = zone_text(5, "@ NS ns1\n@ NS ns2")
ADDRESSES = ("2001:db8::1", "2001:db8::2")
SERVERS = tuple(
    Server(ZONE, (f"ns{i}.certv6.test.",), address, Reach.DIRECT)
    for i, address in enumerate(ADDRESSES, start=1)
)
NAMESERVERS = tuple(
    Nameserver(ZONE, f"ns{i}.certv6.test.", (address,), ())
    for i, address in enumerate(ADDRESSES, start=1)
)
UNUSED_DNS = Dns(DnsSettings(resolvers=("[::1]:9",)))  # the plans below need no look-up


def plan_for(owner: str, value: str) -> Plan:
    target = Target(owner, (owner,), ZONE, (value,))
    return Plan(targets=(target,), servers=SERVERS, nameservers=NAMESERVERS)


def owner(label: str) -> str:
    return f"_acme-challenge.{label}.certv6.test."


def test_a_waiter_that_joins_during_a_long_pause_is_asked_at_once() -> None:
    primary, secondary = Authority({ZONE: ZONE_TEXT}), Authority({ZONE: ZONE_TEXT})
    # Same serial everywhere: the secondary is "waiting", not lagging, so no serial
    # watch ends the 5 s pause between rounds; only a newcomer may.
    primary.set_txt(owner("a"), "va", bump=False)
    clock = FakeClock()
    transport = MemoryTransport({ADDRESSES[0]: primary, ADDRESSES[1]: secondary}, clock)
    settings = PropagationSettings(first_interval=5.0, poll_interval=5.0, timeout=60.0)
    seen_by_a: list[Report] = []

    async def scenario() -> tuple[Report, Report]:
        poll = SharedPoll(settings, clock=clock, transport=transport)
        loop = asyncio.get_running_loop()
        joined: list[asyncio.Task[Report]] = []

        def progress_a(report: Report) -> None:
            seen_by_a.append(report)
            if len(seen_by_a) == 1:  # a waits for the secondary: b arrives, served everywhere
                for server in (primary, secondary):
                    server.set_txt(owner("b"), "vb", bump=False)
                plan = plan_for(owner("b"), "vb")
                joined.append(loop.create_task(poll.join(plan, UNUSED_DNS, clock.monotonic())))
            if len(seen_by_a) == 2:
                secondary.set_txt(owner("a"), "va", bump=False)

        running = loop.create_task(poll.run())
        a = await poll.join(plan_for(owner("a"), "va"), UNUSED_DNS, clock.monotonic(), progress_a)
        b = await joined[0]
        poll.close(CheckStopped("done"))
        await running
        return a, b

    a, b = asyncio.run(scenario())
    assert a.visible and b.visible
    assert b.elapsed == 0.0  # asked in the round right after it joined: no pause
    assert [report.visible for report in seen_by_a] == [False, False, True]
    assert a.elapsed == pytest.approx(5.0)  # a's own pause still ran its course


def test_one_round_asks_each_server_once_for_everyone() -> None:
    fresh, lagging = Authority({ZONE: ZONE_TEXT}), Authority({ZONE: ZONE_TEXT})
    labels = [f"n{i}" for i in range(5)]
    for label in labels:
        fresh.set_txt(owner(label), f"v{label}")
    clock = FakeClock()
    transport = MemoryTransport({ADDRESSES[0]: fresh, ADDRESSES[1]: lagging}, clock)
    settings = PropagationSettings(timeout=30.0)
    finished: list[str] = []

    async def scenario() -> list[Report]:
        poll = SharedPoll(settings, clock=clock, transport=transport)
        running = asyncio.create_task(poll.run())
        start = clock.monotonic()

        async def one(label: str) -> Report:
            report = await poll.join(plan_for(owner(label), f"v{label}"), UNUSED_DNS, start)
            finished.append(label)
            return report

        async def catch_up() -> None:
            await asyncio.sleep(0)
            while clock.monotonic() - start < 2.0:
                await asyncio.sleep(0)
            for label in labels[:2]:  # the secondary gets two of them first
                lagging.set_txt(owner(label), f"v{label}")
            while clock.monotonic() - start < 4.0:
                await asyncio.sleep(0)
            for label in labels[2:]:
                lagging.set_txt(owner(label), f"v{label}")

        mover = asyncio.create_task(catch_up())
        done = await asyncio.gather(*(one(label) for label in labels))
        await mover
        poll.close(CheckStopped("done"))
        await running
        return list(done)

    done = asyncio.run(scenario())
    assert all(report.visible for report in done)
    assert set(finished[:2]) == {"n0", "n1"}  # visible first, returned first
    rounds = max(report.rounds for report in done)
    soa_at_primary = [q for q in transport.asked if q[0] == ADDRESSES[0] and q[2] == "SOA"]
    # One SOA per round for all five waiters (plus the NS-set refresh), not five.
    assert len(soa_at_primary) <= rounds + 1
    txt_at_primary = [q for q in transport.asked if q[0] == ADDRESSES[0] and q[2] == "TXT"]
    assert len(txt_at_primary) == len(labels)  # each owner asked once: served at once


def test_more_values_at_a_served_owner_are_waited_for() -> None:
    fresh, lagging = Authority({ZONE: ZONE_TEXT}), Authority({ZONE: ZONE_TEXT})
    both = (fresh, lagging)
    for server in both:
        server.set_txt(owner("www"), "first")
    clock = FakeClock()
    transport = MemoryTransport({ADDRESSES[0]: fresh, ADDRESSES[1]: lagging}, clock)
    settings = PropagationSettings(timeout=3.0)

    async def scenario() -> Report:
        poll = SharedPoll(settings, clock=clock, transport=transport)
        running = asyncio.create_task(poll.run())
        first = await poll.join(plan_for(owner("www"), "first"), UNUSED_DNS, clock.monotonic())
        assert first.visible
        # Another certificate's value at the same owner, on the primary only.
        fresh.set_txt(owner("www"), "first", "second")
        try:
            return await poll.join(plan_for(owner("www"), "second"), UNUSED_DNS, clock.monotonic())
        finally:
            poll.close(CheckStopped("done"))
            await running

    with pytest.raises(PropagationTimeout) as caught:
        asyncio.run(scenario())
    assert "ns2.certv6.test [2001:db8::2]" in str(caught.value)


# --- on threads, against fake servers on [::1] ------------------------------------------------


def test_threads_each_leave_when_their_own_zone_is_done_and_a_stuck_one_fails_alone() -> None:
    settings = PropagationSettings(timeout=1.5, query_timeout=0.5, poll_interval=0.2)
    www, other = "_acme-challenge.www.certv6.test.", "_acme-challenge.www.challenges.test."
    with world(ZONES, SERVES) as w, ThreadPoolExecutor(max_workers=2) as pool:
        check = SharedCheck(settings, transport=w.transport)
        w.publish(www, "v1", at=("2001:db8::1",))  # ns2 never gets it
        w.publish(other, "v2")
        stuck = pool.submit(check.wait, [TxtRecord(www, "v1")], dns=w.dns)
        fine = pool.submit(check.wait, [TxtRecord(other, "v2")], dns=w.dns)
        report = fine.result(timeout=30)
        with pytest.raises(PropagationTimeout) as caught:
            stuck.result(timeout=30)
        check.close()
    assert report.visible
    assert [server.zone for server in report.servers] == ["challenges.test."]
    assert "ns2.certv6.test [2001:db8::2]" in str(caught.value)


def test_close_stops_a_waiting_thread() -> None:
    settings = PropagationSettings(timeout=60.0, query_timeout=0.5)
    www = "_acme-challenge.close.certv6.test."
    asked = threading.Event()
    with world(ZONES, SERVES) as w, ThreadPoolExecutor(max_workers=1) as pool:
        check = SharedCheck(settings, transport=w.transport)
        waiting = pool.submit(
            check.wait, [TxtRecord(www, "never")], dns=w.dns, progress=lambda _: asked.set()
        )
        assert asked.wait(30), "the check never ran a round"
        check.close(KeyboardInterrupt())
        with pytest.raises(CheckStopped, match="stopped"):
            waiting.result(timeout=30)
