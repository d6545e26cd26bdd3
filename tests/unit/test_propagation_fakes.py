"""Fakes that speak the DNS wire protocol, for the propagation tests.

``Authority`` answers queries from dnspython zones the way an authoritative server
does (AA, referrals at zone cuts, NXDOMAIN with the SOA). ``FakeNameserver`` serves
one over UDP and TCP on [::1]; ``MemoryTransport`` hands the same wire messages to
it without a socket (for FakeClock tests). The nameserver addresses in the zone
data are documentation addresses; ``Rerouted`` sends each to its fake's [::1] port.

This module has no tests of its own; the other test_propagation*.py files import it.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdataset
import dns.rdatatype
import dns.rrset
import dns.zone

from certv6.dnsquery import Dns, DnsSettings
from certv6.propagation.wire import UdpTcpTransport
from fakes.clock import FakeClock

SOA_LINE = "@ SOA ns1 hostmaster {serial} 3600 600 86400 60"


def zone_text(serial: int, body: str) -> str:
    return f"$TTL 60\n{SOA_LINE.format(serial=serial)}\n{body}\n"


class Authority:
    """Answers from zones like an authoritative server; thread-safe to edit."""

    def __init__(
        self,
        zones: Mapping[str, str],
        *,
        authoritative: bool = True,
        truncate_udp: bool = False,
        rcode: str | None = None,
    ) -> None:
        self.zones = {
            dns.name.from_text(origin): dns.zone.from_text(text, origin, relativize=False)
            for origin, text in zones.items()
        }
        self.authoritative = authoritative
        self.truncate_udp = truncate_udp
        self.rcode = rcode
        self.lock = threading.Lock()
        self.queries: list[tuple[str, str, bool]] = []  # (qname, qtype, tcp)

    def set_txt(self, owner: str, *values: str, bump: bool = True) -> None:
        """Replace the TXT RRset at ``owner`` (empty: delete) and bump the zone's serial."""
        name = dns.name.from_text(owner)
        with self.lock:
            zone = self._zone_for(name)
            assert zone is not None, owner
            if values:
                quoted = [f'"{value}"' for value in values]
                rdataset = dns.rdataset.from_text("IN", "TXT", 60, *quoted)
                zone.replace_rdataset(name, rdataset)
            else:
                zone.delete_rdataset(name, "TXT")
            if bump:
                self._bump(zone)

    def _bump(self, zone: dns.zone.Zone) -> None:
        soa = zone.get_rdataset(_origin(zone), "SOA")
        assert soa is not None
        new = soa[0].replace(serial=soa[0].serial + 1)
        zone.replace_rdataset(_origin(zone), dns.rdataset.from_rdata(60, new))

    def _zone_for(self, name: dns.name.Name) -> dns.zone.Zone | None:
        found = [(origin, z) for origin, z in self.zones.items() if name.is_subdomain(origin)]
        return max(found, key=lambda pair: len(pair[0]), default=(None, None))[1]

    def respond(self, query: dns.message.Message, *, tcp: bool) -> dns.message.Message:
        question = query.question[0]
        self.queries.append((question.name.to_text(), dns.rdatatype.to_text(question.rdtype), tcp))
        response = dns.message.make_response(query)
        if self.rcode is not None:
            response.set_rcode(dns.rcode.from_text(self.rcode))
            return response
        with self.lock:
            self._fill(response, question.name, question.rdtype)
        if self.truncate_udp and not tcp:
            response.answer.clear()
            response.flags |= dns.flags.TC
        return response

    def _fill(self, response: dns.message.Message, qname: dns.name.Name, rdtype: int) -> None:
        zone = self._zone_for(qname)
        if zone is None:
            response.set_rcode(dns.rcode.REFUSED)
            return
        cut = self._cut(zone, qname)
        if cut is not None:  # a referral: the child's NS set, AA clear (RFC 1034 4.3.2)
            response.authority.append(cut)
            return
        if self.authoritative:
            response.flags |= dns.flags.AA
        node = zone.get_node(qname)
        if node is None:
            response.set_rcode(dns.rcode.NXDOMAIN)
            self._add_soa(response, zone)
            return
        kind = dns.rdatatype.RdataType.make(rdtype)
        rdataset = node.get_rdataset(dns.rdataclass.IN, kind) or node.get_rdataset(
            dns.rdataclass.IN, dns.rdatatype.CNAME
        )
        if rdataset is None:
            self._add_soa(response, zone)
            return
        response.answer.append(_rrset(qname, rdataset))

    def _cut(self, zone: dns.zone.Zone, qname: dns.name.Name) -> dns.rrset.RRset | None:
        labels = qname.relativize(_origin(zone)).labels
        for depth in range(len(labels) - 1, -1, -1):  # the topmost cut wins
            name = dns.name.Name(labels[depth:]).derelativize(_origin(zone))
            rdataset = zone.get_rdataset(name, "NS")
            if rdataset is not None:
                return _rrset(name, rdataset)
        return None

    @staticmethod
    def _add_soa(response: dns.message.Message, zone: dns.zone.Zone) -> None:
        soa = zone.get_rdataset(_origin(zone), "SOA")
        assert soa is not None
        response.authority.append(_rrset(_origin(zone), soa))


