"""The polling loop with a FakeClock and in-memory servers: schedule, deadline, fan-out."""

from __future__ import annotations

import asyncio

import dns.flags
import dns.message
import pytest
from test_propagation_fakes import Authority, MemoryTransport, zone_text

from certv6.errors import PropagationTimeout
from certv6.propagation import PropagationSettings, Report
from certv6.propagation.plan import Plan, Reach, Server, Target
from certv6.propagation.run import one_round, poll
from fakes.clock import FakeClock

ZONE = "certv6.test."
OWNERS = tuple(f"_acme-challenge.n{i}.certv6.test." for i in range(3))
ZONE_TEXT = zone_text(5, "@ NS ns1\n@ NS ns2\n@ NS ns3")
ADDRESSES = ("2001:db8::1", "2001:db8::2", "2001:db8::3")
SERVERS = tuple(
    Server(ZONE, (f"ns{i}.certv6.test.",), address, Reach.DIRECT)
    for i, address in enumerate(ADDRESSES, start=1)
)


def make_plan(owners: tuple[str, ...] = OWNERS, servers: tuple[Server, ...] = SERVERS) -> Plan:
    targets = tuple(Target(owner, (owner,), ZONE, (f"value-{owner}",)) for owner in owners)
    return Plan(targets=targets, servers=servers)


def publish_all(authority: Authority, owners: tuple[str, ...] = OWNERS) -> None:
    for owner in owners:
        authority.set_txt(owner, f"value-{owner}")


def run(plan: Plan, transport: MemoryTransport, clock: FakeClock, **changes: object) -> Report:
    settings = PropagationSettings(**changes)  # type: ignore[arg-type]
    return asyncio.run(poll(plan, settings, clock=clock, transport=transport))


def test_waits_for_the_lagging_server_with_doubling_pauses() -> None:
    fresh, lagging = Authority({ZONE: ZONE_TEXT}), Authority({ZONE: ZONE_TEXT})
    publish_all(fresh)
    transport = MemoryTransport({ADDRESSES[0]: fresh, ADDRESSES[1]: lagging})
    clock = FakeClock()
    lines: list[Report] = []

    def progress(report: Report) -> None:
        lines.append(report)
        if report.rounds == 3:
            publish_all(lagging)

    settings = PropagationSettings()
    report = asyncio.run(
        poll(
            make_plan(servers=SERVERS[:2]),
            settings,
            clock=clock,
            transport=transport,
            progress=progress,
        )
    )
    assert report.visible
    assert report.rounds == 4
    # The third pause (0.2 s) ends after one serial_interval: the laggard's SOA moved.
    assert clock.sleeps == pytest.approx([0.05, 0.1, 0.1])
    assert [r.visible for r in lines] == [False, False, False, True]
    assert lines[0].lagging[0].address == ADDRESSES[1]


def test_deadline_raises_with_the_report_naming_the_laggard() -> None:
    fresh, lagging = Authority({ZONE: ZONE_TEXT}), Authority({ZONE: ZONE_TEXT})
    publish_all(fresh)
    transport = MemoryTransport({ADDRESSES[0]: fresh, ADDRESSES[1]: lagging})
    clock = FakeClock()
    with pytest.raises(PropagationTimeout) as caught:
        run(make_plan(servers=SERVERS[:2]), transport, clock, timeout=2.0)
    # Pauses 0.05, 0.1, 0.2, 0.4, 0.8 and the cut last one, the longer ones spent in
    # serial_interval steps watching the laggard's SOA: 2 s of sleep and 7 rounds in all.
    assert sum(clock.sleeps) == pytest.approx(2.0)
    assert max(clock.sleeps) == pytest.approx(0.1)
    assert "ns2.certv6.test [2001:db8::2]" in str(caught.value)
    assert "serial 5 < 8" in str(caught.value)
    report = caught.value.report
    assert isinstance(report, Report)
    assert not report.visible
    assert report.rounds == 7
    assert [s.status for s in report.servers] == ["visible", "lagging"]


