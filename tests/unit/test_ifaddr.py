"""certv6.ifaddr: rtnetlink messages parsed from bytes, and the real kernel's dump."""

from __future__ import annotations

import ipaddress
import socket
import struct

import pytest

from certv6.ifaddr import (
    IFA_F_DEPRECATED,
    IFA_F_MANAGETEMPADDR,
    IFA_F_PERMANENT,
    IFA_F_STABLE_PRIVACY,
    IFA_F_TEMPORARY,
    IFA_F_TENTATIVE,
    HostAddress,
    NetlinkError,
    dump_addresses,
    read_proc_addresses,
)
from certv6.ifaddr.netlink import (
    IFA_ADDRESS,
    IFA_CACHEINFO,
    IFA_FLAGS,
    NLMSG_DONE,
    RTM_DELADDR,
    RTM_NEWADDR,
    parse_address,
    split_messages,
)

FOREVER = 0xFFFFFFFF


def attribute(kind: int, payload: bytes) -> bytes:
    length = 4 + len(payload)
    return struct.pack("=HH", length, kind) + payload + bytes((4 - length % 4) % 4)


def ifaddrmsg(
    address: str,
    *,
    flags: int,
    scope: int = 0,
    index: int = 1,
    prefixlen: int = 64,
    lifetimes: tuple[int, int] | None = None,
    family: int = socket.AF_INET6,
) -> bytes:
    """An RTM_NEWADDR payload as the kernel builds it (inet6_fill_ifaddr)."""
    body = struct.pack("=BBBBI", family, prefixlen, flags & 0xFF, scope, index)
    body += attribute(IFA_ADDRESS, ipaddress.ip_address(address).packed)
    if lifetimes is not None:
        body += attribute(IFA_CACHEINFO, struct.pack("=IIII", *lifetimes, 100, 200))
    body += attribute(IFA_FLAGS, struct.pack("=I", flags))
    return body


def message(kind: int, payload: bytes) -> bytes:
    length = 16 + len(payload)
    return struct.pack("=IHHII", length, kind, 2, 1, 0) + payload + bytes((4 - length % 4) % 4)


def test_every_flag_bit_and_both_lifetimes_come_from_the_attributes() -> None:
    flags = IFA_F_STABLE_PRIVACY | IFA_F_MANAGETEMPADDR
    found = parse_address(
        RTM_NEWADDR, ifaddrmsg("2001:db8:1::abcd", flags=flags, lifetimes=(1800, 3600))
    )
    assert found is not None and found.added
    address = found.address
    assert address.address == "2001:db8:1::abcd"
    assert address.interface == "lo"  # index 1 in this namespace
    assert address.flags == flags  # the u32 IFA_FLAGS, not the u8 of the header
    assert (address.preferred, address.valid) == (1800, 3600)
    assert address.stable_privacy and address.learned and address.is_global
    assert address.flag_names == ("mngtmpaddr", "stable-privacy")


def test_infinite_lifetimes_scopes_and_removals() -> None:
    payload = ifaddrmsg("fe80::1", flags=IFA_F_PERMANENT, scope=253, lifetimes=(FOREVER, FOREVER))
    removed = parse_address(RTM_DELADDR, payload)
    assert removed is not None and not removed.added
    assert removed.address.scope == "link"
    assert (removed.address.preferred, removed.address.valid) == (None, None)
    assert removed.address.manual


def test_other_families_and_message_types_are_not_addresses() -> None:
    assert parse_address(RTM_NEWADDR, ifaddrmsg("192.0.2.1", flags=0, family=2)) is None
    assert parse_address(NLMSG_DONE, b"\0\0\0\0") is None
    assert parse_address(RTM_NEWADDR, b"\x0a\x40") is None  # truncated


def test_a_datagram_holds_several_messages() -> None:
    datagram = (
        message(RTM_NEWADDR, ifaddrmsg("2001:db8::1", flags=IFA_F_TEMPORARY))
        + message(RTM_NEWADDR, ifaddrmsg("2001:db8::2", flags=IFA_F_DEPRECATED | 0x100))
        + message(NLMSG_DONE, struct.pack("=i", 0))
    )
    kinds = [kind for kind, _ in split_messages(datagram)]
    assert kinds == [RTM_NEWADDR, RTM_NEWADDR, NLMSG_DONE]
    parsed = [parse_address(kind, payload) for kind, payload in split_messages(datagram)]
    assert [p.address.address for p in parsed if p is not None] == ["2001:db8::1", "2001:db8::2"]


def test_a_message_longer_than_its_datagram_is_refused() -> None:
    broken = struct.pack("=IHHII", 400, RTM_NEWADDR, 0, 1, 0) + bytes(8)
    with pytest.raises(NetlinkError, match="bad length"):
        list(split_messages(broken))


def test_kinds_of_addresses() -> None:
    eui64 = HostAddress("2001:db8::211:22ff:fe33:4455", "eth0", 64, "global", 0)
    tentative = HostAddress("2001:db8::5", "eth0", 64, "global", IFA_F_TENTATIVE)
    expired = HostAddress("2001:db8::6", "eth0", 64, "global", 0, preferred=0, valid=60)
    assert eui64.eui64 and eui64.interface_id == 0x0211_22FF_FE33_4455
    assert tentative.tentative and not tentative.usable and not tentative.stable
    assert expired.deprecated and not expired.stable  # preferred lifetime 0, flag or not
    assert "stable-privacy" in HostAddress("2001:db8::7", "e", 64, "global", 0x800).describe()


def test_the_kernel_dump_agrees_with_proc() -> None:
    # The real kernel of whatever namespace the tests run in: both views list the same set.
    from_netlink = {(a.address, a.interface, a.prefixlen) for a in dump_addresses()}
    from_proc = {(a.address, a.interface, a.prefixlen) for a in read_proc_addresses()}
    assert from_netlink == from_proc
    assert ("::1", "lo", 128) in from_netlink
    loopback = next(a for a in dump_addresses() if a.address == "::1")
    assert loopback.scope == "host" and loopback.manual and loopback.valid is None
