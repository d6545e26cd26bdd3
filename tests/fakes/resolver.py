"""A DNS server on [::1] that answers the SOA walks of made-up zones, like a resolver would.

Providers find the zone of an owner through certv6's resolver (``Dns.find_zone``).
Tests of HTTP providers point certv6 at this instead of a real resolver: it knows
a few zones, answers NXDOMAIN with the zone's SOA below them (RFC 2308), and
REFUSED for anything else, so no query ever leaves the machine.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterable
from types import TracebackType

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset

from certv6.dnsquery import Dns, DnsSettings

Message = dns.message.Message  # inside the class, "dns" is the method below


class ZoneResolver:
    def __init__(self, zones: Iterable[str]) -> None:
        self.zones = [dns.name.from_text(zone) for zone in zones]
        self._sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        self._sock.bind(("::1", 0))
        self.port = self._sock.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def dns(self) -> Dns:
        """certv6's resolver, pointed here."""
        return Dns(DnsSettings(resolvers=(f"[::1]:{self.port}",), timeout=2.0))

    def __enter__(self) -> ZoneResolver:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._sock.close()  # the serving thread ends on the closed socket

    def _serve(self) -> None:
        while True:
            try:
                wire, peer = self._sock.recvfrom(4096)
                self._sock.sendto(self._answer(dns.message.from_wire(wire)).to_wire(), peer)
            except OSError:
                return
            except dns.exception.DNSException:
                continue

    def _answer(self, query: Message) -> Message:
        response = dns.message.make_response(query, recursion_available=True)
        qname = query.question[0].name
        zone = next((z for z in self.zones if qname.is_subdomain(z)), None)
        if zone is None:
            response.set_rcode(dns.rcode.REFUSED)
            return response
        soa = dns.rrset.from_text(
            zone, 60, "IN", "SOA", f"ns.{zone} hostmaster.{zone} 1 60 60 60 60"
        )
        if qname == zone and query.question[0].rdtype == dns.rdatatype.SOA:
            response.answer.append(soa)
        else:
            response.set_rcode(dns.rcode.NOERROR if qname == zone else dns.rcode.NXDOMAIN)
            response.authority.append(soa)
        return response
