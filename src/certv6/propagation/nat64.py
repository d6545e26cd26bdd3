"""IPv4-embedded IPv6 addresses (RFC 6052) and NAT64 prefix discovery (RFC 7050).

Pure functions over ``ipaddress``. A v6-only host reaches an IPv4-only nameserver
through a NAT64 by sending to the nameserver's IPv4 address embedded in the NAT64
prefix. Deliberately no ``is_global``/``is_private``: their answers for these
ranges changed between Python 3.11 and 3.13.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

# RFC 6052 section 2.2: the only prefix lengths a NAT64 may use.
PREFIX_LENGTHS = (32, 40, 48, 56, 64, 96)
# RFC 7050 section 2.2: the addresses ipv4only.arpa has, which DNS64 synthesizes.
WELL_KNOWN_IPV4 = (ipaddress.IPv4Address("192.0.0.170"), ipaddress.IPv4Address("192.0.0.171"))
WELL_KNOWN_PREFIX = ipaddress.IPv6Network("64:ff9b::/96")  # RFC 6052 section 2.1
IPV4ONLY_NAME = "ipv4only.arpa."

_U_OCTET_SHIFT = 56  # bits 64-71 of the address, counted from the left


def parse_prefix(text: str) -> ipaddress.IPv6Network:
    """Check a NAT64 prefix such as ``64:ff9b::/96``.

    Raises:
        ValueError: not an IPv6 network, host bits set, a length RFC 6052 does not
            allow, or a /96 prefix whose bits 64-71 are not zero (RFC 6052 2.2).
    """
    prefix = ipaddress.IPv6Network(text, strict=True)
    if prefix.prefixlen not in PREFIX_LENGTHS:
        raise ValueError(f"NAT64 prefix {text} must be /32, /40, /48, /56, /64 or /96")
    if (int(prefix.network_address) >> _U_OCTET_SHIFT) & 0xFF:
        raise ValueError(f"NAT64 prefix {text}: bits 64-71 must be zero (RFC 6052 2.2)")
    return prefix


def _bits_after_u_octet(length: int) -> int:
    """For a prefix of /32../64: the IPv4 address fills bits length..63 (32 - (64 - length)
    bits before the u-octet) and the rest, length - 32 bits, right after bits 64-71."""
    return length - 32


def synthesize(ipv4: ipaddress.IPv4Address, prefix: ipaddress.IPv6Network) -> ipaddress.IPv6Address:
    """Embed ``ipv4`` in ``prefix`` (RFC 6052 section 2.2); u-octet and suffix are zero."""
    if prefix.prefixlen not in PREFIX_LENGTHS:
        raise ValueError(f"RFC 6052 has no /{prefix.prefixlen} prefix")
    value = int(ipv4)
    if prefix.prefixlen == 96:
        return ipaddress.IPv6Address(int(prefix.network_address) | value)
    after = _bits_after_u_octet(prefix.prefixlen)
    head, tail = value >> after, value & ((1 << after) - 1)
    embedded = (head << 64) | (tail << (_U_OCTET_SHIFT - after))
    return ipaddress.IPv6Address(int(prefix.network_address) | embedded)


def extract(address: ipaddress.IPv6Address, length: int) -> ipaddress.IPv4Address:
    """The IPv4 address embedded in ``address`` under a /``length`` prefix (RFC 6052 2.2)."""
    if length not in PREFIX_LENGTHS:
        raise ValueError(f"RFC 6052 has no /{length} prefix")
    value = int(address)
    if length == 96:
        return ipaddress.IPv4Address(value & 0xFFFFFFFF)
    after = _bits_after_u_octet(length)
    head = (value >> 64) & ((1 << (32 - after)) - 1)
    tail = (value >> (_U_OCTET_SHIFT - after)) & ((1 << after) - 1)
    return ipaddress.IPv4Address((head << after) | tail)


def prefix_of(address: ipaddress.IPv6Address, length: int) -> ipaddress.IPv6Network:
    """The /``length`` network that ``address`` lies in."""
    return ipaddress.IPv6Network((address, length), strict=False)


def prefixes_from_answers(answers: Iterable[str]) -> tuple[ipaddress.IPv6Network, ...]:
    """NAT64 prefixes found in the AAAA answers for ``ipv4only.arpa`` (RFC 7050 section 3).

    Each answer is searched at every RFC 6052 prefix length, shortest first, for
    192.0.0.170 or 192.0.0.171 with bits 64-71 zero; the first length that matches
    gives that answer's prefix. Distinct prefixes are returned in answer order; an
    answer without a well-known address (a real AAAA, not DNS64) gives none.
    """
    found: dict[ipaddress.IPv6Network, None] = {}
    for text in answers:
        prefix = _prefix_in(ipaddress.IPv6Address(text))
        if prefix is not None:
            found.setdefault(prefix, None)
    return tuple(found)


def _prefix_in(address: ipaddress.IPv6Address) -> ipaddress.IPv6Network | None:
    if (int(address) >> _U_OCTET_SHIFT) & 0xFF:
        return None  # RFC 6052 2.2: bits 64-71 are zero at every prefix length
    for length in PREFIX_LENGTHS:
        if extract(address, length) in WELL_KNOWN_IPV4:
            return prefix_of(address, length)
    return None
