"""Asking one authoritative address one question, over the wire. The only I/O here.

Every query goes out with RD=0 (we want the server's own data, never its
recursion; RFC 1035 section 4.1.1) and EDNS0 with a 1232-byte payload (the DNS
flag day 2020 size), over UDP with a TCP retry when the answer is truncated
(RFC 7766 section 5). dnspython's exceptions end here: callers get an ``Answer``.
"""

from __future__ import annotations

import asyncio
import socket
import time
from typing import Protocol

import dns.asyncquery
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype

from certv6.errors import describe_socket_error
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

    Every query gets a socket of its own on a fresh source port that the kernel picks
    at random, as dnspython's query functions do: an off-path attacker must guess the
    port as well as the 16-bit ID (RFC 5452 section 9.2), and a reply can only come back
    on the socket that asked. How many are in flight at once is bounded by the caller
    (``run.py``'s semaphore, ``max_concurrency``). Datagrams that are not the answer
    (another source, another ID or question, a malformed message) are ignored and the
    query keeps waiting for its own answer until ``timeout``.

    A truncated answer is asked again over TCP (RFC 7766 section 5). That is also how a
    response-rate-limited server's "slip" works: it answers some queries with an empty
    TC=1 message instead of dropping them, so the client retries over TCP, which RRL
    leaves alone.

    A NOERROR answer with records in its answer section is parsed up to that section
    only (``answer_only``), unless the question is NS (a referral's NS set is in the
    authority section): an authoritative server adds its NS set and their addresses to
    every answer, and parsing those took most of a round's CPU (issue #19: a round
    over 100 names and two servers is 200 answers).
    """

    def __init__(self, port: int = DNS_PORT) -> None:
        self.port = port

    async def exchange(
        self, query: dns.message.Message, address: str, timeout: float
    ) -> tuple[dns.message.Message, bool]:
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(timeout) as scope:
            with socket.socket(family, socket.SOCK_DGRAM) as udp:
                udp.setblocking(False)
                # Connected, so an ICMP error (port unreachable, no route) fails the query
                # at once instead of after ``timeout``; unbound, so the kernel picks the port.
                udp.connect((address, self.port))
                sent = time.monotonic()
                await loop.sock_sendall(udp, query.to_wire())
                while True:
                    response = answer_to(query, await loop.sock_recv(udp, 65535))
                    if response is not None:
                        break
            if not response.flags & dns.flags.TC:
                response.time = time.monotonic() - sent
                return response, False
            left = max((scope.when() or 0.0) - loop.time(), 0.0)
            tcp_response = await dns.asyncquery.tcp(query, address, timeout=left, port=self.port)
            return tcp_response, True


def answer_to(query: dns.message.Message, wire: bytes) -> dns.message.Message | None:
    """``wire`` parsed, if it is the answer to ``query``; None for anything else."""
    if len(wire) < 12 or wire[:2] != query.id.to_bytes(2, "big") or not wire[2] & 0x80:
        return None
    try:
        if answer_only(query, wire):
            # NSCOUNT and ARCOUNT zeroed: the parser stops after the answer section.
            response = dns.message.from_wire(wire[:8] + bytes(4) + wire[12:], ignore_trailing=True)
        else:
            response = dns.message.from_wire(wire)
    except dns.exception.DNSException:
        return None
    return response if query.is_response(response) else None


def answer_only(query: dns.message.Message, wire: bytes) -> bool:
    """NOERROR, not truncated, with answer records, to a question other than NS."""
    rcode, truncated, answers = wire[3] & 0x0F, wire[2] & 0x02, int.from_bytes(wire[6:8], "big")
    asked_ns = any(rrset.rdtype == dns.rdatatype.NS for rrset in query.question)
    return rcode == dns.rcode.NOERROR and not truncated and answers > 0 and not asked_ns


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
        return Answer(error=describe_socket_error(error))
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


async def ask_apex_ns(
    transport: Transport, address: str, zone: str, timeout: float
) -> frozenset[str] | None:
    """The NS names ``address`` serves at the apex of ``zone``, authoritatively; else None."""
    try:
        response, _ = await transport.exchange(make_query(zone, "NS"), address, timeout)
    except (TimeoutError, OSError, dns.exception.DNSException):
        return None
    if response.rcode() != dns.rcode.NOERROR or not response.flags & dns.flags.AA:
        return None
    name = dns.name.from_text(zone)
    rrset = response.get_rrset(response.answer, name, dns.rdataclass.IN, dns.rdatatype.NS)
    if rrset is None:
        return None
    return frozenset(rdata.target.to_text().lower() for rdata in rrset)


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
