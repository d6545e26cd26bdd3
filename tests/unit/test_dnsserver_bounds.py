"""The standalone provider's DNS listener keeps its bounds (providers/dnslimits.py).

Each test sets one bound small and pushes past it on [::1]: worker threads stay
fixed under a flood, the queue drops what does not fit, TCP connections are
capped and closed when idle, answers per source are rate-limited with TC slips,
and nothing answered is bigger than it should be. The rate limit runs on a
FakeClock, so its arithmetic is exact.
"""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import pytest

from certv6.clock import SYSTEM_CLOCK, Clock
from certv6.dnsquery import Dns, DnsSettings
from certv6.model import Endpoint, TxtRecord
from certv6.providers import ProviderContext
from certv6.providers.dnslimits import Limits, RateLimiter, truncated
from certv6.providers.dnsserver import DnsListener
from certv6.providers.standalone import StandaloneProvider
from fakes.clock import FakeClock
from fakes.ports import free_port

APEX = "_acme-challenge.www.example.test."


def answer(wire: bytes, tcp: bool) -> bytes:
    query = dns.message.from_wire(wire)
    response = dns.message.make_response(query)
    return response.to_wire()


@pytest.fixture
def listen() -> Iterator[Callable[..., DnsListener]]:
    started: list[DnsListener] = []

    def start(
        handler: Callable[[bytes, bool], bytes | None] = answer,
        clock: Clock = SYSTEM_CLOCK,
        **limits: Any,
    ) -> DnsListener:
        listener = DnsListener(Endpoint("::1", 0), handler, limits=Limits(**limits), clock=clock)
        listener.start()
        started.append(listener)
        return listener

    yield start
    for listener in started:
        listener.stop()


def query_wire(qid: int, name: str = APEX) -> bytes:
    query = dns.message.make_query(name, "TXT")
    query.id = qid
    return query.to_wire()


def collect(sock: socket.socket, quiet: float = 0.5) -> list[bytes]:
    """Every datagram that arrives until none has for ``quiet`` seconds (bounded)."""
    got: list[bytes] = []
    sock.settimeout(quiet)
    for _ in range(10_000):
        try:
            got.append(sock.recv(65535))
        except TimeoutError:
            break
    return got


def wait_for(condition: Callable[[], bool]) -> None:
    done = threading.Event()
    for _ in range(200):
        if condition():
            return
        done.wait(0.025)
    raise AssertionError("condition not reached within 5 s")


def dns_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("certv6-dns")]


def test_a_flood_costs_dropped_queries_not_threads(listen: Callable[..., DnsListener]) -> None:
    release = threading.Event()

    def slow(wire: bytes, tcp: bool) -> bytes:
        release.wait(10)
        return answer(wire, tcp)

    before = len(dns_threads())
    listener = listen(slow, udp_workers=2, udp_queue=3, burst=1000)
    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as sock:
        for qid in range(40):
            sock.sendto(query_wire(qid), ("::1", listener.endpoint.port))
        wait_for(lambda: listener.counters.received == 40)
        # one receiver, two workers, one TCP acceptor: no thread per datagram
        assert len(dns_threads()) - before == 4
        release.set()
        answers = collect(sock)
    # At most two in the workers' hands and three queued; the rest dropped at once
    # (how many the workers had taken before the queue filled depends on the scheduler).
    assert 3 <= len(answers) <= 5
    assert listener.counters.queue_dropped == 40 - len(answers)


def test_tcp_connections_are_capped(listen: Callable[..., DnsListener]) -> None:
    listener = listen(tcp_connections=2, tcp_idle=30)
    address = ("::1", listener.endpoint.port)
    first = socket.create_connection(address, timeout=5)
    second = socket.create_connection(address, timeout=5)
    try:
        wait_for(lambda: threading.active_count() > 0 and tcp_conversations() == 2)
        with socket.create_connection(address, timeout=5) as third:
            assert third.recv(2) == b""  # closed at once: over the cap
        assert listener.counters.tcp_refused == 1
        assert ask_tcp(first) == dns.rcode.NOERROR  # the two admitted ones still work
    finally:
        second.close()
    wait_for(lambda: tcp_conversations() == 1)
    with socket.create_connection(address, timeout=5) as again:  # a slot came free
        assert ask_tcp(again) == dns.rcode.NOERROR
    first.close()


def tcp_conversations() -> int:
    return sum(1 for name in dns_threads() if name == "certv6-dns-tcp-conn")


def ask_tcp(sock: socket.socket) -> int:
    wire = query_wire(7)
    sock.sendall(struct.pack("!H", len(wire)) + wire)
    length = struct.unpack("!H", sock.recv(2))[0]
    data = b""
    while len(data) < length:
        data += sock.recv(length - len(data))
    return dns.message.from_wire(data).rcode()


def test_an_idle_tcp_connection_is_closed(listen: Callable[..., DnsListener]) -> None:
    listener = listen(tcp_idle=0.2)
    with socket.create_connection(("::1", listener.endpoint.port), timeout=5) as sock:
        sock.sendall(b"\x00")  # half a length prefix, then nothing
        assert sock.recv(2) == b""  # the server hung up (well before this 5 s timeout)


