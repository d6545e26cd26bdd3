"""The propagation checker against the real lab: BIND primary and lagging secondary, a CNAME
into another zone, an IPv4-only nameserver behind NAT64, and a blackholed nameserver.

The checker runs in the lab's IPv6-only client namespace, as certv6 would on the host.
"""

from __future__ import annotations

import json
import sys
import uuid
from typing import Any

import pytest

from lab import Lab

pytestmark = pytest.mark.lab

RUNNER = r"""
import json, sys, time
from certv6.dnsquery import Dns, DnsSettings
from certv6.errors import CertV6Error
from certv6.model import TxtRecord
from certv6.propagation import PropagationSettings, render_status_line, wait_until_visible

args = json.loads(sys.argv[1])
dns = Dns(DnsSettings(resolvers=(args["resolver"],)))
records = [TxtRecord(owner, value) for owner, value in args["records"]]
lines = []
out = {"lines": lines}
started = time.monotonic()
try:
    report = wait_until_visible(
        records, PropagationSettings(**args["settings"]), dns=dns,
        progress=lambda r: lines.append(render_status_line(r)),
    )
    out.update(outcome="visible", report=report.to_json())
except CertV6Error as error:
    report = getattr(error, "report", None)
    out.update(outcome=type(error).__name__, message=str(error), hint=error.hint,
               report=None if report is None else report.to_json())
out["elapsed"] = time.monotonic() - started
print(json.dumps(out))
"""


def check(
    lab: Lab, records: list[tuple[str, str]], *, resolver: str | None = None, **settings: Any
) -> dict[str, Any]:
    """Run wait_until_visible in the client namespace; its outcome, report and status lines."""
    args = {
        "resolver": f"[{resolver or lab.client_resolver}]:53",
        "records": records,
        "settings": {"timeout": 15.0, **settings},
    }
    done = lab.run_in_client([sys.executable, "-c", RUNNER, json.dumps(args)], timeout=60)
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))


def unique(label: str, zone: str = "certv6.test.") -> str:
    return f"_acme-challenge.{label}-{uuid.uuid4().hex[:8]}.{zone}"


def publish(lab: Lab, owner: str, value: str) -> None:
    lab.nsupdate(f"update add {owner} 30 TXT {value}")


def servers_by_name(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {server["nameservers"][0]: server for server in result["report"]["servers"]}


def test_waits_for_the_lagging_secondary(lab: Lab) -> None:
    owner, value = unique("lag"), uuid.uuid4().hex
    with lab.lagging(1.5):
        publish(lab, owner, value)
        result = check(lab, [(owner, value)])
    assert result["outcome"] == "visible"
    assert result["elapsed"] > 1.0
    assert f"lagging: ns2.certv6.test [{lab.secondary_addr}]" in result["lines"][0]
    assert {s["status"] for s in result["report"]["servers"]} == {"visible"}
    assert value in lab.txt_at(lab.secondary_addr, owner)
    assert result["report"]["delegations"][0]["matches"] is True


def test_deadline_names_the_lagging_secondary(lab: Lab) -> None:
    owner, value = unique("late"), uuid.uuid4().hex
    with lab.lagging(30):
        publish(lab, owner, value)
        result = check(lab, [(owner, value)], timeout=1.5)
    assert result["outcome"] == "PropagationTimeout"
    assert f"ns2.certv6.test [{lab.secondary_addr}] lagging" in result["message"]
    assert servers_by_name(result)["ns2.certv6.test."]["status"] == "lagging"
    assert servers_by_name(result)["ns1.certv6.test."]["status"] == "visible"


def test_cname_into_a_delegated_zone_is_checked_at_its_own_nameserver(lab: Lab) -> None:
    value = uuid.uuid4().hex
    lab.nsupdate(f"update add cname2.challenges.test. 30 TXT {value}")
    result = check(lab, [("_acme-challenge.cname2.certv6.test.", value)])
    assert result["outcome"] == "visible"
    assert result["report"]["records"][0]["chain"] == [
        "_acme-challenge.cname2.certv6.test.",
        "hop.certv6.test.",
        "cname2.challenges.test.",
    ]
    assert [(s["zone"], s["address"]) for s in result["report"]["servers"]] == [
        ("challenges.test.", lab.ns3_addr)
    ]


def test_cname_loop_is_refused(lab: Lab) -> None:
    result = check(lab, [("_acme-challenge.loop.certv6.test.", "x")])
    assert result["outcome"] == "DnsError"
    assert "CNAME loop" in result["message"]


def test_ipv4_only_nameserver_through_discovered_nat64(lab: Lab) -> None:
    owner, value = unique("v4", "aonly.test."), uuid.uuid4().hex
    publish(lab, owner, value)
    result = check(lab, [(owner, value)], resolver=lab.client_resolver_nat64)
    assert result["outcome"] == "visible"
    ns4 = servers_by_name(result)["ns4.aonly.test."]
    assert (ns4["reach"], ns4["address"], ns4["ipv4"]) == ("nat64", lab.nat64_ns_addr, "192.0.2.53")
    assert result["report"]["nat64_prefix"] == lab.nat64_prefix


def test_ipv4_only_nameserver_through_a_configured_prefix(lab: Lab) -> None:
    owner, value = unique("v4cfg", "aonly.test."), uuid.uuid4().hex
    publish(lab, owner, value)
    result = check(lab, [(owner, value)], nat64_prefix=lab.nat64_prefix)
    assert result["outcome"] == "visible"
    assert servers_by_name(result)["ns4.aonly.test."]["address"] == lab.nat64_ns_addr


def test_ipv4_only_nameserver_without_nat64_warns_or_fails_by_policy(lab: Lab) -> None:
    owner, value = unique("v4none", "aonly.test."), uuid.uuid4().hex
    publish(lab, owner, value)
    relaxed = check(lab, [(owner, value)])
    assert relaxed["outcome"] == "visible"
    assert servers_by_name(relaxed)["ns4.aonly.test."]["status"] == "unverifiable"
    assert any("192.0.2.53" in warning for warning in relaxed["report"]["warnings"])
    strict = check(lab, [(owner, value)], policy="strict")
    assert strict["outcome"] == "UnverifiableNameserver"
    assert "ns4.aonly.test [192.0.2.53]" in strict["message"]


def test_blackholed_nameserver_costs_a_timeout_per_round_and_is_reported(lab: Lab) -> None:
    owner, value = unique("bh", "partial.test."), uuid.uuid4().hex
    publish(lab, owner, value)
    result = check(lab, [(owner, value)], query_timeout=0.5, unverified_grace=0.0)
    assert result["outcome"] == "visible"
    dead = servers_by_name(result)["dead.partial.test."]
    assert (dead["address"], dead["status"]) == (lab.blackhole_addr, "unreachable")
    assert any("never answered" in warning for warning in result["report"]["warnings"])
    # two rounds, plus discovery, the NS-set check and start-up (no grace asked for)
    assert result["elapsed"] < 2 * 0.5 + 1.5
    graced = check(lab, [(owner, value)], query_timeout=0.5, unverified_grace=2.0)
    assert graced["outcome"] == "visible"
    assert graced["report"]["unverified_wait"] >= 2.0  # the CA may still ask it: wait a bit
    strict = check(lab, [(owner, value)], query_timeout=0.5, timeout=1.0, policy="strict")
    assert strict["outcome"] == "PropagationTimeout"
    assert "dead.partial.test" in strict["message"]
