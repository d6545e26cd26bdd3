"""DNS and HTTPS probes.  They run on NamespaceThreads, i.e. inside a lab namespace."""

from __future__ import annotations

import http.client
import ssl
from pathlib import Path

import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.query
import dns.rcode
import dns.rdata
import dns.rdatatype
import dns.rdtypes.ANY.SOA
import dns.rdtypes.ANY.TXT

from .errors import LabError


def query(
    server: str,
    qname: str,
    rdtype: str,
    *,
    recursive: bool = False,
    timeout: float = 2.0,
    tcp: bool = False,
) -> dns.message.Message:
    """One query, UDP with TCP fallback on truncation (or TCP only); raises on timeout."""
    q = dns.message.make_query(qname, rdtype, use_edns=0)
    if not recursive:
        q.flags &= ~dns.flags.RD
    if tcp:
        return dns.query.tcp(q, server, timeout=timeout)
    response, _ = dns.query.udp_with_fallback(q, server, timeout=timeout)
    return response


def _authoritative(response: dns.message.Message, server: str, qname: str) -> None:
    rcode = response.rcode()
    if rcode not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
        raise LabError(f"{server} answered {dns.rcode.to_text(rcode)} for {qname}")
    if not response.flags & dns.flags.AA:
        raise LabError(f"{server} is not authoritative for {qname}")


def txt_values(server: str, owner: str, *, timeout: float = 2.0, tcp: bool = False) -> set[str]:
    """TXT strings an authoritative server holds at ``owner`` (empty if none)."""
    response = query(server, owner, "TXT", timeout=timeout, tcp=tcp)
    _authoritative(response, server, owner)
    name = dns.name.from_text(owner)
    values: set[str] = set()
    for rrset in response.answer:
        if rrset.name == name and rrset.rdtype == dns.rdatatype.TXT:
            values.update(_value(rdata) for rdata in rrset)
    return values


def soa_serial(
    server: str, zone: str, *, recursive: bool = False, timeout: float = 2.0, tcp: bool = False
) -> int:
    response = query(server, zone, "SOA", recursive=recursive, timeout=timeout, tcp=tcp)
    if not recursive:
        _authoritative(response, server, zone)
    name = dns.name.from_text(zone)
    for rrset in response.answer:
        if rrset.name == name and rrset.rdtype == dns.rdatatype.SOA:
            rdata = rrset[0]
            assert isinstance(rdata, dns.rdtypes.ANY.SOA.SOA)
            return int(rdata.serial)
    raise LabError(
        f"{server} returned no SOA for {zone} (rcode {dns.rcode.to_text(response.rcode())})"
    )


def _value(rdata: dns.rdata.Rdata) -> str:
    if isinstance(rdata, dns.rdtypes.ANY.TXT.TXT):
        return b"".join(rdata.strings).decode()
    return rdata.to_text()


def resolved(server: str, qname: str, rdtype: str = "AAAA", *, timeout: float = 3.0) -> set[str]:
    """Values a recursive resolver returns for ``qname`` (TXT as plain strings).

    Follows the CNAME chain as the resolver reports it; NXDOMAIN/NODATA give an empty set.
    """
    response = query(server, qname, rdtype, recursive=True, timeout=timeout)
    if response.rcode() not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
        raise LabError(f"{server} answered {dns.rcode.to_text(response.rcode())} for {qname}")
    kind = dns.rdatatype.from_text(rdtype)
    return {_value(r) for rrset in response.answer if rrset.rdtype == kind for r in rrset}


def notify(server: str, zone: str, *, source: str, timeout: float = 2.0) -> None:
    """Send a NOTIFY for ``zone`` from ``source`` (a secondary accepts it only from its primary)."""
    msg = dns.message.make_query(zone, "SOA")
    msg.flags = dns.flags.AA  # before set_opcode: dnspython keeps the opcode in the flags
    msg.set_opcode(dns.opcode.NOTIFY)
    response = dns.query.udp(msg, server, source=source, timeout=timeout)
    if response.rcode() != dns.rcode.NOERROR:
        raise LabError(f"{server} answered {dns.rcode.to_text(response.rcode())} to NOTIFY {zone}")


def https_get(host: str, port: int, path: str, *, cafile: Path, timeout: float = 3.0) -> bytes:
    """GET over TLS, verifying the server against ``cafile`` (verification is never off)."""
    context = ssl.create_default_context(cafile=str(cafile))
    conn = http.client.HTTPSConnection(host, port, context=context, timeout=timeout)
    try:
        # Upstream Pebble answers 400 to a request without a User-Agent (RFC 8555 6.1).
        conn.request("GET", path, headers={"User-Agent": "certv6-lab"})
        response = conn.getresponse()
        body = response.read()
    finally:
        conn.close()
    if response.status != 200:
        raise LabError(f"GET https://[{host}]:{port}{path} -> HTTP {response.status}")
    return body
