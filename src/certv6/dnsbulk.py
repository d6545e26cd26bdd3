"""Many questions to one recursive resolver at once, on one thread.

An order of 100 names asks the resolver 100 CNAME and about 100 CAA questions
before anything else can happen. One look-up at a time through dnspython's
``Resolver`` costs about 0.6 ms of CPU each, and a pool of threads costs more,
not less (they take turns on the GIL): that was the largest part of a
100-name issuance (issue #19). Here every question goes out at once, each on
its own connected UDP socket (a fresh random source port and a 16-bit ID, as
dnspython's query functions do: RFC 5452 section 9.2), and one selector
collects the answers: a quarter of the CPU.

The queries are built and their answers recognised here without dnspython's
message objects (those cost more CPU than the sockets): a query is a header,
the question and nothing else (no EDNS: answers to CNAME and CAA questions fit
in 512 bytes, a truncated one is left to the ordinary look-up); an answer is a
datagram from the resolver's address (connected socket) with the query's ID,
QR set and the same question. The caller parses what it needs of it.

This is only a head start: a question that gets no clean answer here (silence,
a truncated answer, SERVFAIL, an ICMP error) is simply not answered, and the
caller asks it again the ordinary way, with the resolver's retries, its other
addresses and its error messages.
"""

from __future__ import annotations

import contextlib
import secrets
import selectors
import socket
import struct
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import dns.exception
import dns.name
import dns.rcode
import dns.rdatatype

# A resolver answers a cached or simple question within milliseconds; one that
# is still recursing after this long is left to the ordinary look-up.
BATCH_SECONDS = 2.0
RESEND_AFTER = 0.5  # one more copy of a query still unanswered (a lost datagram)
SILENT_AFTER = 1.0  # not one answer by then: the resolver is down, the look-ups say so
IN_FLIGHT = 128  # sockets open at once
CLEAN = frozenset({dns.rcode.NOERROR, dns.rcode.NXDOMAIN})
RD, QR, TC, RCODE, IN = 0x0100, 0x80, 0x02, 0x0F, 1  # header bits (RFC 1035 4.1.1), class IN

Question = tuple[str, str]  # absolute name, type ("CNAME", "CAA")


@dataclass(slots=True)
class _Asking:
    question: Question
    wire: bytes
    sock: socket.socket
    sent: float
    resent: bool = False


def ask_all(
    address: str,
    port: int,
    questions: Sequence[Question],
    *,
    seconds: float = BATCH_SECONDS,
    clock: Callable[[], float] = time.monotonic,
    on_answer: Callable[[Question, bytes], None] | None = None,
) -> dict[Question, bytes]:
    """Ask ``address`` (recursion desired) every question; return the clean answers
    (NOERROR or NXDOMAIN, not truncated, as wire) that came back within ``seconds``,
    each also given to ``on_answer`` as it arrives. Never raises for the network."""
    try:
        family, _, _, _, sockaddr = socket.getaddrinfo(
            address, port, type=socket.SOCK_DGRAM, flags=socket.AI_NUMERICHOST
        )[0]
    except (OSError, UnicodeError):
        return {}
    answers: dict[Question, bytes] = {}
    waiting = list(dict.fromkeys(questions))
    waiting.reverse()  # popped from the end: asked in the order given
    asking: dict[socket.socket, _Asking] = {}
    started = clock()
    deadline = started + seconds
    heard = False
    with selectors.DefaultSelector() as selector:
        try:
            while (waiting or asking) and clock() < deadline:
                if not heard and clock() - started >= SILENT_AFTER:
                    break
                while waiting and len(asking) < IN_FLIGHT:
                    sent = _send(family, sockaddr, waiting.pop(), clock)
                    if sent is not None:
                        asking[sent.sock] = sent
                        selector.register(sent.sock, selectors.EVENT_READ, sent)
                if not asking:
                    break
                for key, _ in selector.select(min(RESEND_AFTER / 2, deadline - clock())):
                    current: _Asking = key.data
                    finished, response = _receive(current)
                    heard = heard or response is not None
                    if not finished:
                        continue
                    selector.unregister(current.sock)
                    del asking[current.sock]
                    current.sock.close()
                    if response is not None:
                        answers[current.question] = response
                        if on_answer is not None:
                            on_answer(current.question, response)
                _resend_late(asking.values(), clock())
        finally:
            for sock in asking:
                sock.close()
    return answers


def query_wire(name: str, rdtype: str) -> bytes:
    """A recursive query (RD=1) for ``name``/``rdtype``, IN, with a random ID."""
    header = struct.pack("!HHHHHH", secrets.randbits(16), RD, 1, 0, 0, 0)
    kind = dns.rdatatype.from_text(rdtype)
    qname = dns.name.from_text(name).to_wire() or b""  # bytes when no file is given
    return header + qname + struct.pack("!HH", kind, IN)


def answer_count(wire: bytes) -> int:
    """ANCOUNT of a DNS message."""
    return int.from_bytes(wire[6:8], "big")


def _send(
    family: int,
    sockaddr: Any,  # what getaddrinfo gave, for connect()
    question: Question,
    clock: Callable[[], float],
) -> _Asking | None:
    try:
        wire = query_wire(*question)
    except (dns.exception.DNSException, ValueError):
        return None  # a name dnspython refuses: the ordinary look-up says why
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        sock.setblocking(False)
        # Connected: only the resolver's address can answer, and an ICMP error
        # (port unreachable, no route) ends this question at once.
        sock.connect(sockaddr)
        sock.send(wire)
    except OSError:
        sock.close()
        return None
    return _Asking(question, wire, sock, clock())


def _receive(asking: _Asking) -> tuple[bool, bytes | None]:
    """(finished, clean answer). A datagram that is not this question's answer
    (too short, another ID or question, not a response) is ignored: not finished."""
    try:
        data = asking.sock.recv(65535)
    except BlockingIOError:
        return False, None
    except OSError:
        return True, None  # refused, unreachable: the ordinary look-up says so properly
    query = asking.wire
    if (
        len(data) < len(query)
        or data[:2] != query[:2]  # the ID
        or not data[2] & QR
        or data[4:6] != query[4:6]  # QDCOUNT 1
        # The question as asked (a resolver may change the case of the name: 0x20).
        or data[12 : len(query)].lower() != query[12:].lower()
    ):
        return False, None
    if data[2] & TC or data[3] & RCODE not in CLEAN:
        return True, None
    return True, data


def _resend_late(asking: Iterable[_Asking], now: float) -> None:
    for each in asking:
        if not each.resent and now - each.sent >= RESEND_AFTER:
            each.resent = True
            # An error here shows on the next receive, or the deadline ends the question.
            with contextlib.suppress(OSError):
                each.sock.send(each.wire)
