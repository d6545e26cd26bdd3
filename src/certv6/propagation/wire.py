"""Asking one authoritative address one question, over the wire. The only I/O here.

Every query goes out with RD=0 (we want the server's own data, never its
recursion; RFC 1035 section 4.1.1) and EDNS0 with a 1232-byte payload (the DNS
flag day 2020 size), over UDP with a TCP retry when the answer is truncated
(RFC 7766 section 5). dnspython's exceptions end here: callers get an ``Answer``.
"""

from __future__ import annotations

import asyncio
import errno
import secrets
import socket
import time
import typing
from typing import Any, Protocol

import dns.asyncquery
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype

from certv6.model import canonical_value
from certv6.propagation.state import Answer

EDNS_PAYLOAD = 1232
DNS_PORT = 53


class Transport(Protocol):
    """Sends a query to an address and returns (response, whether TCP was used).

    The seam for tests, like httpx's transports: production uses ``UdpTcpTransport``.
    """

    async def exchange(
        self, query: dns.message.Message, address: str, timeout: float
    ) -> tuple[dns.message.Message, bool]: ...


class UdpTcpTransport:
    """UDP, then TCP when the UDP answer has TC set; one ``timeout`` bounds both.

    Queries to one address that are in flight together share a connected UDP socket
    (the kernel drops datagrams from anyone else; replies are matched by ID and
    question). A socket carries at most ``QUERIES_PER_SOCKET`` queries and is closed
    once nothing is waiting on it, so source ports keep changing and nothing is left
    open after a round. A round of 100 names asks 200 questions: one socket each
    was most of the cost.

    Positive answers are parsed without their authority and additional sections:
    an authoritative server sends its NS set and glue with every answer, which the
    checker never reads and which took three quarters of the parsing time.
    """

    def __init__(self, port: int = DNS_PORT) -> None:
        self.port = port
        self._sockets: dict[str, _Socket] = {}

    async def exchange(
        self, query: dns.message.Message, address: str, timeout: float
    ) -> tuple[dns.message.Message, bool]:
        async with asyncio.timeout(timeout):
            response = await self._udp(query, address)
            if response.flags & dns.flags.TC:
                tcp = await dns.asyncquery.tcp(query, address, timeout=timeout, port=self.port)
                return tcp, True
            return response, False

    async def _udp(self, query: dns.message.Message, address: str) -> dns.message.Message:
        sock = self._socket_for(address)
        sent = time.monotonic()
        try:
            await sock.ready()
            while query.id in sock.waiting:
                query.id = secrets.randbelow(0x10000)
            reply = sock.send(query.id, query.to_wire())
            while True:
                response = parse_wire(await reply)
                if query.is_response(response):
                    response.time = time.monotonic() - sent
                    return response
                reply = sock.expect(query.id)  # a stray datagram: keep waiting
        finally:
            sock.forget(query.id)
            sock.users -= 1
            if not sock.users:
                sock.close()
                if self._sockets.get(address) is sock:
                    del self._sockets[address]

    def _socket_for(self, address: str) -> _Socket:
        sock = self._sockets.get(address)
        if sock is None or sock.assigned >= QUERIES_PER_SOCKET:
            sock = _Socket(address, self.port)
            self._sockets[address] = sock
        sock.users += 1
        sock.assigned += 1
        return sock


QUERIES_PER_SOCKET = 64


