"""UdpTcpTransport on real sockets on [::1]: a socket per query, matching, TC, clean-up."""

from __future__ import annotations

import asyncio
import gc
import os
import socket
from collections.abc import Callable, Iterator

import dns.edns
import dns.flags
import dns.message
import dns.rcode
import dns.rrset
import pytest

from certv6.model import Endpoint
from certv6.propagation.wire import UdpTcpTransport, ask, make_query
from certv6.providers.dnsserver import DnsListener
from fakes.udp import Reply, Responder, responders

OWNER = "_acme-challenge.www.certv6.test."


def answer_with_qname(query: dns.message.Message) -> list[dns.message.Message]:
    """An authoritative TXT answer whose value is the question, with NS and glue like BIND."""
    response = dns.message.make_response(query)
    response.flags |= dns.flags.AA
    name = query.question[0].name.to_text()
    response.answer.append(dns.rrset.from_text(name, 60, "IN", "TXT", f'"{name}"'))
    response.authority.append(
        dns.rrset.from_text("certv6.test.", 60, "IN", "NS", "ns1.certv6.test.", "ns2.certv6.test.")
    )
    response.additional.append(
        dns.rrset.from_text("ns1.certv6.test.", 60, "IN", "AAAA", "2001:db8::1")
    )
    return [response]


@pytest.fixture
def responder() -> Iterator[Callable[[Reply], Responder]]:
    yield from responders()


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def fds_before() -> int:
    # Earlier tests' unreferenced sockets close whenever the collector runs; on 3.13 that was
    # once in the middle of a test, which then counted 2 fds fewer after than before.
    gc.collect()
    return open_fds()


def test_every_query_has_its_own_source_port_and_gets_its_own_answer(
    responder: Callable[[Reply], Responder],
) -> None:
    server = responder(answer_with_qname)
    transport = UdpTcpTransport(server.port)
    owners = [f"_acme-challenge.n{i}.certv6.test." for i in range(200)]
    before = fds_before()

    async def all_at_once() -> list[tuple[str, frozenset[str]]]:
        answers = await asyncio.gather(
            *(ask(transport, "::1", owner, "TXT", 5.0) for owner in owners)
        )
        return [(owner, answer.texts) for owner, answer in zip(owners, answers, strict=True)]

    for owner, texts in asyncio.run(all_at_once()):
        assert texts == {owner}
    # 200 queries in flight together: 200 sockets, 200 source ports (RFC 5452 section 9.2).
    assert len(server.peers) == len(owners)
    assert open_fds() == before


def test_an_answer_is_parsed_up_to_its_answer_section(
    responder: Callable[[Reply], Responder],
) -> None:
    # The NS set and glue BIND adds to every answer are not needed to judge a TXT or
    # SOA answer; parsing them was most of a round's CPU (issue #19).
    server = responder(answer_with_qname)
    query = make_query(OWNER, "TXT")
    response, tcp = asyncio.run(UdpTcpTransport(server.port).exchange(query, "::1", 5.0))
    (expected,) = answer_with_qname(query)
    assert not tcp
    assert response.answer == expected.answer
    assert response.rcode() == dns.rcode.NOERROR and response.flags & dns.flags.AA
    assert (response.authority, response.additional) == ([], [])
    assert response.time > 0


def referral(query: dns.message.Message) -> list[dns.message.Message]:
    """A parent's referral: no answer, the child's NS set in the authority section."""
    response = dns.message.make_response(query)
    response.authority.append(
        dns.rrset.from_text("certv6.test.", 60, "IN", "NS", "ns1.certv6.test.", "ns2.certv6.test.")
    )
    response.additional.append(
        dns.rrset.from_text("ns1.certv6.test.", 60, "IN", "AAAA", "2001:db8::1")
    )
    return [response]


@pytest.mark.parametrize(
    ("reply", "qname", "rdtype"),
    [
        (referral, "certv6.test.", "NS"),  # a referral: the NS set is the authority section
        (answer_with_qname, "certv6.test.", "NS"),  # NS questions: always everything
        (referral, OWNER, "TXT"),  # no answer records: the authority section may explain
    ],
)
def test_everything_is_parsed_where_the_other_sections_matter(
    responder: Callable[[Reply], Responder],
    reply: Callable[[dns.message.Message], list[dns.message.Message]],
    qname: str,
    rdtype: str,
) -> None:
    server = responder(reply)
    query = make_query(qname, rdtype)
    response, _ = asyncio.run(UdpTcpTransport(server.port).exchange(query, "::1", 5.0))
    (expected,) = reply(query)
    assert (response.answer, response.authority, response.additional) == (
        expected.answer,
        expected.authority,
        expected.additional,
    )


def test_a_stray_reply_with_the_same_id_is_ignored(
    responder: Callable[[Reply], Responder],
) -> None:
    def stray_first(query: dns.message.Message) -> list[dns.message.Message]:
        other = make_query("_acme-challenge.other.certv6.test.", "TXT")
        other.id = query.id
        return [*answer_with_qname(other), *answer_with_qname(query)]

    server = responder(stray_first)
    answer = asyncio.run(ask(UdpTcpTransport(server.port), "::1", OWNER, "TXT", 5.0))
    assert answer.texts == {OWNER}


def test_an_unanswered_query_times_out_and_leaves_no_socket_open(
    responder: Callable[[Reply], Responder],
) -> None:
    server = responder(lambda query: [])
    before = fds_before()
    answer = asyncio.run(ask(UdpTcpTransport(server.port), "::1", OWNER, "TXT", 0.2))
    assert answer.error == "timeout"
    assert open_fds() == before


def test_a_closed_port_is_reported_as_refused() -> None:
    closed = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    closed.bind(("::1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there now: the kernel answers with ICMP port unreachable
    answer = asyncio.run(ask(UdpTcpTransport(port), "::1", OWNER, "TXT", 2.0))
    assert answer.error == "connection refused (nothing listens on that port)"


def test_a_rate_limit_slip_is_retried_over_tcp() -> None:
    # RRL "slip": instead of the answer, an empty response with TC=1 over UDP; the client
    # is expected to ask again over TCP, which the rate limit leaves alone.
    asked: list[bool] = []

    def slip_over_udp(wire: bytes, over_tcp: bool) -> bytes:
        asked.append(over_tcp)
        query = dns.message.from_wire(wire)
        if not over_tcp:
            slip = dns.message.make_response(query)
            slip.flags |= dns.flags.TC
            return slip.to_wire()
        (response,) = answer_with_qname(query)
        return response.to_wire()

    listener = DnsListener(Endpoint("::1", 0), slip_over_udp)
    port = listener.start().port
    try:
        answer = asyncio.run(ask(UdpTcpTransport(port), "::1", OWNER, "TXT", 5.0))
    finally:
        listener.stop()
    assert answer.texts == {OWNER} and answer.tcp
    assert asked == [False, True]
