"""The polling loop with a FakeClock and in-memory servers: schedule, deadline, fan-out."""

from __future__ import annotations

import asyncio
import itertools

import dns.flags
import dns.message
import dns.rdatatype
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
    # Rounds at 0, 0.1 and 0.3 s; between them the watch asks the laggard at 0.1, 0.3 and
    # 0.7 s, and there sees its serial move (the change came at the third round): the
    # fourth round runs at once.
    assert clock.sleeps == pytest.approx([0.1, 0.2, 0.4])
    assert [r.visible for r in lines] == [False, False, False, True]
    assert lines[0].lagging[0].address == ADDRESSES[1]


def test_deadline_raises_with_the_report_naming_the_laggard() -> None:
    fresh, lagging = Authority({ZONE: ZONE_TEXT}), Authority({ZONE: ZONE_TEXT})
    publish_all(fresh)
    transport = MemoryTransport({ADDRESSES[0]: fresh, ADDRESSES[1]: lagging})
    clock = FakeClock()
    with pytest.raises(PropagationTimeout) as caught:
        run(make_plan(servers=SERVERS[:2]), transport, clock, timeout=2.0)
    # Rounds at 0, 0.1, 0.3, 0.7, 1.5 and the deadline's at 2.0 s; the laggard's SOA is
    # asked by the watch in between (at 0.1, 0.3, 0.7 and 1.5 s).
    assert sum(clock.sleeps) == pytest.approx(2.0)
    assert "ns2.certv6.test [2001:db8::2]" in str(caught.value)
    assert "serial 5 < 8" in str(caught.value)
    report = caught.value.report
    assert isinstance(report, Report)
    assert not report.visible
    assert report.rounds == 6
    assert [s.status for s in report.servers] == ["visible", "lagging"]
    assert "raise propagation_timeout" in caught.value.hint


class CatchesUpAt(MemoryTransport):
    """The lagging server applies the change (serial and TXT together) at ``when``."""

    def __init__(self, servers: dict[str, Authority | None], clock: FakeClock, when: float) -> None:
        super().__init__(servers, clock)
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


def soa_times(transport: MemoryTransport, address: str) -> list[float]:
    return [
        when for where, _, qtype, when in transport.timed if where == address and qtype == "SOA"
    ]


@pytest.mark.parametrize(
    ("catch_up", "seen_at"), [(0.05, 0.1), (0.33, 0.7), (2.57, 3.5), (6.91, 7.5)]
)
def test_a_catching_up_secondary_is_seen_at_the_next_watch_query(
    catch_up: float, seen_at: float
) -> None:
    fresh, lagging = Authority({ZONE: ZONE_TEXT}), Authority({ZONE: ZONE_TEXT})
    publish_all(fresh)
    clock = FakeClock()
    start = clock.monotonic()
    transport = CatchesUpAt({ADDRESSES[0]: fresh, ADDRESSES[1]: lagging}, clock, catch_up)
    report = run(make_plan(servers=SERVERS[:2]), transport, clock)
    assert report.visible
    # Watch queries 0.1, 0.2, 0.4, 0.8 s apart, then every poll_interval (1 s).
    assert clock.monotonic() - start == pytest.approx(seen_at)
    # Between rounds only the laggard's SOA is asked; the up-to-date server is left alone.
    fresh_asked = [(q, t) for address, q, t in transport.asked if address == ADDRESSES[0]]
    assert set(fresh_asked) == {(ZONE, "SOA"), *((owner, "TXT") for owner in OWNERS)}
    assert len([e for e in fresh_asked if e[1] == "SOA"]) == report.rounds


def test_a_lagging_server_is_asked_at_most_four_times_a_second_and_ever_less_often() -> None:
    # Real servers rate-limit identical answers (BIND's and Knot's RRL, dnsdist): a few a
    # second is the most a watched server gets, and it backs off the longer it lags.
    fresh, lagging = Authority({ZONE: ZONE_TEXT}), Authority({ZONE: ZONE_TEXT})
    publish_all(fresh)
    clock = FakeClock()
    start = clock.monotonic()
    transport = MemoryTransport({ADDRESSES[0]: fresh, ADDRESSES[1]: lagging}, clock=clock)
    with pytest.raises(PropagationTimeout):
        run(make_plan(servers=SERVERS[:2]), transport, clock, timeout=30.0)
    times = [when - start for when in soa_times(transport, ADDRESSES[1])]
    busiest = max(sum(1 for t in times if s <= t < s + 1.0) for s in times)
    assert busiest == 4
    assert len([t for t in times if t >= 10.0]) <= 21  # once a second once it backed off
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert gaps[:4] == pytest.approx([0.1, 0.2, 0.4, 0.8])
    assert min(gaps) == pytest.approx(0.1)


