"""Asking one authoritative address one question, over the wire. The only I/O here.

Every query goes out with RD=0 (we want the server's own data, never its
recursion; RFC 1035 section 4.1.1) and EDNS0 with a 1232-byte payload (the DNS
flag day 2020 size), over UDP with a TCP retry when the answer is truncated
(RFC 7766 section 5). dnspython's exceptions end here: callers get an ``Answer``.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Protocol

import dns.asyncbackend
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
    """

    def __init__(self, port: int = DNS_PORT) -> None:
        self.port = port
        self._backend = dns.asyncbackend.get_backend("asyncio")

    async def exchange(
        self, query: dns.message.Message, address: str, timeout: float
    ) -> tuple[dns.message.Message, bool]:
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        async with asyncio.timeout(timeout):
            # Connected, so an ICMP error (port unreachable, no route) fails the query at
            # once instead of after ``timeout``; unbound, so the kernel picks the port.
            udp = await self._backend.make_socket(  # type: ignore[no-untyped-call]  # unannotated upstream
                family, socket.SOCK_DGRAM, destination=(address, self.port)
            )
            async with udp:
                return await dns.asyncquery.udp_with_fallback(
                    query,
                    address,
                    timeout=timeout,
                    port=self.port,
                    ignore_unexpected=True,
                    ignore_errors=True,
                    udp_sock=udp,
                )


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
