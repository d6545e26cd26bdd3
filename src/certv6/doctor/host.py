"""What doctor makes of this host's IPv6 addresses and default route.

The addresses come from ``certv6.ifaddr`` (netlink, /proc as the fallback),
with the kernel's flags: *temporary* (RFC 8981 privacy addresses, replaced
every day or so), *deprecated* (preferred lifetime over: about to go),
*permanent* (set by hand; without it the address was learned from router
advertisements or DHCPv6, so it follows the network's possibly dynamic prefix).
A name's AAAA record should point at an address that is neither temporary nor
deprecated. ``/proc/net/ipv6_route`` gives the routes; a default route is ``::/0``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from certv6.doctor.report import Finding, fail, ok, warn
from certv6.ifaddr import PROC_NET, HostAddress, parse_if_inet6, read_proc_addresses

__all__ = [
    "DefaultRoute",
    "HostAddress",
    "address_finding",
    "parse_if_inet6",
    "parse_ipv6_route",
    "read_addresses",
    "read_default_routes",
    "route_finding",
]

# include/uapi/linux/ipv6_route.h
RTF_UP = 0x0001
RTF_GATEWAY = 0x0002
RTF_REJECT = 0x0200


@dataclass(frozen=True, slots=True)
class DefaultRoute:
    gateway: str | None
    interface: str

    def describe(self) -> str:
        via = f"via {self.gateway} " if self.gateway else ""
        return f"default {via}dev {self.interface}"


def parse_ipv6_route(text: str) -> tuple[DefaultRoute, ...]:
    """Default routes (``::/0``, up, not a reject route) from /proc/net/ipv6_route."""
    found = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) != 10 or int(parts[0], 16) or int(parts[1], 16):
            continue
        flags = int(parts[8], 16)
        if not flags & RTF_UP or flags & RTF_REJECT or parts[9] == "lo":
            continue
        gateway = str(ipaddress.IPv6Address(bytes.fromhex(parts[4])))
        found.append(DefaultRoute(gateway if flags & RTF_GATEWAY else None, parts[9]))
    return tuple(found)


def read_addresses(proc: Path = PROC_NET) -> tuple[HostAddress, ...]:
    """The addresses as /proc shows them (``certv6.ifaddr.read_addresses`` asks netlink)."""
    return read_proc_addresses(proc)


def read_default_routes(proc: Path = PROC_NET) -> tuple[DefaultRoute, ...]:
    try:
        return parse_ipv6_route((proc / "ipv6_route").read_text())
    except OSError:
        return ()


def address_finding(addresses: Sequence[HostAddress]) -> Finding:
    shown = [a for a in addresses if a.is_global]
    if not shown:
        return fail(
            "host",
            "addresses",
            "no global IPv6 address",
            "configure IPv6 on the host's uplink (router advertisements, DHCPv6 or static)",
        )
    listed = ", ".join(a.describe() for a in shown)
    if not any(a.stable for a in shown):
        return warn(
            "host",
            "addresses",
            f"only temporary or deprecated global addresses: {listed}",
            "give the host a stable address for its AAAA records",
        )
    if all(a.unique_local for a in shown):
        return warn(
            "host",
            "addresses",
            f"only unique-local addresses (fc00::/7): {listed}",
            "the internet is reachable only through a proxy (HTTPS_PROXY) or NAT",
        )
    return ok("host", "addresses", listed)


def route_finding(routes: Sequence[DefaultRoute]) -> Finding:
    if routes:
        return ok("host", "default route", "; ".join(route.describe() for route in routes))
    return warn(
        "host",
        "default route",
        "no IPv6 default route: only on-link and specially routed networks are reachable",
        "add a default route (router advertisements or static), or use HTTPS_PROXY",
    )
