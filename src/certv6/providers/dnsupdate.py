"""One signed DNS message to a server over TCP, and why the server said no.

Servers refuse a TSIG-signed UPDATE (RFC 2136, RFC 8945) in different ways, and
the rcode alone often names the wrong cause:

    BIND       wrong secret: NOTAUTH + TSIG BADSIG; unknown key: NOTAUTH + BADKEY;
               update-policy refusal: REFUSED (signed); zone not served: NOTAUTH
    Knot       policy refusal: NOTAUTH + BADKEY for a key it *does* know; a query
               outside its zones: REFUSED without any TSIG record
    Knot       also BADKEY for a key that no acl of the zone mentions (it cannot be
               told from an unknown key)
    PowerDNS   wrong secret or unknown key: REFUSED (an update) or NOTAUTH (a query)
               without any TSIG record; allow-dnsupdate-from or TSIG-ALLOW-DNSUPDATE:
               REFUSED, signed

So the reply is read raw (dnspython's query functions raise "response requires a
TSIG" for an unsigned one and lose the rcode), and when it is a refusal the
server is asked a few questions about itself (``probe``): does it serve the zone,
does it know the key, what software is it. ``explain`` turns all that into the
one cause that applies and the fix for it.
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.tsig

from certv6.model import Endpoint
from certv6.providers.tsig import TsigKey

PROBE_TIMEOUT = 2.0
# RFC 8945 section 5.3: TSIG error codes in the response's TSIG record.
BADSIG, BADKEY, BADTIME = 16, 17, 18
_TSIG_FAILURES = (
    dns.tsig.PeerBadKey,
    dns.tsig.PeerBadSignature,
    dns.tsig.PeerBadTime,
    dns.tsig.PeerBadTruncation,
)


@dataclass(frozen=True, slots=True)
class Reply:
    """A server's answer to a signed message, whatever its signature."""

    rcode: dns.rcode.Rcode
    signed: bool  # the reply carried a TSIG record
    verified: bool  # ... and its MAC checked out with our key
    tsig_error: int  # the TSIG record's error field (0: none)
    authoritative: bool
    message: dns.message.Message
    source: str  # this host's address the message was sent from

    @property
    def ok(self) -> bool:
        return self.rcode == dns.rcode.NOERROR and self.verified


def exchange(message: dns.message.Message, endpoint: Endpoint, timeout: float) -> Reply:
    """Send ``message`` (signed or not) over TCP; the reply, verified when it is signed.

    Raises:
        OSError: the connection failed (refused, no route, reset).
        dns.exception.Timeout: no answer within ``timeout``.
        dns.exception.DNSException: the reply is not DNS at all.
    """
    wire = message.to_wire()  # signs it, and sets message.mac for the check below
    family = socket.AF_INET6 if ":" in endpoint.host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect((endpoint.host, endpoint.port))
            source = sock.getsockname()[0]
            sock.sendall(struct.pack("!H", len(wire)) + wire)
            (length,) = struct.unpack("!H", _read(sock, 2))
            answer = _read(sock, length)
        except TimeoutError as error:
            raise dns.exception.Timeout(timeout=timeout) from error  # type: ignore[no-untyped-call]
    return parse_reply(answer, message, source)


def _read(sock: socket.socket, size: int) -> bytes:
    chunks, left = [], size
    while left:
        chunk = sock.recv(left)
        if not chunk:
            raise ConnectionResetError("the server closed the connection")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def parse_reply(wire: bytes, request: dns.message.Message, source: str) -> Reply:
    """Read a reply whatever its signature; ``verified`` only when its TSIG checks out."""
    bare = dns.message.from_wire(wire, keyring=False)
    verified = False
    if request.had_tsig or request.keyring is not None:
        try:
            dns.message.from_wire(wire, keyring=request.keyring, request_mac=request.mac)
            verified = bare.had_tsig
        except (*_TSIG_FAILURES, dns.exception.FormError):
            verified = False  # a TSIG error, or no TSIG record at all (the rcode tells why)
    return Reply(
        rcode=bare.rcode(),
        signed=bare.had_tsig,
        verified=verified,
        tsig_error=(bare.tsig_error or 0) if bare.had_tsig else 0,
        authoritative=bool(bare.flags & dns.flags.AA),
        message=bare,
        source=source,
    )


@dataclass(frozen=True, slots=True)
class ServerFacts:
    """What a server said about itself and the zone; None where it did not answer."""

    serves_zone: bool | None  # answers the zone's SOA authoritatively
    knows_key: bool | None  # answers a query signed with the key with a valid signature
    mname: str | None  # the primary named in the SOA it serves
    software: str  # its version.bind answer, "" when hidden
    key_error: int = 0  # the TSIG error in its answer to the signed query (BADSIG, ...)


def probe(endpoint: Endpoint, zone: str, key: TsigKey, timeout: float) -> ServerFacts:
    """Ask the server whether it serves ``zone``, knows ``key``, and what it runs."""
    plain = _ask(dns.message.make_query(zone, "SOA", flags=0), endpoint, timeout)
    signed_query = dns.message.make_query(zone, "SOA", flags=0)
    signed_query.use_tsig(key.keyring(), keyname=key.dns_name)
    signed = _ask(signed_query, endpoint, timeout)
    return ServerFacts(
        serves_zone=None if plain is None else _serves(plain, zone),
        knows_key=None if signed is None else signed.verified,
        mname=None if plain is None else _mname(plain, zone),
        software=_software(endpoint, timeout),
        key_error=0 if signed is None else signed.tsig_error,
    )


def _ask(query: dns.message.Message, endpoint: Endpoint, timeout: float) -> Reply | None:
    try:
        return exchange(query, endpoint, timeout)
    except (OSError, dns.exception.DNSException):
        return None


def _serves(reply: Reply, zone: str) -> bool:
    return (
        reply.rcode == dns.rcode.NOERROR and reply.authoritative and _mname(reply, zone) is not None
    )


def _mname(reply: Reply, zone: str) -> str | None:
    rrset = reply.message.get_rrset(
        reply.message.answer, dns.name.from_text(zone), dns.rdataclass.IN, dns.rdatatype.SOA
    )
    return None if rrset is None else str(rrset[0].mname.to_text())


def _software(endpoint: Endpoint, timeout: float) -> str:
    """version.bind (CH TXT): "9.18.49-...", "Knot DNS 3.2.6", "PowerDNS Authoritative ..."."""
    query = dns.message.make_query("version.bind.", "TXT", rdclass="CH", flags=0)
    try:
        response = dns.query.udp(query, endpoint.host, timeout=timeout, port=endpoint.port)
    except (OSError, dns.exception.DNSException):
        return ""
    for rrset in response.answer:
        for rdata in rrset:
            strings = getattr(rdata, "strings", ())
            return b"".join(strings).decode("utf-8", "replace")
    return ""