def test_a_watch_query_that_gets_no_answer_counts_as_not_moved() -> None:
    # An RRL drop (no answer) must neither end the wait nor make the server "unreachable".
    fresh, lagging = Authority({ZONE: ZONE_TEXT}), Authority({ZONE: ZONE_TEXT})
    publish_all(fresh)
    clock = FakeClock()

    class DropsWatchQueries(CatchesUpAt):
        rounds_seen = False

        async def exchange(
            self, query: dns.message.Message, address: str, timeout: float
        ) -> tuple[dns.message.Message, bool]:
            watched = address == ADDRESSES[1] and self.clock.monotonic() - 1000.0 < 1.0
            if watched and query.question[0].rdtype == dns.rdatatype.SOA and self.rounds_seen:
                raise TimeoutError
            self.rounds_seen = True
            return await super().exchange(query, address, timeout)

    transport = DropsWatchQueries({ADDRESSES[0]: fresh, ADDRESSES[1]: lagging}, clock, 0.5)
    report = run(make_plan(servers=SERVERS[:2]), transport, clock)
    assert report.visible
    assert [s.status for s in report.servers] == ["visible", "visible"]
    assert clock.monotonic() - 1000.0 == pytest.approx(1.5)


def test_a_server_whose_serial_never_moves_is_not_watched() -> None:
    # Some providers keep a fixed serial; their servers are WAITING, not LAGGING.
    fresh, stale = Authority({ZONE: ZONE_TEXT}), Authority({ZONE: ZONE_TEXT})
    for owner in OWNERS:
        fresh.set_txt(owner, f"value-{owner}", bump=False)
    transport = MemoryTransport({ADDRESSES[0]: fresh, ADDRESSES[1]: stale})
    clock = FakeClock()
    with pytest.raises(PropagationTimeout) as caught:
        run(make_plan(servers=SERVERS[:2]), transport, clock, timeout=2.0)
    assert clock.sleeps == pytest.approx([0.1, 0.2, 0.4, 0.8, 0.5])
    # Both serve serial 5; one has the values, the other never will by transfer.
    assert "serial 5 as on servers that have the values" in str(caught.value)
    assert "changed without a new serial" in str(caught.value)
    assert "SOA-EDIT-DNSUPDATE" in caught.value.hint
    assert "cannot help" in caught.value.hint and "raise propagation" not in caught.value.hint


def test_a_dead_address_is_asked_only_its_soa_and_given_up_after_two_rounds() -> None:
    live = Authority({ZONE: ZONE_TEXT})
    publish_all(live)
    transport = MemoryTransport({ADDRESSES[0]: live, ADDRESSES[1]: live, ADDRESSES[2]: None})
    report = run(make_plan(), transport, FakeClock(), unverified_grace=0.0)
    assert report.visible
    assert report.rounds == 2
    dead = [(qname, qtype) for address, qname, qtype in transport.asked if address == ADDRESSES[2]]
    assert dead == [(ZONE, "SOA"), (ZONE, "SOA")]
    assert [s.status for s in report.servers] == ["visible", "visible", "unreachable"]
    assert any("ns3.certv6.test [2001:db8::3] never answered" in w for w in report.warnings)


def test_a_server_nobody_could_ask_is_given_a_grace_and_named_in_the_outcome() -> None:
    live, late = Authority({ZONE: ZONE_TEXT}), Authority({ZONE: ZONE_TEXT})
    publish_all(live)
    clock = FakeClock()
    transport = CatchesUpAt(
        {ADDRESSES[0]: live, ADDRESSES[1]: late, ADDRESSES[2]: None}, clock, 6.91
    )
    report = run(make_plan(), transport, clock)
    # ns2 needed 7.5 s; ns3 never answered, so it gets as long again: visible at 15 s.
    assert report.visible
    assert report.elapsed == pytest.approx(15.0)
    assert report.unverified_wait == pytest.approx(7.5)
    assert report.outcome() == (
        "visible at 2 of 3 authoritative addresses; not verified: "
        "ns3.certv6.test [2001:db8::3] (never answered: timeout); waited 7.5 s more for it"
    )
    quick = run(make_plan(), MemoryTransport({**transport.authorities}), FakeClock())
    assert quick.unverified_wait == pytest.approx(5.0)  # the floor: unverified_grace


def test_the_deadline_ends_the_grace_without_failing() -> None:
    live = Authority({ZONE: ZONE_TEXT})
    publish_all(live)
    transport = MemoryTransport({ADDRESSES[0]: live, ADDRESSES[2]: None})
    servers = (SERVERS[0], SERVERS[2])
    report = run(make_plan(servers=servers), transport, FakeClock(), timeout=2.0)
    assert report.visible and report.elapsed == pytest.approx(2.0)


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
    # The late server lagged by serial: the watch saw it move, and the round asked it the
    # missing owners with that SOA answer (not asking it again).
    after_first = [entry for entry in transport.asked if entry[0] == ADDRESSES[1]][4:]
    assert after_first == [
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
