"""Names and addresses of one lab instance.

Every lab gets a 16-bit id.  It names the namespaces (``c6a1b2-client``), the interfaces and
the ULA segment ``fd00:c6:a1b2::/64``, so two labs (demo + tests) never collide and a leaked
namespace can be traced back to its lab.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

# More authoritative servers: Knot, PowerDNS, NSD. Their hosts are wired at start (a few
# ms); their daemons start only when a test asks for them (``Lab.start_servers``).
SERVER_ROLES: tuple[str, ...] = ("knot", "pdns", "nsd")
# A fleet (issue #16): three etcd members and three certv6 hosts, wired at start like the
# servers above; etcd starts only when a test asks for it (tests/lab/fleet.py).
FLEET_ROLES: tuple[str, ...] = ("etcd1", "etcd2", "etcd3", "web1", "web2", "web3")
# Every host namespace on the lab segment, in the order they are created.
HOST_ROLES: tuple[str, ...] = (
    "client",
    "tld",
    "ns1",
    "ns2",
    "ns3",
    "nat64",
    "blackhole",
    "ca",
    "resolver",
    *SERVER_ROLES,
    *FLEET_ROLES,
)
BRIDGE_ROLE = "bridge"  # holds the segment's bridge
# ns4.aonly.test: IPv4 only, on a link of its own to the nat64 host (not on the bridge).
IPV4_ROLE = "ns4"
ALL_ROLES: tuple[str, ...] = (BRIDGE_ROLE, *HOST_ROLES, IPV4_ROLE)

# Short forms for interface names: "<id>-<abbr>" must fit IFNAMSIZ (15 characters).
_ABBR = {
    "client": "cli",
    "tld": "tld",
    "ns1": "ns1",
    "ns2": "ns2",
    "ns3": "ns3",
    "nat64": "nat64",
    "blackhole": "bhole",
    "ca": "ca",
    "resolver": "res",
    "knot": "knot",
    "pdns": "pdns",
    "nsd": "nsd",
    **{role: role for role in FLEET_ROLES},
}

# Host part of each role's address inside the lab /64.  "resolver" carries three.
_HOST_SUFFIX = {
    "client": "10",
    "tld": "53",
    "ns1": "a1",
    "ns2": "a2",
    "ns3": "a3",
    "nat64": "64",  # the NAT64 router (tayga) between the lab and ns4's IPv4 link
    "blackhole": "dead",
    "ca": "ca",
    "knot": "b1",
    "pdns": "b2",
    "nsd": "b3",
    "knot_delegate": "b4",  # a second address of the knot host, for a test's own knotd
    "etcd1": "e1",
    "etcd2": "e2",
    "etcd3": "e3",
    "web1": "c1",
    "web2": "c2",
    "web3": "c3",
}
_RESOLVER_SUFFIXES = {"client": "35", "client_nat64": "36", "ca": "37"}

# A network-specific NAT64 prefix (RFC 6052) inside ULA space, so nothing can leave the lab.
# tayga drops the documentation ranges (192.0.2.0/24, ...) under the well-known prefix
# 64:ff9b::/96 (RFC 6052 section 3.1); under a network-specific one it translates them.
NAT64_PREFIX = "fd00:64:ff9b::/96"
# The IPv4 side of the NAT64: ns4.aonly.test (TEST-NET-1) on a link of its own with the
# NAT64 router, tayga's own address and its pool for IPv6 clients, and the fixed address
# ns1 has there (so ns4 can transfer aonly.test from it).
NS4_IPV4 = "192.0.2.53"  # ipv4-ok: the IPv4-only nameserver behind the lab's NAT64
NAT64_ROUTER_IPV4 = "192.0.2.1"  # ipv4-ok
TAYGA_IPV4 = "192.168.255.1"  # ipv4-ok
TAYGA_POOL = "192.168.255.0/25"  # ipv4-ok
TAYGA_ROUTES = "192.168.255.0/24"  # ipv4-ok: the pool and the fixed mappings
NS1_IPV4 = "192.168.255.161"  # ipv4-ok: ns1 as ns4 sees it (a tayga "map" line)
# RFC 7050: ipv4only.arpa has A 192.0.0.170 and 192.0.0.171.
IPV4ONLY_ADDRESSES = ("192.0.0.170", "192.0.0.171")

RELAY_PORT = 10053
PEBBLE_PORT = 14000
PEBBLE_MANAGEMENT_PORT = 15000
# The upstream Pebble build (ARI, profiles, dns-account-01, dns-persist-01), on demand.
UPSTREAM_PEBBLE_PORT = 14100
UPSTREAM_PEBBLE_MANAGEMENT_PORT = 15100
# A second CA on the same host (its own issuing root), on demand: Lab.start_second_ca().
PEBBLE2_PORT = 14002
PEBBLE2_MANAGEMENT_PORT = 15002


def synthesize(prefix: str, ipv4: str) -> str:
    """RFC 6052 address of ``ipv4`` under a /96 NAT64 prefix."""
    net = ipaddress.IPv6Network(prefix)
    if net.prefixlen != 96:
        raise ValueError(f"only /96 NAT64 prefixes are supported, got {prefix}")
    v4 = int(ipaddress.IPv4Address(ipv4))
    return str(ipaddress.IPv6Address(int(net.network_address) | v4))


@dataclass(frozen=True)
class Plan:
    """Everything that follows from the lab's 16-bit number."""

    number: int

    def __post_init__(self) -> None:
        if not 0 <= self.number <= 0xFFFF:
            raise ValueError(f"lab number out of range: {self.number}")

    @property
    def id(self) -> str:
        return f"c6{self.number:04x}"

    @property
    def network(self) -> ipaddress.IPv6Network:
        return ipaddress.IPv6Network(f"fd00:c6:{self.number:x}::/64")

    def netns(self, role: str) -> str:
        if role not in ALL_ROLES:
            raise KeyError(f"unknown lab role {role!r}; known: {', '.join(ALL_ROLES)}")
        return f"{self.id}-{role}"

    @property
    def namespaces(self) -> list[str]:
        return [self.netns(role) for role in ALL_ROLES]

    # Interface names.  The host end is the same in every host namespace, which keeps the
    # per-host commands uniform; the bridge end names the host it leads to.
    @property
    def bridge_ifname(self) -> str:
        return f"{self.id}-br"

    @property
    def host_ifname(self) -> str:
        return f"{self.id}-eth"

    def port_ifname(self, role: str) -> str:
        return f"{self.id}-{_ABBR[role]}"

    @property
    def ipv4_ifname(self) -> str:
        """Both ends of the IPv4 link between the nat64 host and ns4."""
        return f"{self.id}-v4"

    def _addr(self, suffix: str) -> str:
        return str(self.network.network_address + int(suffix, 16))

    def addr(self, role: str) -> str:
        """The lab /64 address of a host role (not "resolver", which has three)."""
        return self._addr(_HOST_SUFFIX[role])

    @property
    def client_resolver(self) -> str:
        return self._addr(_RESOLVER_SUFFIXES["client"])

    @property
    def client_resolver_nat64(self) -> str:
        return self._addr(_RESOLVER_SUFFIXES["client_nat64"])

    @property
    def ca_resolver(self) -> str:
        return self._addr(_RESOLVER_SUFFIXES["ca"])

    @property
    def nat64_ns_addr(self) -> str:
        return synthesize(NAT64_PREFIX, NS4_IPV4)

    def host_addresses(self, role: str) -> list[str]:
        """Addresses configured in a host namespace (all in the lab /64)."""
        if role == "resolver":
            return [self.client_resolver, self.client_resolver_nat64, self.ca_resolver]
        if role == "knot":
            return [self.addr("knot"), self.addr("knot_delegate")]
        return [self.addr(role)]

    @property
    def ipv4only_synthesized(self) -> list[str]:
        return [synthesize(NAT64_PREFIX, a) for a in IPV4ONLY_ADDRESSES]
