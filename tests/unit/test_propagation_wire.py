"""The whole checker against fake servers that speak DNS on [::1] (UDP and TCP).

A fake resolver answers the discovery (CNAME, SOA walk, NS, AAAA/A); one fake
authoritative server per planned address answers the polling. No network beyond ::1.
"""

from __future__ import annotations

import ipaddress
import threading
import time

import dns.name
import dns.zone
import pytest
from test_propagation_fakes import World, world, zone_text

from certv6.errors import DnsError, NoReachableNameserver, PropagationTimeout
from certv6.model import TxtRecord
from certv6.propagation import (
    PropagationSettings,
    Report,
    UnverifiableNameserver,
    check_once,
    nat64,
    render_status_line,
    wait_until_visible,
)

PARENT = zone_text(
    1,
    """@ NS ns.test.
ns AAAA 2001:db8::100
certv6 NS ns1.certv6.test.
certv6 NS ns2.certv6.test.
ns1.certv6 AAAA 2001:db8::1
ns2.certv6 AAAA 2001:db8::2
challenges NS ns1.challenges.test.
ns1.challenges AAAA 2001:db8::11
aonly NS ns1.aonly.test.
aonly NS ns2.aonly.test.""",
)
CERTV6 = zone_text(
    5,
    """@ NS ns1
@ NS ns2
ns1 AAAA 2001:db8::1
ns2 AAAA 2001:db8::2
_acme-challenge.alias CNAME www.challenges.test.
_acme-challenge.loop CNAME loop2.certv6.test.
loop2 CNAME _acme-challenge.loop.certv6.test.""",
)
CHALLENGES = zone_text(7, "@ NS ns1\nns1 AAAA 2001:db8::11")
AONLY = zone_text(3, "@ NS ns1\n@ NS ns2\nns1 AAAA 2001:db8::21\nns2 A 192.0.2.53")
ZONES = {
    "test.": PARENT,
    "certv6.test.": CERTV6,
    "challenges.test.": CHALLENGES,
    "aonly.test.": AONLY,
}
SERVES = {
    "2001:db8::100": ("test.",),
    "2001:db8::1": ("certv6.test.",),
    "2001:db8::2": ("certv6.test.",),
    "2001:db8::11": ("challenges.test.",),
}
WWW = "_acme-challenge.www.certv6.test."
FAST = PropagationSettings(timeout=5.0, query_timeout=0.5)
NAT64_PREFIX = "2001:db8:64::/96"
NS2_AONLY_VIA_NAT64 = str(
    nat64.synthesize(ipaddress.IPv4Address("192.0.2.53"), nat64.parse_prefix(NAT64_PREFIX))
)


def records(owner: str, *values: str) -> list[TxtRecord]:
    return [TxtRecord(owner, value) for value in values]


def wait(
    w: World, recs: list[TxtRecord], settings: PropagationSettings = FAST, **kwargs: object
) -> Report:
    return wait_until_visible(recs, settings, dns=w.dns, transport=w.transport, **kwargs)  # type: ignore[arg-type]


def test_wildcard_and_base_values_at_one_owner_and_a_lagging_secondary() -> None:
    with world(ZONES, SERVES) as w:
        w.publish(WWW, "wild", "base", at=("2001:db8::1",))
        timer = threading.Timer(0.3, lambda: w.publish(WWW, "wild", "base", at=("2001:db8::2",)))
        timer.start()
        lines: list[str] = []
        report = wait(
            w, records(WWW, "wild", "base"), progress=lambda r: lines.append(render_status_line(r))
        )
        timer.join()
    assert report.visible
    assert "lagging: ns2.certv6.test [2001:db8::2] (serial 5 < 6)" in lines[0]
    assert [s.values_seen for s in report.servers] == [2, 2]
    assert report.delegations[0].matches is True


def test_cname_into_another_zone_is_checked_there() -> None:
    with world(ZONES, SERVES) as w:
        w.publish("www.challenges.test.", "v")
        report = wait(w, records("_acme-challenge.alias.certv6.test.", "v"))
        asked = {address for address, _ in w.transport.asked}
    assert report.visible
    assert report.targets[0].chain == ("_acme-challenge.alias.certv6.test.", "www.challenges.test.")
    assert [s.zone for s in report.servers] == ["challenges.test."]
    assert "2001:db8::1" not in asked


def test_cname_loop_is_a_clear_dns_error() -> None:
    with world(ZONES, SERVES) as w, pytest.raises(DnsError, match="CNAME loop"):
        wait(w, records("_acme-challenge.loop.certv6.test.", "v"))


