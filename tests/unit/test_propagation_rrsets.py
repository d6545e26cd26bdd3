"""The checker on a replaced RRset (certv6 aaaa): new values served and old ones gone."""

from __future__ import annotations

import dns.flags
import dns.message
import dns.rrset

from certv6.model import RRsetChange
from certv6.propagation.plan import Plan, Reach, Server, Target
from certv6.propagation.render import describe_blocking, render_status_line
from certv6.propagation.report import build_report
from certv6.propagation.state import Answer, Probe, State, Status, judge, observe, stale
from certv6.propagation.wire import parse

ZONE = "example.org."
OWNER = "www.example.org."
OLD, NEW, OTHER = "2001:db8:1::1", "2001:db8:2::1", "2001:db8:99::1"
NS1 = Server(ZONE, ("ns1.example.org.",), "2001:db8::53", Reach.DIRECT)
NS2 = Server(ZONE, ("ns2.example.org.",), "2001:db8::54", Reach.DIRECT)
TARGET = Target(OWNER, (OWNER,), ZONE, (NEW,), rdtype="AAAA", absent=(OLD,))
PLAN = Plan(targets=(TARGET,), servers=(NS1, NS2))


def serving(server: Server, serial: int, *values: str) -> Probe:
    return Probe(
        server,
        Answer("NOERROR", True, serial=serial),
        ((OWNER, Answer("NOERROR", True, frozenset(values))),),
    )


def test_visible_only_where_the_old_value_is_gone() -> None:
    state = observe(PLAN, State(), [serving(NS1, 2, NEW, OTHER), serving(NS2, 1, OLD, NEW)])
    verdict = judge(PLAN, state, strict=False)
    assert verdict.statuses[NS1] is Status.VISIBLE  # someone else's OTHER is fine
    assert verdict.statuses[NS2] is Status.LAGGING and not verdict.visible
    assert stale(PLAN, state, NS2) == ((OWNER, OLD),)
    report = build_report(PLAN, state, verdict, policy="all-reachable", elapsed=0.5)
    assert report.servers[1].to_json()["stale"] == [{"owner": OWNER, "value": OLD}]
    assert report.to_json()["records"] == [
        {
            "owner": OWNER,
            "chain": [OWNER],
            "effective_owner": OWNER,
            "zone": ZONE,
            "type": "AAAA",
            "values": [NEW],
            "absent": [OLD],
        }
    ]
    assert "lagging: ns2.example.org [2001:db8::54] (serial 1 < 2)" in render_status_line(report)
    assert "0/1 values, still serves 2001:db8:1::1" not in describe_blocking(report)
    assert "1/1 values, still serves 2001:db8:1::1" in describe_blocking(report)
    later = observe(PLAN, state, [serving(NS2, 2, NEW)])
    assert judge(PLAN, later, strict=False).visible
    assert PLAN.rdtypes() == {OWNER: "AAAA"}


def test_a_waiting_server_says_what_it_still_serves() -> None:
    state = observe(PLAN, State(), [serving(NS1, 2, OLD, NEW), serving(NS2, 2, OLD, NEW)])
    report = build_report(
        PLAN, state, judge(PLAN, state, strict=False), policy="all-reachable", elapsed=0.1
    )
    assert [server.status for server in report.servers] == ["waiting", "waiting"]
    assert "1/1 values, still serves 2001:db8:1::1" in render_status_line(report)


def test_an_old_value_left_at_the_serial_of_an_updated_server_is_named_both_ways() -> None:
    # The same serial as a server without the old value: the zone changed without a new
    # serial (the secondary will never transfer it), and what it still serves is said.
    state = observe(PLAN, State(), [serving(NS1, 2, NEW), serving(NS2, 2, OLD, NEW)])
    report = build_report(
        PLAN, state, judge(PLAN, state, strict=False), policy="all-reachable", elapsed=0.1
    )
    assert report.servers[1].status == "waiting" and report.servers[1].serial_unchanged
    line = render_status_line(report)
    assert "the zone changed without a new serial, still serves 2001:db8:1::1" in line


def test_an_aaaa_answer_is_read_in_rfc5952_form() -> None:
    query = dns.message.make_query(OWNER, "AAAA")
    response = dns.message.make_response(query)
    response.flags |= dns.flags.AA
    response.answer.append(
        dns.rrset.from_text(OWNER, 300, "IN", "AAAA", "2001:0db8:0002:0000::0001", OLD)
    )
    answer = parse(dns.message.from_wire(response.to_wire()), OWNER, "AAAA", tcp=False)
    assert answer.texts == {NEW, OLD} and answer.authoritative and not answer.problem


def test_a_change_pools_into_one_target() -> None:
    change = RRsetChange(
        OWNER, "AAAA", 300, frozenset({OLD, OTHER}), frozenset({OLD}), frozenset({NEW})
    )
    assert change.result == {NEW, OTHER} and change.gone == {OLD}