def _origin(zone: dns.zone.Zone) -> dns.name.Name:
    assert zone.origin is not None
    return zone.origin


def _rrset(name: dns.name.Name, rdataset: dns.rdataset.Rdataset) -> dns.rrset.RRset:
    rrset = dns.rrset.RRset(name, rdataset.rdclass, rdataset.rdtype)
    rrset.update(rdataset)  # type: ignore[no-untyped-call]
    return rrset


class FakeNameserver:
    """An ``Authority`` on [::1] over UDP and TCP; ``authority=None`` never answers."""

    def __init__(self, authority: Authority | None) -> None:
        self.authority = authority
        self.udp, self.tcp, self.port = _bind_pair()
        self._stop = threading.Event()
        self._threads = []
        if authority is not None:
            self._threads = [
                threading.Thread(target=self._serve_udp, daemon=True),
                threading.Thread(target=self._serve_tcp, daemon=True),
            ]
        for thread in self._threads:
            thread.start()

    def close(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(1)
        self.udp.close()
        self.tcp.close()

    def _serve_udp(self) -> None:
        assert self.authority is not None
        self.udp.settimeout(0.05)
        while not self._stop.is_set():
            try:
                wire, peer = self.udp.recvfrom(65535)
            except (TimeoutError, OSError):
                continue
            response = self.authority.respond(dns.message.from_wire(wire), tcp=False)
            self.udp.sendto(response.to_wire(max_size=1232), peer)

    def _serve_tcp(self) -> None:
        self.tcp.settimeout(0.05)
        while not self._stop.is_set():
            try:
                connection, _ = self.tcp.accept()
            except (TimeoutError, OSError):
                continue
            with connection:
                self._answer_tcp(connection)

    def _answer_tcp(self, connection: socket.socket) -> None:
        assert self.authority is not None
        connection.settimeout(2)
        with contextlib.suppress(OSError, struct.error):
            (length,) = struct.unpack("!H", _read(connection, 2))
            query = dns.message.from_wire(_read(connection, length))
            wire = self.authority.respond(query, tcp=True).to_wire()
            connection.sendall(struct.pack("!H", len(wire)) + wire)


def _read(connection: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = connection.recv(size - len(data))
        if not chunk:
            raise OSError("closed")
        data += chunk
    return data


def _bind_pair() -> tuple[socket.socket, socket.socket, int]:
    """A UDP and a TCP socket on the same [::1] port."""
    for _ in range(20):
        udp = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        udp.bind(("::1", 0))
        port = udp.getsockname()[1]
        tcp = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        try:
            tcp.bind(("::1", port))
        except OSError:
            udp.close()
            tcp.close()
            continue
        tcp.listen(64)
        return udp, tcp, port
    raise RuntimeError("no free port pair on [::1]")


class Rerouted:
    """A Transport that sends queries for each planned address to its fake on [::1]."""

    def __init__(self, routes: dict[str, int]) -> None:
        self.routes = routes
        self.asked: list[tuple[str, str]] = []  # (address, qname)
        # One transport per fake, as production keeps one per run: concurrent
        # queries to one fake share its sockets.
        self._transports = {port: UdpTcpTransport(port) for port in routes.values()}

    async def exchange(
        self, query: dns.message.Message, address: str, timeout: float
    ) -> tuple[dns.message.Message, bool]:
        self.asked.append((address, query.question[0].name.to_text()))
        if address not in self.routes:
            raise OSError(101, "Network is unreachable")
        return await self._transports[self.routes[address]].exchange(query, "::1", timeout)


class MemoryTransport:
    """A Transport that answers from ``Authority`` objects without sockets.

    Messages still go through to_wire/from_wire. ``None`` stands for a dead address.
    With a ``clock``, ``timed`` also notes when each query was sent.
    """

    def __init__(
        self, authorities: dict[str, Authority | None], clock: FakeClock | None = None
    ) -> None:
        self.authorities = authorities
        self.asked: list[tuple[str, str, str]] = []  # (address, qname, qtype)
        self.timed: list[tuple[str, str, str, float]] = []  # ... and when
        self._clock = clock

    async def exchange(
        self, query: dns.message.Message, address: str, timeout: float
    ) -> tuple[dns.message.Message, bool]:
        question = query.question[0]
        entry = (address, question.name.to_text(), dns.rdatatype.to_text(question.rdtype))
        self.asked.append(entry)
        if self._clock is not None:
            self.timed.append((*entry, self._clock.monotonic()))
        await asyncio.sleep(0)
        authority = self.authorities[address]
        if authority is None:
            raise TimeoutError
        request = dns.message.from_wire(query.to_wire())
        response = authority.respond(request, tcp=False)
        tcp = bool(response.flags & dns.flags.TC)
        if tcp:
            response = authority.respond(request, tcp=True)
        return dns.message.from_wire(response.to_wire()), tcp


@dataclass
class World:
    """A resolver that knows every zone, plus authoritative fakes per address."""

    resolver: FakeNameserver
    servers: dict[str, FakeNameserver]
    dns: Dns
    transport: Rerouted
    extra: list[FakeNameserver] = field(default_factory=list)

    def authority(self, address: str) -> Authority:
        found = self.servers[address].authority
        assert found is not None
        return found

    def publish(self, owner: str, *values: str, at: tuple[str, ...] | None = None) -> None:
        """Put TXT values at ``owner`` on the fakes at ``at`` (default: all serving its zone)."""
        for address in at if at is not None else self.serving(owner):
            self.authority(address).set_txt(owner, *values)

    def serving(self, owner: str) -> tuple[str, ...]:
        """Addresses of the live fakes serving the zone that holds ``owner``."""
        name = dns.name.from_text(owner)
        origins = {o for s in self.servers.values() if s.authority for o in s.authority.zones}
        deepest = max((o for o in origins if name.is_subdomain(o)), key=len)
        return tuple(
            address
            for address, server in self.servers.items()
            if server.authority is not None and deepest in server.authority.zones
        )

    def close(self) -> None:
        for server in [self.resolver, *self.servers.values(), *self.extra]:
            server.close()


@contextlib.contextmanager
def world(
    zones: Mapping[str, str],
    serves: Mapping[str, tuple[str, ...]],
    *,
    silent: tuple[str, ...] = (),
    options: Mapping[str, Mapping[str, object]] | None = None,
    resolver_zones: Mapping[str, str] | None = None,
) -> Iterator[World]:
    """Start a resolver with every zone and one authoritative fake per address.

    ``serves`` maps an address (as in the zone data) to the zones it serves; each
    fake gets its own copy, so copies can differ. Addresses in ``silent`` get a
    bound socket that never answers. ``options`` are Authority keyword arguments.
    """
    resolver = FakeNameserver(Authority(resolver_zones or zones))
    servers: dict[str, FakeNameserver] = {}
    for address, origins in serves.items():
        if address in silent:
            servers[address] = FakeNameserver(None)
            continue
        extra = dict((options or {}).get(address, {}))
        mine = {origin: zones[origin] for origin in origins}
        servers[address] = FakeNameserver(Authority(mine, **extra))  # type: ignore[arg-type]
    settings = DnsSettings(resolvers=(f"[::1]:{resolver.port}",), timeout=1.0)
    routes = {address: server.port for address, server in servers.items()}
    built = World(resolver, servers, Dns(settings), Rerouted(routes))
    try:
        yield built
    finally:
        built.close()