def test_answers_without_aa_are_not_counted() -> None:
    options: dict[str, dict[str, object]] = {"2001:db8::2": {"authoritative": False}}
    with world(ZONES, SERVES, options=options) as w:
        w.publish(WWW, "v")
        with pytest.raises(PropagationTimeout) as caught:
            wait(w, records(WWW, "v"), PropagationSettings(timeout=0.3, query_timeout=0.5))
    report = caught.value.report
    assert isinstance(report, Report)
    lame = report.servers[1]
    assert (lame.status, lame.authoritative, lame.values_seen) == ("waiting", False, 0)
    assert "not authoritative (AA=0)" in str(caught.value)


def test_truncated_udp_answers_are_retried_over_tcp() -> None:
    options: dict[str, dict[str, object]] = {"2001:db8::2": {"truncate_udp": True}}
    with world(ZONES, SERVES, options=options) as w:
        w.publish(WWW, "v")
        report = wait(w, records(WWW, "v"))
        tcp_queries = [q for q in w.authority("2001:db8::2").queries if q[2]]
    assert report.visible
    assert report.servers[1].tcp
    assert (WWW, "TXT", True) in tcp_queries


def test_a_silent_address_costs_about_one_query_timeout_per_round() -> None:
    serves = {**SERVES, "2001:db8::3": ("certv6.test.",)}
    zones = {**ZONES, "certv6.test.": CERTV6 + "@ NS ns3\nns3 AAAA 2001:db8::3\n"}
    owners = [f"_acme-challenge.n{i}.certv6.test." for i in range(20)]
    timeout = 0.5
    with world(zones, serves, silent=("2001:db8::3",)) as w:
        for owner in owners:
            w.publish(owner, "v")
        recs = [TxtRecord(owner, "v") for owner in owners]
        settings = PropagationSettings(query_timeout=timeout, timeout=5.0, unverified_grace=0.0)
        started = time.monotonic()
        report = check_once(recs, settings, dns=w.dns, transport=w.transport)
        one_round = time.monotonic() - started  # includes discovery of 20 names
        waited = wait(w, recs, settings)
    assert one_round < 2.5 * timeout
    assert [s.status for s in report.servers] == ["visible", "visible", "unreachable"]
    assert waited.visible
    # The silent address is asked its SOA (and, once, the NS set), never the 20 TXT names.
    asked = {qname for address, qname in w.transport.asked if address == "2001:db8::3"}
    assert asked == {"certv6.test."}


def test_nat64_prefix_reaches_an_ipv4_only_nameserver() -> None:
    serves = {"2001:db8::21": ("aonly.test.",), NS2_AONLY_VIA_NAT64: ("aonly.test.",)}
    owner = "_acme-challenge.aonly.test."
    settings = PropagationSettings(timeout=5.0, query_timeout=0.5, nat64_prefix=NAT64_PREFIX)
    with world(ZONES, serves) as w:
        w.publish(owner, "v")
        report = wait(w, records(owner, "v"), settings)
    assert report.visible
    via = report.servers[1]
    assert (via.reach, via.address, via.ipv4) == ("nat64", NS2_AONLY_VIA_NAT64, "192.0.2.53")
    assert report.nat64_prefix == NAT64_PREFIX


def test_rfc7050_discovery_through_the_resolver() -> None:
    serves = {"2001:db8::21": ("aonly.test.",), NS2_AONLY_VIA_NAT64: ("aonly.test.",)}
    arpa = zone_text(
        1, "@ NS ns\nns AAAA 2001:db8::99\n@ AAAA 2001:db8:64::c000:aa\n@ AAAA 2001:db8:64::c000:ab"
    )
    owner = "_acme-challenge.aonly.test."
    with world(ZONES, serves, resolver_zones={**ZONES, "ipv4only.arpa.": arpa}) as w:
        w.publish(owner, "v")
        report = wait(w, records(owner, "v"))
    assert report.nat64_prefix == NAT64_PREFIX
    assert report.servers[1].reach == "nat64"


def test_aaaa_synthesized_by_dns64_is_reported_as_nat64() -> None:
    # Behind DNS64 the resolver gives ns2.aonly.test an AAAA inside the NAT64 prefix.
    dns64 = AONLY.replace("ns2 A 192.0.2.53", f"ns2 AAAA {NS2_AONLY_VIA_NAT64}")
    arpa = zone_text(1, "@ NS ns\nns AAAA 2001:db8::99\n@ AAAA 2001:db8:64::c000:aa")
    serves = {"2001:db8::21": ("aonly.test.",), NS2_AONLY_VIA_NAT64: ("aonly.test.",)}
    resolver_zones = {**ZONES, "aonly.test.": dns64, "ipv4only.arpa.": arpa}
    owner = "_acme-challenge.aonly.test."
    with world(ZONES, serves, resolver_zones=resolver_zones) as w:
        w.publish(owner, "v")
        report = wait(w, records(owner, "v"))
    via = report.servers[1]
    assert (via.reach, via.address, via.ipv4) == ("nat64", NS2_AONLY_VIA_NAT64, "192.0.2.53")
    assert report.warnings == ()