class CatchesUpAt(MemoryTransport):
    """The lagging server applies the change (serial and TXT together) at ``when``."""

    def __init__(self, servers: dict[str, Authority | None], clock: FakeClock, when: float) -> None:
        super().__init__(servers)
        self.clock, self.when, self.done = clock, clock.monotonic() + when, False

    async def exchange(
        self, query: dns.message.Message, address: str, timeout: float
    ) -> tuple[dns.message.Message, bool]:
        if not self.done and self.clock.monotonic() >= self.when:
            lagging = self.authorities[ADDRESSES[1]]
            assert lagging is not None
            publish_all(lagging)
            self.done = True
        return await super().exchange(query, address, timeout)


@pytest.mark.parametrize("catch_up", [0.33, 2.57, 6.91])
def test_a_catching_up_secondary_is_seen_within_one_serial_interval(catch_up: float) -> None:
    fresh, lagging = Authority({ZONE: ZONE_TEXT}), Authority({ZONE: ZONE_TEXT})
    publish_all(fresh)
    clock = FakeClock()
    start = clock.monotonic()
    transport = CatchesUpAt({ADDRESSES[0]: fresh, ADDRESSES[1]: lagging}, clock, catch_up)
    report = run(make_plan(servers=SERVERS[:2]), transport, clock)
    assert report.visible
    assert catch_up <= clock.monotonic() - start <= catch_up + 0.1 + 1e-9
    # Between rounds only the laggard's SOA is asked; the up-to-date server is left alone.
    fresh_asked = [(q, t) for address, q, t in transport.asked if address == ADDRESSES[0]]
    assert set(fresh_asked) == {(ZONE, "SOA"), *((owner, "TXT") for owner in OWNERS)}
    assert len([e for e in fresh_asked if e[1] == "SOA"]) == report.rounds


def test_without_the_serial_watch_detection_waits_for_the_next_round() -> None:
    fresh, lagging = Authority({ZONE: ZONE_TEXT}), Authority({ZONE: ZONE_TEXT})
    publish_all(fresh)
    clock = FakeClock()
    start = clock.monotonic()
    transport = CatchesUpAt({ADDRESSES[0]: fresh, ADDRESSES[1]: lagging}, clock, 2.57)
    report = run(make_plan(servers=SERVERS[:2]), transport, clock, serial_interval=1.0)
    assert report.visible
    # Rounds at 0, 0.05, 0.15, 0.35, 0.75, 1.55, 2.55, 3.55: seen at the 3.55 round.
    assert clock.monotonic() - start == pytest.approx(3.55)


def test_a_server_whose_serial_never_moves_is_not_watched() -> None:
    # Some providers keep a fixed serial; their servers are WAITING, not LAGGING.
    fresh, stale = Authority({ZONE: ZONE_TEXT}), Authority({ZONE: ZONE_TEXT})
    for owner in OWNERS:
        fresh.set_txt(owner, f"value-{owner}", bump=False)
    transport = MemoryTransport({ADDRESSES[0]: fresh, ADDRESSES[1]: stale})
    clock = FakeClock()
    with pytest.raises(PropagationTimeout):
        run(make_plan(servers=SERVERS[:2]), transport, clock, timeout=2.0)
    assert clock.sleeps == pytest.approx([0.05, 0.1, 0.2, 0.4, 0.8, 0.45])


def test_a_dead_address_is_asked_only_its_soa_and_given_up_after_two_rounds() -> None:
    live = Authority({ZONE: ZONE_TEXT})
    publish_all(live)
    transport = MemoryTransport({ADDRESSES[0]: live, ADDRESSES[1]: live, ADDRESSES[2]: None})
    report = run(make_plan(), transport, FakeClock())
    assert report.visible
    assert report.rounds == 2
    dead = [(qname, qtype) for address, qname, qtype in transport.asked if address == ADDRESSES[2]]
    assert dead == [(ZONE, "SOA"), (ZONE, "SOA")]
    assert [s.status for s in report.servers] == ["visible", "visible", "unreachable"]
    assert any("ns3.certv6.test [2001:db8::3] never answered" in w for w in report.warnings)