def test_a_connection_cannot_outlive_its_lifetime(listen: Callable[..., DnsListener]) -> None:
    clock = FakeClock()
    listener = listen(clock=clock, tcp_idle=30, tcp_lifetime=10)
    with socket.create_connection(("::1", listener.endpoint.port), timeout=5) as sock:
        assert ask_tcp(sock) == dns.rcode.NOERROR
        clock.advance(11)  # a slow sender, still well inside the idle limit
        wire = query_wire(8)
        sock.sendall(struct.pack("!H", len(wire)) + wire)
        assert hung_up(sock)


def hung_up(sock: socket.socket) -> bool:
    try:
        return sock.recv(2) == b""
    except ConnectionResetError:  # closed with our query unread
        return True


def test_answers_per_source_are_rate_limited_with_truncated_slips(
    listen: Callable[..., DnsListener],
) -> None:
    clock = FakeClock()  # frozen: no tokens come back until the test advances it
    listener = listen(clock=clock, rate=10, burst=5, slip=2)
    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as sock:
        for qid in range(20):
            sock.sendto(query_wire(qid), ("::1", listener.endpoint.port))
        replies = [dns.message.from_wire(data) for data in collect(sock)]
        full = [r for r in replies if not r.flags & dns.flags.TC]
        slips = [r for r in replies if r.flags & dns.flags.TC]
        assert len(full) == 5  # the burst
        assert len(slips) == 7  # every second one of the 15 over the limit: TC, empty
        assert all(not r.answer and r.question[0].name.to_text() == APEX for r in slips)
        assert listener.counters.rate_dropped == 8
        clock.advance(0.35)  # three and a half tokens back at 10 a second
        for qid in range(20, 30):
            sock.sendto(query_wire(qid), ("::1", listener.endpoint.port))
        later = [dns.message.from_wire(data) for data in collect(sock)]
        assert sum(1 for r in later if not r.flags & dns.flags.TC) == 3


def test_the_rate_limit_counts_per_prefix() -> None:
    clock = FakeClock()
    limiter = RateLimiter(Limits(rate=1, burst=1, prefix=56, slip=0), clock)
    assert limiter.verdict("2001:db8:0:1::1") == "answer"
    assert limiter.verdict("2001:db8:0:2::53") == "drop"  # the same /56
    assert limiter.verdict("2001:db8:1:1::1") == "answer"  # another site
    assert limiter.verdict("::ffff:192.0.2.1") == "answer"  # IPv4 via [::]: per /24
    assert limiter.verdict("::ffff:198.51.100.1") == "answer"


def test_a_slip_is_never_bigger_than_the_query() -> None:
    wire = query_wire(99)
    slip = truncated(wire)
    assert slip is not None and len(slip) <= len(wire)
    with_edns = dns.message.make_query(APEX, "TXT", use_edns=0, payload=4096).to_wire()
    assert len(truncated(with_edns) or b"") < len(with_edns)  # the OPT record is not echoed
    parsed = dns.message.from_wire(slip)
    assert parsed.id == 99 and parsed.flags & dns.flags.TC and parsed.flags & dns.flags.QR
    assert truncated(b"\x00\x01") is None
    assert truncated(slip) is None  # a response: never answered


# --- what the authority answers, through the provider -----------------------------------------


@pytest.fixture
def standalone(tmp_path: Path) -> Iterator[StandaloneProvider]:
    context = ProviderContext(
        name="standalone",
        options={"listen": f"[::1]:{free_port()}", "nameservers": ["ns.example.test."]},
        dns=Dns(DnsSettings(resolvers=("[::1]:9",))),
        state_dir=tmp_path,
    )
    provider = StandaloneProvider(context)
    provider.preflight()
    provider.present([TxtRecord(APEX, f"{i:02d}" + "v" * 41) for i in range(30)])
    yield provider
    provider.close()


def ask(
    provider: StandaloneProvider, qname: str, rdtype: str, edns: int = -1
) -> tuple[int, dns.message.Message]:
    query = dns.message.make_query(qname, rdtype, use_edns=edns, payload=4096)
    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as sock:
        sock.settimeout(2)
        sock.sendto(query.to_wire(), ("::1", provider.endpoint.port))
        data = sock.recv(65535)
    return len(data), dns.message.from_wire(data)


def test_any_gets_one_small_record(standalone: StandaloneProvider) -> None:
    size, response = ask(standalone, APEX, "ANY")
    assert response.rcode() == dns.rcode.NOERROR and response.flags & dns.flags.AA
    (rrset,) = response.answer
    assert rrset.rdtype == dns.rdatatype.HINFO and rrset[0].cpu == b"RFC8482"
    assert size < 100  # 30 TXT values live there; none of them is sent


def test_udp_answers_stay_within_the_clients_size(standalone: StandaloneProvider) -> None:
    size, plain = ask(standalone, APEX, "TXT")  # no EDNS: 512
    assert size <= 512 and plain.flags & dns.flags.TC and not plain.answer
    size, edns = ask(standalone, APEX, "TXT", edns=0)  # asks for 4096, gets at most 1232
    assert size <= 1232 and edns.flags & dns.flags.TC


def test_names_outside_its_zones_are_refused_without_growth(standalone: StandaloneProvider) -> None:
    wire_size = len(dns.message.make_query("www.example.test.", "ANY").to_wire())
    size, response = ask(standalone, "www.example.test.", "ANY")
    assert response.rcode() == dns.rcode.REFUSED and not response.flags & dns.flags.AA
    assert size <= wire_size
