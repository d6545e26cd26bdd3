"""The answers of certv6's own authoritative server for challenge zones. No I/O.

The standalone provider serves dns-01 values itself for zones delegated to the
host. A name belongs to a zone certv6 serves when it is inside one of the
configured ``zones``, or else when one of its labels is ``_acme-challenge``:
that label is then the apex (the operator delegated ``_acme-challenge.<name>``
with NS records). Anything else is REFUSED, like any server that is not
authoritative for a name (RFC 1034 section 4.3.2).

Answers are authoritative (AA): SOA and NS at the apex, the TXT values at their
owners, NODATA or NXDOMAIN with the SOA otherwise (RFC 2308). TTLs are 0 by
default: the values change within seconds and must not be cached.

Never an amplifier (the listener's bounds are in dnslimits.py): ANY gets one
small synthesized HINFO (RFC 8482 4.2) instead of everything; a UDP answer fits
the client's size (512 bytes without EDNS, at most 1232 with it) or goes out
empty with TC; a REFUSED answer is the query echoed with a new header.

Why any ``_acme-challenge`` label makes an apex, not only the names of the
current order: the server starts before the order exists, and the resolvers
following ``_acme-challenge.<name>`` CNAME chains at that point must get an
authoritative "no such name" from it, not REFUSED (which a resolver turns
into SERVFAIL for the whole look-up).

``certv6 aaaa --watch`` also keeps whole RRsets of other types here (the host's
AAAA records in a zone delegated to it), each with its own TTL; those names
must be inside a configured zone (``configured_apex``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

from certv6.model import CHALLENGE_LABEL

EDNS_PAYLOAD = 1232  # DNS flag day 2020
PLAIN_UDP_SIZE = 512  # RFC 1035 4.2.1, without EDNS
_CHALLENGE = CHALLENGE_LABEL.encode()
NameserversOf = Callable[[dns.name.Name], tuple[str, ...]]


class ChallengeZones:
    """The values being served, per owner; safe to change while the server answers."""

    def __init__(
        self, zones: Iterable[str], nameservers_of: NameserversOf, *, serial: int, ttl: int = 0
    ) -> None:
        self.zones = sorted((dns.name.from_text(z) for z in zones), key=len, reverse=True)
        self.nameservers_of = nameservers_of
        self.ttl = ttl
        self._serial = serial
        self._values: dict[dns.name.Name, set[str]] = {}
        # owner -> type -> (ttl, values): RRsets other than dns-01 TXT (certv6 aaaa).
        self._rrsets: dict[dns.name.Name, dict[dns.rdatatype.RdataType, tuple[int, set[str]]]] = {}
        self._lock = threading.Lock()

    def apex_of(self, name: dns.name.Name) -> dns.name.Name | None:
        """The apex of the zone certv6 serves ``name`` in, or None if it serves none."""
        for zone in self.zones:
            if name.is_subdomain(zone):
                return zone
        labels = [label.lower() for label in name.labels]
        if _CHALLENGE not in labels:
            return None
        return dns.name.Name(name.labels[labels.index(_CHALLENGE) :])

    def configured_apex(self, name: dns.name.Name) -> dns.name.Name | None:
        """The configured zone holding ``name`` (not the ``_acme-challenge`` rule)."""
        return next((zone for zone in self.zones if name.is_subdomain(zone)), None)

    def rrset_values(self, owner: str, rdtype: str) -> frozenset[str]:
        kind = dns.rdatatype.from_text(rdtype)
        with self._lock:
            _, values = self._rrsets.get(dns.name.from_text(owner), {}).get(kind, (0, set()))
            return frozenset(values)

    def replace_rrset(self, owner: str, rdtype: str, ttl: int, values: frozenset[str]) -> None:
        """Serve exactly ``values`` as the ``rdtype`` RRset at ``owner`` (none: remove it)."""
        name, kind = dns.name.from_text(owner), dns.rdatatype.from_text(rdtype)
        with self._lock:
            types = self._rrsets.setdefault(name, {})
            if values:
                types[kind] = (ttl, set(values))
            else:
                types.pop(kind, None)
            if not types:
                self._rrsets.pop(name, None)
            self._serial += 1

    def rrsets_at(
        self, name: dns.name.Name
    ) -> list[tuple[dns.rdatatype.RdataType, int, list[str]]]:
        with self._lock:
            found = self._rrsets.get(name, {})
            return [(kind, ttl, sorted(values)) for kind, (ttl, values) in found.items()]

    def add(self, owner: str, value: str) -> None:
        with self._lock:
            values = self._values.setdefault(dns.name.from_text(owner), set())
            if value not in values:
                values.add(value)
                self._serial += 1

    def remove(self, owner: str, value: str) -> None:
        name = dns.name.from_text(owner)
        with self._lock:
            values = self._values.get(name, set())
            if value in values:
                values.discard(value)
                self._serial += 1
            if not values:
                self._values.pop(name, None)

    def values_at(self, name: dns.name.Name) -> set[str]:
        with self._lock:
            return set(self._values.get(name, ()))

    def exists(self, name: dns.name.Name, apex: dns.name.Name) -> bool:
        """The apex, an owner, or an empty non-terminal above an owner (RFC 8020)."""
        with self._lock:
            owners = [*self._values, *self._rrsets]
        return name == apex or any(owner.is_subdomain(name) for owner in owners)

    @property
    def serial(self) -> int:
        with self._lock:
            return self._serial & 0xFFFFFFFF


def respond(wire: bytes, zones: ChallengeZones, *, tcp: bool) -> bytes | None:
    """The wire answer to one query, or None for something that deserves none."""
    try:
        query = dns.message.from_wire(wire)
    except dns.exception.DNSException:
        return _formerr(wire)
    if query.flags & dns.flags.QR:
        return None  # a response, not a query: never answer those (loops)
    response = dns.message.make_response(query, our_payload=EDNS_PAYLOAD)
    if query.edns > 0:
        response.set_rcode(dns.rcode.BADVERS)  # RFC 6891 6.1.3
    elif query.opcode() != dns.opcode.QUERY:
        response.set_rcode(dns.rcode.NOTIMP)
    elif len(query.question) != 1:
        response.set_rcode(dns.rcode.FORMERR)
    else:
        _answer(query.question[0], response, zones)
    return _to_wire(response, query, tcp=tcp)


def _answer(
    question: dns.rrset.RRset, response: dns.message.Message, zones: ChallengeZones
) -> None:
    qname, qtype = question.name, question.rdtype
    apex = zones.apex_of(qname)
    if apex is None or question.rdclass != dns.rdataclass.IN:
        response.set_rcode(dns.rcode.REFUSED)
        return
    response.flags |= dns.flags.AA
    if qtype == dns.rdatatype.ANY:
        _minimal_any(qname, apex, response, zones)
        return
    wanted = {qtype}
    apex_types = wanted & {dns.rdatatype.SOA, dns.rdatatype.NS}
    if qname == apex and apex_types and not _apex_records(qname, apex, wanted, response, zones):
        return
    values = zones.values_at(qname)
    if values and dns.rdatatype.TXT in wanted:
        texts = [f'"{value}"' for value in sorted(values)]
        response.answer.append(dns.rrset.from_text_list(qname, zones.ttl, "IN", "TXT", texts))
    for kind, ttl, served in zones.rrsets_at(qname):
        if kind in wanted:
            response.answer.append(dns.rrset.from_text_list(qname, ttl, "IN", kind, served))
    if response.answer:
        return
    if not zones.exists(qname, apex):
        response.set_rcode(dns.rcode.NXDOMAIN)
    response.authority.append(_soa(apex, zones))  # NODATA / NXDOMAIN carry the SOA (RFC 2308)


def _minimal_any(
    qname: dns.name.Name,
    apex: dns.name.Name,
    response: dns.message.Message,
    zones: ChallengeZones,
) -> None:
    """RFC 8482 4.2: answer ANY with one HINFO "RFC8482" "", never with everything."""
    if not zones.exists(qname, apex):
        response.set_rcode(dns.rcode.NXDOMAIN)
        response.authority.append(_soa(apex, zones))
        return
    response.answer.append(dns.rrset.from_text(qname, zones.ttl, "IN", "HINFO", '"RFC8482" ""'))


def _apex_records(
    qname: dns.name.Name,
    apex: dns.name.Name,
    wanted: set[dns.rdatatype.RdataType],
    response: dns.message.Message,
    zones: ChallengeZones,
) -> bool:
    """Add SOA and/or NS; False (SERVFAIL) when the NS set cannot be known."""
    if dns.rdatatype.SOA in wanted:
        response.answer.append(_soa(apex, zones, qname))
    if dns.rdatatype.NS in wanted:
        names = zones.nameservers_of(apex)
        if not names:
            response.set_rcode(dns.rcode.SERVFAIL)
            response.answer.clear()
            response.flags &= ~dns.flags.AA
            return False
        response.answer.append(dns.rrset.from_text_list(qname, zones.ttl, "IN", "NS", list(names)))
    return True


def _soa(
    apex: dns.name.Name, zones: ChallengeZones, owner: dns.name.Name | None = None
) -> dns.rrset.RRset:
    names = zones.nameservers_of(apex)
    mname = names[0] if names else apex.to_text()
    rname = dns.name.Name((b"hostmaster", *apex.labels)).to_text()
    # refresh, retry, expire are moot (no secondaries); minimum 0: no negative caching.
    text = f"{mname} {rname} {zones.serial} 300 60 600 0"
    return dns.rrset.from_text(owner or apex, zones.ttl, "IN", "SOA", text)


def _to_wire(response: dns.message.Message, query: dns.message.Message, *, tcp: bool) -> bytes:
    limit = (
        65535
        if tcp
        else (
            min(max(query.payload, PLAIN_UDP_SIZE), EDNS_PAYLOAD)
            if query.edns >= 0
            else PLAIN_UDP_SIZE
        )
    )
    try:
        return response.to_wire(max_size=limit)
    except dns.exception.TooBig:
        # Too big for UDP: an empty answer with TC set sends the resolver to TCP (RFC 7766).
        response.answer.clear()
        response.authority.clear()
        response.flags |= dns.flags.TC
        return response.to_wire(max_size=limit)


def _formerr(wire: bytes) -> bytes | None:
    """FORMERR with the query's id (RFC 1035 4.1.1), if there is a header to answer at all."""
    if len(wire) < 12 or wire[2] & 0x80:
        return None
    flags = 0x80 | (wire[2] & 0x79)  # QR, the opcode and RD of the query
    return wire[:2] + bytes([flags, dns.rcode.FORMERR]) + bytes(8)
