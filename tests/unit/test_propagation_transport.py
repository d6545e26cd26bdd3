"""UdpTcpTransport on real sockets on [::1]: shared sockets, matching, parsing, clean-up."""

from __future__ import annotations

import asyncio
import gc
import os
import socket
import threading
from collections.abc import Callable, Iterator

import dns.edns
import dns.flags
import dns.message
import dns.rcode
import dns.rrset
import pytest

from certv6.propagation.wire import QUERIES_PER_SOCKET, UdpTcpTransport, ask, make_query, parse_wire

OWNER = "_acme-challenge.www.certv6.test."
Reply = Callable[[dns.message.Message], list[dns.message.Message]]


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


class Responder:
    """A UDP server on [::1] that answers each query with what ``reply`` returns."""

    def __init__(self, reply: Reply) -> None:
        self.reply = reply
        self.sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        self.sock.bind(("::1", 0))
        self.port = self.sock.getsockname()[1]
        self.peers: set[tuple[str, int]] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        self.sock.settimeout(0.05)
        while not self._stop.is_set():
            try:
                wire, peer = self.sock.recvfrom(65535)
            except (TimeoutError, OSError):
                continue
            self.peers.add(peer[:2])
            for response in self.reply(dns.message.from_wire(wire)):
                self.sock.sendto(response.to_wire(), peer)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(1)
        self.sock.close()


@pytest.fixture
def responder() -> Iterator[Callable[[Reply], Responder]]:
    started: list[Responder] = []

    def start(reply: Reply) -> Responder:
        started.append(Responder(reply))
        return started[-1]

    yield start
    for running in started:
        running.close()


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def fds_before() -> int:
    # Earlier tests' unreferenced sockets close whenever the collector runs; on 3.13 that was
    # once in the middle of a test, which then counted 2 fds fewer after than before.
    gc.collect()
    return open_fds()


def test_parse_wire_keeps_the_answer_and_leaves_out_ns_and_glue() -> None:
    (response,) = answer_with_qname(make_query(OWNER, "TXT"))
    parsed = parse_wire(response.to_wire())
    assert parsed.answer == response.answer
    assert parsed.flags & dns.flags.AA
    assert parsed.rcode() == dns.rcode.NOERROR
    assert (parsed.authority, parsed.additional) == ([], [])


def test_parse_wire_keeps_a_negative_answer_whole() -> None:
    response = dns.message.make_response(make_query(OWNER, "TXT"))
    response.set_rcode(dns.rcode.NXDOMAIN)
    response.authority.append(
        dns.rrset.from_text(
            "certv6.test.", 60, "IN", "SOA", "ns1.certv6.test. h.certv6.test. 7 1 1 1 1"
        )
    )
    parsed = parse_wire(response.to_wire())
    assert parsed.rcode() == dns.rcode.NXDOMAIN
    assert parsed.authority == response.authority


def test_parse_wire_keeps_an_extended_rcode_from_the_opt_record() -> None:
    response = dns.message.make_response(make_query(OWNER, "TXT"))
    response.set_rcode(dns.rcode.BADCOOKIE)  # 23: the upper bits live in OPT
    assert parse_wire(response.to_wire()).rcode() == dns.rcode.BADCOOKIE


def test_concurrent_queries_share_a_few_sockets_and_each_gets_its_own_answer(
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
    # All 200 are handed a socket before the first one opens: 64 + 64 + 64 + 8.
    assert len(server.peers) == -(-len(owners) // QUERIES_PER_SOCKET)
    assert open_fds() == before


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
    assert answer.error == "connection refused"
