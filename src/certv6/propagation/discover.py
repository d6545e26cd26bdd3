"""From challenge records to a ``Plan``: owners -> CNAME chains -> zones -> addresses.

Look-ups go through the host's recursive resolver (``certv6.dnsquery.Dns``); only
the polling itself talks to authoritative servers. A nameserver with only A
records is reached through NAT64 when a prefix is known (configured, or found by
RFC 7050 discovery), and is otherwise planned as unverifiable, never dropped.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field

from certv6.dnsquery import Dns, NameserverAddresses
from certv6.errors import DnsError, NoReachableNameserver
from certv6.model import RRsetChange, TxtRecord
from certv6.parallel import map_in_parallel
from certv6.propagation import nat64
from certv6.propagation.plan import (
    Delegation,
    Nameserver,
    Plan,
    PropagationSettings,
    Reach,
    Server,
    Target,
)

_DISCOVERY_THREADS = 8  # CNAME and SOA walks of many names, in parallel through the resolver


def discover(
    records: Sequence[TxtRecord | RRsetChange], settings: PropagationSettings, dns: Dns
) -> Plan:
    """Find every authoritative address that must serve ``records``.

    Raises:
        DnsError: a CNAME chain loops or a look-up fails (ZoneNotFound: no zone).
        NoReachableNameserver: some zone has no nameserver this host could ask.
    """
    targets = find_targets(records, dns)
    zones = tuple(dict.fromkeys(target.zone for target in targets))
    listed = {zone: dns.nameservers(zone) for zone in zones}
    prefix, notes = nat64_prefix(settings, dns)
    needs_nat64 = any(ns.a and not ns.aaaa for found in listed.values() for ns in found)
    warnings = notes if needs_nat64 else ()
    servers: list[Server] = []
    for zone in zones:
        servers.extend(servers_of(zone, listed[zone], prefix))
        warnings += tuple(
            f"{ns.name} (NS of {zone}) has no address"
            for ns in listed[zone]
            if not ns.aaaa and not ns.a
        )
        _require_askable(zone, servers)
    return Plan(
        targets=targets,
        servers=tuple(servers),
        nameservers=tuple(
            Nameserver(zone, ns.name.lower(), ns.aaaa, ns.a)
            for zone in zones
            for ns in listed[zone]
        ),
        delegations=tuple(delegation_of(zone, listed[zone], dns, prefix) for zone in zones),
        nat64_prefix=prefix,
        warnings=warnings,
    )


def find_targets(records: Sequence[TxtRecord | RRsetChange], dns: Dns) -> tuple[Target, ...]:
    """Group values by owner, then follow each owner's CNAME chain to its zone.

    A TXT record adds its value; an RRset change its added values, and the
    values it removes must be gone.
    """
    wanted: dict[str, _Wanted] = {}
    for record in records:
        owner = _absolute(record.owner)
        if isinstance(record, RRsetChange):
            entry = wanted.setdefault(owner, _Wanted(record.rdtype))
            entry.values.update(record.add)
            entry.absent.update(record.gone)
        else:
            wanted.setdefault(owner, _Wanted("TXT")).values.add(record.value)
    # Usually every chain is known already (dns01.effective_records asked for them).
    dns.prefetch_chains(wanted)
    known = {
        owner: _target(dns, owner, wanted[owner]) for owner in wanted if dns.knows_chain(owner)
    }
    left = [owner for owner in wanted if owner not in known]
    found = map_in_parallel(
        lambda owner: _target(dns, owner, wanted[owner]), left, threads=_DISCOVERY_THREADS
    )
    known.update(zip(left, found, strict=True))
    return tuple(known[owner] for owner in wanted)


@dataclass
class _Wanted:
    rdtype: str
    values: set[str] = field(default_factory=set)
    absent: set[str] = field(default_factory=set)


def _target(dns: Dns, owner: str, wanted: _Wanted) -> Target:
    # A CNAME'd owner must be looked up at the end of its chain: the zone of the
    # owner itself is the wrong place to look (LIBRARY-NOTES, dnspython pitfalls).
    chain = tuple(name.lower() for name in dns.follow_cname(owner))
    zone = dns.find_zone(chain[-1]).lower()
    return Target(
        owner=owner,
        chain=chain,
        zone=zone,
        values=tuple(sorted(wanted.values)),
        rdtype=wanted.rdtype,
        absent=tuple(sorted(wanted.absent - wanted.values)),
    )


def nat64_prefix(settings: PropagationSettings, dns: Dns) -> tuple[str | None, tuple[str, ...]]:
    """The NAT64 prefix to use, and notes about finding it.

    A configured prefix wins; otherwise RFC 7050 discovery asks the host's resolver
    for AAAA of ipv4only.arpa. It runs even when every nameserver has an AAAA: behind
    DNS64 those may be synthesized, and the report should say the path is NAT64.
    """
    if settings.nat64_prefix is not None:
        return str(nat64.parse_prefix(settings.nat64_prefix)), ()
    if not settings.discover_nat64:
        return None, ()
    try:
        answers = dns.addresses(nat64.IPV4ONLY_NAME, "AAAA")
    except DnsError as error:
        return None, (f"NAT64 discovery failed: {error}",)
    prefixes = nat64.prefixes_from_answers(answers)
    if not prefixes:
        return None, ("no NAT64 prefix: the resolver synthesizes no AAAA for ipv4only.arpa",)
    notes = (
        ()
        if len(prefixes) == 1
        else (f"several NAT64 prefixes ({', '.join(map(str, prefixes))}); using {prefixes[0]}",)
    )
    return str(prefixes[0]), notes


def servers_of(
    zone: str, nameservers: Sequence[NameserverAddresses], prefix: str | None
) -> tuple[Server, ...]:
    """One ``Server`` per distinct address, naming every NS that resolves to it."""
    names: dict[tuple[str, Reach, str], list[str]] = {}
    for ns in nameservers:
        for key in _addresses_of(ns, prefix):
            names.setdefault(key, []).append(ns.name.lower())
    return tuple(
        Server(zone, tuple(sorted(ns_names)), address, reach, ipv4)
        for (address, reach, ipv4), ns_names in sorted(names.items(), key=_server_order)
    )


def _addresses_of(ns: NameserverAddresses, prefix: str | None) -> list[tuple[str, Reach, str]]:
    # The A records of a nameserver that has AAAA are only reported: the same
    # server is assumed to answer on both families (docs/propagation.md).
    network = None if prefix is None else ipaddress.IPv6Network(prefix)
    if ns.aaaa:
        return [_classify(ipaddress.IPv6Address(a), network) for a in ns.aaaa]
    if network is None:
        return [("", Reach.UNVERIFIABLE, a) for a in ns.a]
    return [
        (str(nat64.synthesize(ipaddress.IPv4Address(a), network)), Reach.NAT64, a) for a in ns.a
    ]


def _classify(
    address: ipaddress.IPv6Address, network: ipaddress.IPv6Network | None
) -> tuple[str, Reach, str]:
    """An AAAA inside the NAT64 prefix was synthesized by DNS64 (RFC 6147): say so."""
    if network is not None and address in network:
        return str(address), Reach.NAT64, str(nat64.extract(address, network.prefixlen))
    return str(address), Reach.DIRECT, ""


def _server_order(item: tuple[tuple[str, Reach, str], list[str]]) -> tuple[str, str, str]:
    (address, _, ipv4), ns_names = item
    return (min(ns_names), address, ipv4)


def _require_askable(zone: str, servers: Sequence[Server]) -> None:
    if not any(server.address for server in servers if server.zone == zone):
        raise NoReachableNameserver(
            f"no nameserver of {zone} can be asked from this host (no AAAA, no NAT64)",
            qname=zone,
        )


def delegation_of(
    zone: str, listed: Sequence[NameserverAddresses], dns: Dns, prefix: str | None
) -> Delegation:
    """The parent zone's servers to ask for ``zone``'s delegation NS set."""
    child = tuple(sorted(ns.name.lower() for ns in listed))
    if zone == ".":
        return Delegation(zone, "", (), child, note="the root zone has no parent")
    try:
        parent = dns.find_zone(_parent_name(zone)).lower()
        parent_servers = servers_of(parent, dns.nameservers(parent), prefix)
    except DnsError as error:
        return Delegation(zone, "", (), child, note=f"parent zone not checked: {error}")
    askable = tuple(server for server in parent_servers if server.address)
    note = "" if askable else f"no nameserver of the parent zone {parent} can be asked"
    return Delegation(zone, parent, askable, child, note)


def _parent_name(zone: str) -> str:
    """``example.org.`` -> ``org.``, ``org.`` -> ``.`` (zone names are absolute)."""
    rest = zone.split(".", 1)[1]
    return rest or "."


def _absolute(name: str) -> str:
    name = name.lower()
    return name if name.endswith(".") else name + "."