def test_ipv4_only_nameserver_without_nat64_is_unverifiable() -> None:
    serves = {"2001:db8::21": ("aonly.test.",)}
    owner = "_acme-challenge.aonly.test."
    with world(ZONES, serves) as w:
        w.publish(owner, "v")
        report = wait(w, records(owner, "v"))
        with pytest.raises(
            UnverifiableNameserver, match=r"ns2.aonly.test \[192.0.2.53\]"
        ) as caught:
            wait(w, records(owner, "v"), PropagationSettings(policy="strict"))
    assert report.visible
    assert report.servers[1].status == "unverifiable"
    assert any("192.0.2.53" in warning for warning in report.warnings)
    assert isinstance(caught.value, DnsError)
    assert isinstance(caught.value.report, Report)


def test_a_zone_with_nothing_to_ask_raises() -> None:
    zones = {**ZONES, "aonly.test.": zone_text(3, "@ NS ns2\nns2 A 192.0.2.53")}
    with world(zones, {}) as w, pytest.raises(NoReachableNameserver, match=r"aonly\.test"):
        wait(
            w,
            records("_acme-challenge.aonly.test.", "v"),
            PropagationSettings(discover_nat64=False),
        )


def test_parent_and_child_nameserver_sets_that_disagree_are_reported() -> None:
    parent = PARENT + "certv6 NS old.certv6.test.\n"
    zones = {**ZONES, "test.": parent}
    with world(zones, SERVES) as w:
        w.publish(WWW, "v")
        report = wait(w, records(WWW, "v"))
    check = report.delegations[0]
    assert check.matches is False
    assert "old.certv6.test." in (check.parent_nameservers or ())
    assert any("delegation of certv6.test." in warning for warning in report.warnings)


def test_the_ns_set_comes_from_the_zones_own_servers_not_the_resolvers_cache() -> None:
    # ns3 was just added to certv6.test and to its delegation; the resolver still has
    # the NS RRset from before (cached). The zone's own servers know better.
    added = CERTV6.replace("@ NS ns2\n", "@ NS ns2\n@ NS ns3\nns3 AAAA 2001:db8::3\n")
    zones = {
        **ZONES,
        "certv6.test.": added,
        "test.": PARENT + "certv6 NS ns3.certv6.test.\nns3.certv6 AAAA 2001:db8::3\n",
    }
    stale = {**zones, "certv6.test.": CERTV6 + "ns3 AAAA 2001:db8::3\n"}
    serves = {**SERVES, "2001:db8::3": ("certv6.test.",)}
    with world(zones, serves, resolver_zones=stale) as w:
        w.publish(WWW, "v", at=("2001:db8::1", "2001:db8::2"))
        report = check_once(records(WWW, "v"), FAST, dns=w.dns, transport=w.transport)
    assert [(s.nameservers, s.status) for s in report.servers] == [
        (("ns1.certv6.test.",), "visible"),
        (("ns2.certv6.test.",), "visible"),
        (("ns3.certv6.test.",), "lagging"),  # asked: it has not got the change yet
    ]
    assert report.delegations[0].matches is True  # no mismatch that no longer exists
    assert any("out of date" in warning for warning in report.warnings)


def test_where_the_zones_servers_disagree_the_newest_serial_wins() -> None:
    # The primary dropped ns2 (serial 6); ns2 still serves serial 5, which lists it, and so
    # does the resolver's cache.
    newer = zone_text(6, "@ NS ns1\nns1 AAAA 2001:db8::1\nns2 AAAA 2001:db8::2")
    with world({**ZONES, "certv6.test.": newer}, SERVES, resolver_zones=ZONES) as w:
        old = dns.zone.from_text(CERTV6, "certv6.test.", relativize=False)
        w.authority("2001:db8::2").zones[dns.name.from_text("certv6.test.")] = old
        w.publish(WWW, "v", at=("2001:db8::1",))
        report = check_once(records(WWW, "v"), FAST, dns=w.dns, transport=w.transport)
    assert [s.nameservers for s in report.servers] == [("ns1.certv6.test.",)]
    assert report.visible
