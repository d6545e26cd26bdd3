"""This host's IPv6 addresses and default route, read from /proc (no tools needed).

``/proc/net/if_inet6`` gives every address with its scope and the kernel's
address flags: *temporary* (RFC 8981 privacy addresses, replaced every day or
so), *deprecated* (preferred lifetime over: about to go), *permanent* (set by
hand; without it the address was learned from router advertisements or DHCPv6,
so it follows the network's possibly dynamic prefix). A name's AAAA record
should point at an address that is neither temporary nor deprecated.
``/proc/net/ipv6_route`` gives the routes; a default route is ``::/0``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from certv6.doctor.report import Finding, fail, ok, warn

PROC_NET = Path("/proc/net")
# include/uapi/linux/if_addr.h
IFA_F_TEMPORARY = 0x01
IFA_F_DADFAILED = 0x08
IFA_F_DEPRECATED = 0x20
IFA_F_TENTATIVE = 0x40
IFA_F_PERMANENT = 0x80
SCOPES = {0x00: "global", 0x10: "host", 0x20: "link", 0x40: "site"}
# include/uapi/linux/ipv6_route.h
RTF_UP = 0x0001
RTF_GATEWAY = 0x0002
RTF_REJECT = 0x0200
UNIQUE_LOCAL = ipaddress.IPv6Network("fc00::/7")  # RFC 4193


@dataclass(frozen=True, slots=True)
class HostAddress:
    address: str
    interface: str
    prefixlen: int
    scope: str
    flags: int

    @property
    def is_global(self) -> bool:
        return self.scope == "global"

    @property
    def temporary(self) -> bool:
        return bool(self.flags & IFA_F_TEMPORARY)

    @property
    def deprecated(self) -> bool:
        return bool(self.flags & IFA_F_DEPRECATED)

    @property
    def learned(self) -> bool:
        """From router advertisements or DHCPv6 rather than configured by hand."""
        return not self.flags & IFA_F_PERMANENT

    @property
    def usable(self) -> bool:
        return not self.flags & (IFA_F_TENTATIVE | IFA_F_DADFAILED)

    @property
    def unique_local(self) -> bool:
        return ipaddress.IPv6Address(self.address) in UNIQUE_LOCAL

    @property
    def stable(self) -> bool:
        """Fit for an AAAA record: global, usable, neither temporary nor deprecated."""
        return self.is_global and self.usable and not self.temporary and not self.deprecated

    def describe(self) -> str:
        kinds = [
            "temporary" if self.temporary else "stable",
            *(["deprecated"] if self.deprecated else []),
            *(["unique-local"] if self.unique_local else []),
            "learned" if self.learned else "static",
            *([] if self.usable else ["not usable (DAD)"]),
        ]
        return f"{self.address} ({', '.join(kinds)})"


@dataclass(frozen=True, slots=True)
class DefaultRoute:
    gateway: str | None
    interface: str

    def describe(self) -> str:
        via = f"via {self.gateway} " if self.gateway else ""
        return f"default {via}dev {self.interface}"


def parse_if_inet6(text: str) -> tuple[HostAddress, ...]:
    """Lines of ``address ifindex prefixlen scope flags name``, all hex but the name."""
    found = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) != 6:
            continue
        address = str(ipaddress.IPv6Address(bytes.fromhex(parts[0])))
        scope = SCOPES.get(int(parts[3], 16) & 0xF0, "other")
        found.append(HostAddress(address, parts[5], int(parts[2], 16), scope, int(parts[4], 16)))
    return tuple(found)


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
    try:
        return parse_if_inet6((proc / "if_inet6").read_text())
    except OSError:
        return ()  # no IPv6 in this kernel at all: reported as "no global address"


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