class _Socket(asyncio.DatagramProtocol):
    """One connected UDP socket to one DNS server; replies go to whoever waits for the ID."""

    def __init__(self, address: str, port: int) -> None:
        self.address, self.port = address, port
        self.waiting: dict[int, asyncio.Future[bytes]] = {}
        self.assigned = 0  # queries given this socket so far (at most QUERIES_PER_SOCKET)
        self.users = 0  # queries holding this socket; it is closed when none is left
        self._transport: asyncio.DatagramTransport | None = None
        self._opening: asyncio.Task[None] | None = None

    async def ready(self) -> None:
        if self._opening is None:
            self._opening = asyncio.ensure_future(self._open())
        await asyncio.shield(self._opening)

    async def _open(self) -> None:
        family = socket.AF_INET6 if ":" in self.address else socket.AF_INET
        loop = asyncio.get_running_loop()
        await loop.create_datagram_endpoint(
            lambda: self, remote_addr=(self.address, self.port), family=family
        )

    def send(self, query_id: int, wire: bytes) -> asyncio.Future[bytes]:
        if self._transport is None or self._transport.is_closing():
            raise ConnectionError("the socket closed before sending")
        reply = self.expect(query_id)
        self._transport.sendto(wire)
        return reply

    def expect(self, query_id: int) -> asyncio.Future[bytes]:
        reply: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self.waiting[query_id] = reply
        return reply

    def forget(self, query_id: int) -> None:
        self.waiting.pop(query_id, None)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
        elif self._opening is not None:
            self._opening.cancel()

    # asyncio.DatagramProtocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = typing.cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: Any) -> None:
        if len(data) < HEADER_SIZE:
            return
        reply = self.waiting.get(int.from_bytes(data[:2], "big"))
        if reply is not None and not reply.done():
            reply.set_result(data)

    def error_received(self, exc: Exception) -> None:
        # An ICMP error on a connected socket (port unreachable, no route) fails
        # every query waiting on it, as it would fail a socket of their own.
        for reply in self.waiting.values():
            if not reply.done():
                reply.set_exception(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        for reply in self.waiting.values():
            if not reply.done():
                reply.set_exception(exc or ConnectionError("socket closed"))


HEADER_SIZE = 12
_RCODE_MASK = 0x000F


def parse_wire(wire: bytes) -> dns.message.Message:
    """Parse a response; a NOERROR one with answers leaves out authority and additional.

    The answer (and the header's RCODE and AA) is all the checker reads from a
    positive response. Negative answers, referrals and errors are parsed whole:
    their authority section matters, and an EDNS extended RCODE lives in the OPT
    record of the additional section.
    """
    flags = int.from_bytes(wire[2:4], "big")
    answers = int.from_bytes(wire[6:8], "big")
    if flags & _RCODE_MASK == dns.rcode.NOERROR and answers and not flags & dns.flags.TC:
        header_without_counts = wire[:8] + bytes(4)  # NSCOUNT = ARCOUNT = 0
        return dns.message.from_wire(
            header_without_counts + wire[HEADER_SIZE:], ignore_trailing=True
        )
    return dns.message.from_wire(wire)


def make_query(qname: str, rdtype: str) -> dns.message.Message:
    """A non-recursive (RD=0) query with EDNS0, payload 1232."""
    return dns.message.make_query(qname, rdtype, use_edns=0, payload=EDNS_PAYLOAD, flags=0)


async def ask(
    transport: Transport, address: str, qname: str, rdtype: str, timeout: float
) -> Answer:
    """Ask ``address`` for ``qname``/``rdtype``; never raises for network trouble."""
    try:
        response, tcp = await transport.exchange(make_query(qname, rdtype), address, timeout)
    except (TimeoutError, dns.exception.Timeout):
        return Answer(error="timeout")
    except OSError as error:
        return Answer(error=_describe_os_error(error))
    except dns.exception.DNSException as error:
        return Answer(error=f"unusable response: {error}")
    return parse(response, qname, rdtype, tcp)


def parse(response: dns.message.Message, qname: str, rdtype: str, tcp: bool) -> Answer:
    """Turn a response into an ``Answer``: rcode, AA, and the RRset at ``qname``."""
    name = dns.name.from_text(qname)
    kind = dns.rdatatype.from_text(rdtype)
    rrset = response.get_rrset(response.answer, name, dns.rdataclass.IN, kind)
    texts: frozenset[str] = frozenset()
    serial: int | None = None
    error = ""
    if rrset is not None and kind == dns.rdatatype.TXT:
        # RFC 8555 8.4 values are one string; longer values are split into
        # 255-octet character-strings (RFC 1035 3.3.14) and are joined back here.
        texts = frozenset(b"".join(rdata.strings).decode("utf-8", "replace") for rdata in rrset)
    elif rrset is not None and kind == dns.rdatatype.SOA:
        serial = int(rrset[0].serial)
    elif rrset is not None:
        texts = frozenset(canonical_text(rdata) for rdata in rrset)
    elif response.get_rrset(response.answer, name, dns.rdataclass.IN, dns.rdatatype.CNAME):
        error = f"{qname} is a CNAME at this server"
    return Answer(
        rcode=dns.rcode.to_text(response.rcode()),
        authoritative=bool(response.flags & dns.flags.AA),
        texts=texts,
        serial=serial,
        rtt=response.time,
        tcp=tcp,
        error=error,
    )


def canonical_text(rdata: dns.rdata.Rdata) -> str:
    """An rdata as text; an address in RFC 5952 form, as ``ipaddress`` writes it."""
    return canonical_value(rdata.to_text(), dns.rdatatype.to_text(rdata.rdtype))


async def ask_delegation(
    transport: Transport, address: str, zone: str, timeout: float
) -> tuple[str, ...] | None:
    """The NS names a parent server gives for ``zone``; None when it gave none.

    A parent answers a non-recursive NS query with a referral: the child's NS set in
    the authority section, AA clear (RFC 1034 section 4.3.2 step 3b). A server that
    serves both zones answers from the child's apex instead, with AA set.
    """
    try:
        response, _ = await transport.exchange(make_query(zone, "NS"), address, timeout)
    except (TimeoutError, OSError, dns.exception.DNSException):
        return None
    name = dns.name.from_text(zone)
    for section in (response.answer, response.authority):
        rrset = response.get_rrset(section, name, dns.rdataclass.IN, dns.rdatatype.NS)
        if rrset is not None:
            return tuple(sorted(rdata.target.to_text().lower() for rdata in rrset))
    return None


def _describe_os_error(error: OSError) -> str:
    if error.errno == errno.ECONNREFUSED:
        return "connection refused"
    if error.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH):
        return "no route to this address"
    return error.strerror or type(error).__name__
