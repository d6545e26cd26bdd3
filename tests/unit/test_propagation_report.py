"""Report building, the status line, the table and the JSON form."""

from __future__ import annotations

import json

from certv6.propagation import Report, render_status_line, render_table
from certv6.propagation.plan import Nameserver, Plan, Reach, Server, Target
from certv6.propagation.report import build_report
from certv6.propagation.state import (
    Answer,
    DelegationCheck,
    Probe,
    State,
    judge,
    observe,
)

ZONE = "certv6.test."
OWNER = "_acme-challenge.www.certv6.test."
NS1 = Server(ZONE, ("ns1.certv6.test.",), "fd00::53", Reach.DIRECT)
NS2 = Server(ZONE, ("ns2.certv6.test.",), "fd00::54", Reach.DIRECT)
NS3 = Server(ZONE, ("ns3.certv6.test.",), "fd00:64:ff9b::c000:235", Reach.NAT64, "192.0.2.53")
NS4 = Server(ZONE, ("ns4.certv6.test.",), "", Reach.UNVERIFIABLE, "198.51.100.4")
PLAN = Plan(
    targets=(Target(OWNER, (OWNER,), ZONE, ("base", "wild")),),
    servers=(NS1, NS2, NS3, NS4),
    nat64_prefix="fd00:64:ff9b::/96",
    nameservers=(
        Nameserver(ZONE, "ns1.certv6.test.", ("fd00::53",), ("192.0.2.1",)),
        # Behind DNS64, an IPv4-only nameserver has a synthesized AAAA besides its A.
        Nameserver(ZONE, "ns3.certv6.test.", ("fd00:64:ff9b::c000:235",), ("192.0.2.53",)),
    ),
)
SERVING = frozenset({"base", "wild"})


def report_after_one_round(elapsed: float = 1.23) -> Report:
    probes = [
        Probe(
            NS1,
            Answer("NOERROR", True, serial=6, rtt=0.002),
            ((OWNER, Answer("NOERROR", True, SERVING, rtt=0.002)),),
        ),
        Probe(
            NS2,
            Answer("NOERROR", True, serial=5, rtt=0.001),
            ((OWNER, Answer("NXDOMAIN", True, rtt=0.001)),),
        ),
        Probe(
            NS3,
            Answer("NOERROR", True, serial=6, rtt=0.004, tcp=True),
            ((OWNER, Answer("NOERROR", True, SERVING, rtt=0.004, tcp=True)),),
        ),
    ]
    state = observe(PLAN, State(), probes)
    checks = (
        DelegationCheck(
            ZONE,
            "test.",
            ("ns1.certv6.test.", "old.certv6.test."),
            ("ns1.certv6.test.", "ns2.certv6.test."),
        ),
    )
    return build_report(
        PLAN,
        state,
        judge(PLAN, state, strict=False),
        policy="all-reachable",
        elapsed=elapsed,
        delegations=checks,
    )


def test_status_line_names_the_laggard_with_serials() -> None:
    line = render_status_line(report_after_one_round())
    assert line == (
        "propagation: 2/4 addresses serve 2/2 values; "
        "lagging: ns2.certv6.test [fd00::54] (serial 5 < 6); "
        "unverifiable: ns4.certv6.test [198.51.100.4] — 1.2 s"
    )


def test_status_line_when_visible() -> None:
    state = observe(
        PLAN,
        State(),
        [
            Probe(
                server,
                Answer("NOERROR", True, serial=6),
                ((OWNER, Answer("NOERROR", True, SERVING)),),
            )
            for server in (NS1, NS2, NS3)
        ],
    )
    report = build_report(
        PLAN, state, judge(PLAN, state, strict=False), policy="all-reachable", elapsed=0.4
    )
    assert report.visible
    assert render_status_line(report).endswith("— visible after 0.4 s")


def test_table_has_one_row_per_address_and_the_findings() -> None:
    table = render_table(report_after_one_round())
    lines = table.splitlines()
    assert lines[0] == "zone certv6.test. (newest serial 6)"
    assert lines[1].split() == [
        "NAMESERVER",
        "ADDRESS",
        "REACHED",
        "STATUS",
        "SERIAL",
        "VALUES",
        "AA",
        "RESULT",
        "RTT",
    ]
    rows = {line.split()[0]: line for line in lines[2:6]}
    assert rows["ns2.certv6.test."].split()[2:8] == [
        "direct",
        "lagging",
        "5",
        "0/2",
        "yes",
        "NXDOMAIN",
    ]
    assert "fd00:64:ff9b::c000:235 (192.0.2.53)  nat64" in rows["ns3.certv6.test."]
    assert "(tcp)" in rows["ns3.certv6.test."]
    assert "198.51.100.4" in rows["ns4.certv6.test."]
    assert "unverifiable" in rows["ns4.certv6.test."]
    assert "NAT64 prefix: fd00:64:ff9b::/96" in lines
    assert "ns1.certv6.test. also has A 192.0.2.1 (not asked: same server assumed)" in lines
    # ns3's A is the address it was asked at, through NAT64: not "not asked".
    assert not any("ns3.certv6.test. also has A" in line for line in lines)
    assert any(line.startswith("warning: delegation of certv6.test. in test.") for line in lines)
    assert lines[-1] == "not visible after 1 rounds, 1.2 s (policy all-reachable)"


def test_json_is_serialisable_with_stable_keys() -> None:
    data = report_after_one_round().to_json()
    assert json.loads(json.dumps(data)) == data
    assert list(data) == [
        "version",
        "visible",
        "policy",
        "elapsed",
        "rounds",
        "records",
        "servers",
        "nameservers",
        "delegations",
        "nat64_prefix",
        "warnings",
        "unverified_wait",
    ]
    servers = data["servers"]
    assert isinstance(servers, list)
    assert list(servers[0]) == [
        "zone",
        "nameservers",
        "address",
        "ipv4",
        "reach",
        "status",
        "serial",
        "zone_serial",
        "values_seen",
        "values_expected",
        "missing",
        "authoritative",
        "rcode",
        "problem",
        "rtt",
        "tcp",
        "rounds_asked",
        "rounds_answered",
        "serial_unchanged",
        "stale",
    ]
    lagging = servers[1]
    assert lagging["status"] == "lagging"
    assert lagging["missing"] == [
        {"owner": OWNER, "value": "base"},
        {"owner": OWNER, "value": "wild"},
    ]
    nameservers = data["nameservers"]
    assert isinstance(nameservers, list)
    assert nameservers[1] == {
        "zone": ZONE,
        "name": "ns3.certv6.test.",
        "aaaa": ["fd00:64:ff9b::c000:235"],
        "a": ["192.0.2.53"],
    }
    unverifiable = servers[3]
    assert unverifiable["address"] is None
    assert unverifiable["authoritative"] is None
    assert data["delegations"] == [
        {
            "zone": ZONE,
            "parent": "test.",
            "parent_nameservers": ["ns1.certv6.test.", "old.certv6.test."],
            "child_nameservers": ["ns1.certv6.test.", "ns2.certv6.test."],
            "matches": False,
            "note": None,
        }
    ]


def test_summary_for_logs() -> None:
    assert report_after_one_round().summary() == (
        "2/4 addresses of 1 zone serve 2 values; 1.2 s, 1 rounds; 2 warnings"
    )