def test_strict_waits_for_a_dead_address_until_the_deadline() -> None:
    live = Authority({ZONE: ZONE_TEXT})
    publish_all(live)
    transport = MemoryTransport({ADDRESSES[0]: live, ADDRESSES[1]: live, ADDRESSES[2]: None})
    with pytest.raises(PropagationTimeout, match=r"ns3\.certv6\.test"):
        run(make_plan(), transport, FakeClock(), timeout=1.0, policy="strict")


def test_served_owners_are_not_asked_again_but_the_soa_is() -> None:
    early, late = Authority({ZONE: ZONE_TEXT}), Authority({ZONE: ZONE_TEXT})
    publish_all(early)
    publish_all(late, OWNERS[:1])
    transport = MemoryTransport({ADDRESSES[0]: early, ADDRESSES[1]: late})
    clock = FakeClock()

    def progress(report: Report) -> None:
        if report.rounds == 1:
            publish_all(late)

    asyncio.run(
        poll(
            make_plan(servers=SERVERS[:2]),
            PropagationSettings(),
            clock=clock,
            transport=transport,
            progress=progress,
        )
    )
    second_round = [entry for entry in transport.asked if entry[0] == ADDRESSES[1]][4:]
    assert second_round == [
        (ADDRESSES[1], ZONE, "SOA"),
        (ADDRESSES[1], OWNERS[1], "TXT"),
        (ADDRESSES[1], OWNERS[2], "TXT"),
    ]
    assert [e for e in transport.asked if e[0] == ADDRESSES[0]][4:] == [(ADDRESSES[0], ZONE, "SOA")]


def test_queries_are_non_recursive_with_edns_1232() -> None:
    seen: list[dns.message.Message] = []

    class Recording(MemoryTransport):
        async def exchange(
            self, query: dns.message.Message, address: str, timeout: float
        ) -> tuple[dns.message.Message, bool]:
            seen.append(query)
            return await super().exchange(query, address, timeout)

    live = Authority({ZONE: ZONE_TEXT})
    publish_all(live)
    run(make_plan(servers=SERVERS[:1]), Recording({ADDRESSES[0]: live}), FakeClock())
    assert seen
    for query in seen:
        assert not query.flags & dns.flags.RD
        assert query.edns == 0
        assert query.payload == 1232


def test_concurrency_is_bounded_and_queries_overlap() -> None:
    in_flight, peak = 0, 0

    class Slow(MemoryTransport):
        async def exchange(
            self, query: dns.message.Message, address: str, timeout: float
        ) -> tuple[dns.message.Message, bool]:
            nonlocal in_flight, peak
            in_flight += 1
            peak = max(peak, in_flight)
            await asyncio.sleep(0.005)
            in_flight -= 1
            return await super().exchange(query, address, timeout)

    owners = tuple(f"_acme-challenge.m{i}.certv6.test." for i in range(20))
    live = Authority({ZONE: ZONE_TEXT})
    publish_all(live, owners)
    transport = Slow(dict.fromkeys(ADDRESSES, live))
    run(make_plan(owners), transport, FakeClock(), max_concurrency=5)
    assert peak == 5


def test_one_round_reports_without_waiting() -> None:
    live = Authority({ZONE: ZONE_TEXT})
    publish_all(live, OWNERS[:2])
    transport = MemoryTransport({ADDRESSES[0]: live, ADDRESSES[1]: None})
    settings = PropagationSettings()
    report = asyncio.run(
        one_round(make_plan(servers=SERVERS[:2]), settings, FakeClock(), transport)
    )
    assert not report.visible
    assert report.rounds == 1
    assert [(s.status, s.values_seen) for s in report.servers] == [
        ("waiting", 2),
        ("unreachable", 0),
    ]
