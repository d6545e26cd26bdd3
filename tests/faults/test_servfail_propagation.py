"""An authoritative server that answers SERVFAIL, seen by the propagation checker.

The lab cannot give a zone a second nameserver that answers SERVFAIL, so this
uses the propagation tests' wire-level fakes (tests/unit/test_propagation_fakes.py):
real DNS messages, a fake clock. The lab-level SERVFAIL case (the only nameserver
of a zone) is in test_dns_faults.py.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))

from test_propagation_fakes import Authority, MemoryTransport, zone_text

from certv6.errors import PropagationTimeout
from certv6.propagation import PropagationSettings, Report
from certv6.propagation.plan import Plan, Reach, Server, Target
from certv6.propagation.run import poll
from fakes.clock import FakeClock

ZONE = "certv6.test."
OWNER = "_acme-challenge.www.certv6.test."
VALUE = "value-www"
ZONE_TEXT = zone_text(5, "@ NS ns1\n@ NS ns2")
GOOD, FAILING = "2001:db8::1", "2001:db8::2"
PLAN = Plan(
    targets=(Target(OWNER, (OWNER,), ZONE, (VALUE,)),),
    servers=(
        Server(ZONE, ("ns1.certv6.test.",), GOOD, Reach.DIRECT),
        Server(ZONE, ("ns2.certv6.test.",), FAILING, Reach.DIRECT),
    ),
)


def servers() -> tuple[Authority, Authority]:
    good = Authority({ZONE: ZONE_TEXT})
    good.set_txt(OWNER, VALUE)
    failing = Authority({ZONE: ZONE_TEXT}, rcode="SERVFAIL")
    return good, failing


@pytest.mark.parametrize("policy", ["all-reachable", "strict"])
def test_servfail_never_counts_as_visible(policy: str) -> None:
    good, failing = servers()
    transport = MemoryTransport({GOOD: good, FAILING: failing})
    settings = PropagationSettings(timeout=5.0, policy=policy)
    with pytest.raises(PropagationTimeout) as caught:
        asyncio.run(poll(PLAN, settings, clock=FakeClock(), transport=transport))
    report = caught.value.report
    assert isinstance(report, Report)
    by_address = {server.address: server for server in report.servers}
    assert by_address[GOOD].status == "visible"
    assert by_address[FAILING].status == "waiting"
    assert by_address[FAILING].problem == "SERVFAIL"
    assert "2001:db8::2" in str(caught.value)


def test_a_server_that_recovers_from_servfail_is_waited_for() -> None:
    good, failing = servers()
    transport = MemoryTransport({GOOD: good, FAILING: failing})

    def progress(report: Report) -> None:
        if report.rounds == 3:  # the server recovers, with the value in place
            failing.rcode = None
            failing.set_txt(OWNER, VALUE)

    settings = PropagationSettings(timeout=30.0)
    report = asyncio.run(
        poll(PLAN, settings, clock=FakeClock(), transport=transport, progress=progress)
    )
    assert report.visible
    assert report.rounds == 4
    assert [server.status for server in report.servers] == ["visible", "visible"]
