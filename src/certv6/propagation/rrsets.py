"""The RRset a zone's own servers serve now, read before part of it is replaced.

``certv6 aaaa`` decides what to change from the zone's data, not from a
resolver's cache: a cached answer may be a TTL old, and the change is made
conditional on exactly what was read (RFC 2136 section 2.4.2). So the primary
(SOA MNAME) is asked first, without recursion, then the other authoritative
addresses if it cannot be reached (a hidden primary).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from certv6.dnsquery import Dns
from certv6.errors import DnsError
from certv6.propagation.wire import Transport, UdpTcpTransport, ask

READ_TIMEOUT = 2.0


@dataclass(frozen=True, slots=True)
class ServedRRset:
    """What one authoritative address serves at ``owner``; ``values`` empty: no such RRset."""

    owner: str
    rdtype: str
    values: frozenset[str]
    server: str  # the address that answered
    primary: bool  # it is an address of the SOA MNAME


def read_rrset(
    owner: str,
    rdtype: str,
    zone: str,
    dns: Dns,
    *,
    timeout: float = READ_TIMEOUT,
    transport: Transport | None = None,
) -> ServedRRset:
    """The ``rdtype`` RRset at ``owner`` as ``zone``'s primary (else another server) serves it.

    Raises:
        DnsError: no authoritative address answered authoritatively, or ``owner``
            is a CNAME there (an alias cannot have other records, RFC 1034 3.6.2).
    """
    mname, primary = dns.primary(zone)
    others = [a for ns in dns.nameservers(zone) for a in ns.aaaa if a not in primary]
    chosen = transport or UdpTcpTransport()
    problems = []
    for address in (*primary, *dict.fromkeys(others)):
        answer = asyncio.run(ask(chosen, address, owner, rdtype, timeout))
        if answer.error.endswith("is a CNAME at this server"):
            raise DnsError(
                f"{owner} is a CNAME: it cannot have {rdtype} records of its own",
                qname=owner,
                nameserver=address,
                hint="list the name the CNAME points to instead",
            )
        if answer.problem:
            problems.append(f"[{address}] {answer.problem}")
            continue
        return ServedRRset(owner, rdtype, answer.texts, address, address in primary)
    raise DnsError(
        f"no server of {zone} told what {owner} {rdtype} is: "
        + ("; ".join(problems) or f"{mname} and the NS of {zone} have no IPv6 address"),
        qname=owner,
        hint="certv6 reads the records from the zone's own servers before changing them",
    )
