"""``/proc/net/if_inet6``: the fallback when netlink is not allowed.

Lines of ``address ifindex prefixlen scope flags name``, all hex but the name.
The scope column holds the kernel's IPV6_ADDR_* scope bits, not rtnetlink's
RT_SCOPE_* values; the flags are the low eight bits only (no stable-privacy),
and there are no lifetimes.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

from certv6.ifaddr.address import HostAddress

PROC_NET = Path("/proc/net")
SCOPES = {0x00: "global", 0x10: "host", 0x20: "link", 0x40: "site"}


def parse_if_inet6(text: str) -> tuple[HostAddress, ...]:
    found = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) != 6:
            continue
        address = str(ipaddress.IPv6Address(bytes.fromhex(parts[0])))
        scope = SCOPES.get(int(parts[3], 16) & 0xF0, "other")
        found.append(HostAddress(address, parts[5], int(parts[2], 16), scope, int(parts[4], 16)))
    return tuple(found)


def read_proc_addresses(proc: Path = PROC_NET) -> tuple[HostAddress, ...]:
    try:
        return parse_if_inet6((proc / "if_inet6").read_text())
    except OSError:
        return ()  # no IPv6 in this kernel at all: reported as "no global address"
