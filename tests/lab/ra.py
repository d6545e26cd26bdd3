"""Send one router advertisement (RFC 4861 4.2): ``python ra.py IFACE PREFIX,VALID,PREFERRED...``.

A script on its own (standard library only), so ``slaac.Uplink`` can run it in
the bridge namespace with ``ip netns exec``; the test lab imports ``Prefix``.
"""

from __future__ import annotations

import ipaddress
import socket
import struct
import sys
from dataclasses import dataclass

ICMPV6_ROUTER_ADVERTISEMENT = 134
OPTION_PREFIX_INFORMATION = 3
FLAG_ON_LINK, FLAG_AUTONOMOUS = 0x80, 0x40


@dataclass(frozen=True)
class Prefix:
    network: str  # a /64
    valid: int = 3600
    preferred: int = 1800


def router_advertisement(prefixes: list[Prefix]) -> bytes:
    """An RA (RFC 4861 4.2) without a router lifetime, carrying prefix information options.

    The checksum is left 0: the kernel fills it in for ICMPv6 raw sockets (RFC 3542 3.1).
    """
    message = struct.pack("!BBHBBHII", ICMPV6_ROUTER_ADVERTISEMENT, 0, 0, 64, 0, 0, 0, 0)
    for prefix in prefixes:
        network = ipaddress.IPv6Network(prefix.network)
        message += struct.pack(
            "!BBBBIII",
            OPTION_PREFIX_INFORMATION,
            4,  # length in units of 8 octets
            network.prefixlen,
            FLAG_ON_LINK | FLAG_AUTONOMOUS,
            prefix.valid,
            prefix.preferred,
            0,
        )
        message += network.network_address.packed
    return message


def send(interface: str, prefixes: list[Prefix]) -> None:
    """Send one RA to all nodes (ff02::1) out of ``interface``, hop limit 255 (RFC 4861 6.1.2)."""
    index = socket.if_nametoindex(interface)
    with socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6) as sock:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, index)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_LOOP, 0)
        sock.sendto(router_advertisement(prefixes), ("ff02::1", 0, 0, index))


if __name__ == "__main__":
    send(
        sys.argv[1],
        [Prefix(p, int(v), int(pl)) for p, v, pl in (spec.split(",") for spec in sys.argv[2:])],
    )
