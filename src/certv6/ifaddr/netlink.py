"""rtnetlink (RFC 3549, rtnetlink(7)): dump the IPv6 addresses, and follow their changes.

A dump is one ``RTM_GETADDR`` request with ``NLM_F_DUMP`` for ``AF_INET6``; the
kernel answers with one ``RTM_NEWADDR`` per address, then ``NLMSG_DONE``. Each
carries an ``ifaddrmsg`` (family, prefix length, the low eight flag bits,
scope, interface index) and attributes: ``IFA_ADDRESS``, ``IFA_FLAGS`` (all 32
flag bits, stable-privacy among them) and ``IFA_CACHEINFO`` (remaining
preferred and valid lifetimes). Parsing is pure (``parse_messages``) so it is
tested on bytes; the sockets are thin.
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import os
import select
import socket
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from types import TracebackType

from certv6.ifaddr.address import HostAddress

NETLINK_ROUTE = 0
RTM_NEWADDR, RTM_DELADDR, RTM_GETADDR = 20, 21, 22
NLMSG_ERROR, NLMSG_DONE = 2, 3
NLM_F_REQUEST, NLM_F_DUMP = 0x01, 0x300
RTMGRP_IPV6_IFADDR = 0x100
IFA_ADDRESS, IFA_LOCAL, IFA_CACHEINFO, IFA_FLAGS = 1, 2, 6, 8
INFINITY_LIFE_TIME = 0xFFFFFFFF
# rtnetlink scopes (include/uapi/linux/rtnetlink.h), not /proc's IPV6_ADDR_* bits.
RT_SCOPES = {0: "global", 200: "site", 253: "link", 254: "host"}
_HEADER = struct.Struct("=IHHII")  # nlmsghdr: length, type, flags, sequence, port id
_IFADDRMSG = struct.Struct("=BBBBI")  # family, prefixlen, flags, scope, index
_RTATTR = struct.Struct("=HH")  # length, type
_CACHEINFO = struct.Struct("=IIII")  # preferred, valid, created, updated
_BUFFER = 1 << 16
_TIMEOUT = 5.0


class NetlinkError(OSError):
    """The kernel refused the socket or the request, or answered something unreadable."""


@dataclass(frozen=True, slots=True)
class AddressMessage:
    """One RTM_NEWADDR / RTM_DELADDR: the address, and whether it was added or removed."""

    added: bool
    address: HostAddress


def dump_addresses() -> tuple[HostAddress, ...]:
    """Every IPv6 address of this network namespace.

    Raises:
        NetlinkError: no netlink socket (seccomp, no AF_NETLINK), or a refused request.
    """
    with _socket(groups=0) as sock:
        request = _HEADER.pack(
            _HEADER.size + _IFADDRMSG.size, RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP, 1, 0
        ) + _IFADDRMSG.pack(socket.AF_INET6, 0, 0, 0, 0)
        try:
            sock.send(request)
            return tuple(message.address for message in _read_dump(sock) if message.added)
        except OSError as error:
            raise NetlinkError(error.errno, f"netlink address dump: {error.strerror}") from error


def _read_dump(sock: socket.socket) -> Iterator[AddressMessage]:
    while True:
        data = sock.recv(_BUFFER)
        if not data:
            raise NetlinkError(errno.EIO, "netlink: the dump ended without NLMSG_DONE")
        done = False
        for kind, payload in split_messages(data):
            if kind == NLMSG_DONE:
                done = True
            elif kind == NLMSG_ERROR:
                _raise_error(payload)
            else:
                message = parse_address(kind, payload)
                if message is not None:
                    yield message
        if done:
            return


class AddressEvents:
    """The kernel's IPv6 address notifications (RTMGRP_IPV6_IFADDR), as a context manager.

    ``wait(timeout)`` returns the changes that arrived (possibly none); when the
    kernel dropped notifications (ENOBUFS: the socket buffer overflowed) it
    returns ``None``: the caller must read the whole table again.
    """

    def __init__(self) -> None:
        self._sock: socket.socket | None = None

    def __enter__(self) -> AddressEvents:
        self._sock = _open(RTMGRP_IPV6_IFADDR, timeout=None)
        self._sock.setblocking(False)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def fileno(self) -> int:
        if self._sock is None:
            raise NetlinkError(errno.EBADF, "netlink: the event socket is closed")
        return self._sock.fileno()

    def wait(self, timeout: float) -> list[AddressMessage] | None:
        """Messages that arrive within ``timeout`` seconds (all that are queued, at least)."""
        if self._sock is None:
            raise NetlinkError(errno.EBADF, "netlink: the event socket is closed")
        ready, _, _ = select.select([self._sock], [], [], max(timeout, 0.0))
        found: list[AddressMessage] = []
        while ready:
            try:
                data = self._sock.recv(_BUFFER)
            except BlockingIOError:
                break
            except OSError as error:
                if error.errno == errno.ENOBUFS:
                    return None  # notifications were lost: rescan
                raise NetlinkError(error.errno, f"netlink: {error.strerror}") from error
            for kind, payload in split_messages(data):
                message = parse_address(kind, payload)
                if message is not None:
                    found.append(message)
        return found


def split_messages(data: bytes) -> Iterator[tuple[int, bytes]]:
    """(type, payload) of each netlink message in a datagram (NLMSG_ALIGN: 4 bytes)."""
    offset = 0
    while offset + _HEADER.size <= len(data):
        length, kind, _flags, _seq, _port = _HEADER.unpack_from(data, offset)
        if length < _HEADER.size or offset + length > len(data):
            raise NetlinkError(errno.EPROTO, f"netlink: a message of bad length {length}")
        yield kind, data[offset + _HEADER.size : offset + length]
        offset += _align(length)


def parse_address(kind: int, payload: bytes) -> AddressMessage | None:
    """An RTM_NEWADDR / RTM_DELADDR payload for an IPv6 address; None for anything else."""
    if kind not in (RTM_NEWADDR, RTM_DELADDR) or len(payload) < _IFADDRMSG.size:
        return None
    family, prefixlen, low_flags, scope, index = _IFADDRMSG.unpack_from(payload)
    if family != socket.AF_INET6:
        return None
    attributes = dict(_attributes(payload[_IFADDRMSG.size :]))
    raw = attributes.get(IFA_ADDRESS) or attributes.get(IFA_LOCAL)
    if raw is None or len(raw) != 16:
        return None
    flags = low_flags
    if len(attributes.get(IFA_FLAGS, b"")) >= 4:
        (flags,) = struct.unpack_from("=I", attributes[IFA_FLAGS])
    preferred = valid = None
    if len(attributes.get(IFA_CACHEINFO, b"")) >= _CACHEINFO.size:
        preferred, valid, _, _ = _CACHEINFO.unpack_from(attributes[IFA_CACHEINFO])
    address = HostAddress(
        address=str(ipaddress.IPv6Address(raw)),
        interface=_interface_name(index),
        prefixlen=prefixlen,
        scope=RT_SCOPES.get(scope, "other"),
        flags=flags,
        preferred=_lifetime(preferred),
        valid=_lifetime(valid),
    )
    return AddressMessage(added=kind == RTM_NEWADDR, address=address)


def _attributes(data: bytes) -> Iterator[tuple[int, bytes]]:
    offset = 0
    while offset + _RTATTR.size <= len(data):
        length, kind = _RTATTR.unpack_from(data, offset)
        if length < _RTATTR.size or offset + length > len(data):
            return
        yield kind & 0x3FFF, data[offset + _RTATTR.size : offset + length]  # NLA_TYPE_MASK
        offset += _align(length)


def _lifetime(value: int | None) -> int | None:
    return None if value is None or value == INFINITY_LIFE_TIME else value


def _interface_name(index: int) -> str:
    try:
        return socket.if_indextoname(index)
    except OSError:
        return f"if{index}"  # removed while we read: the index is all there is


def _raise_error(payload: bytes) -> None:
    (code,) = struct.unpack_from("=i", payload) if len(payload) >= 4 else (-errno.EPROTO,)
    if code:
        raise NetlinkError(-code, f"netlink: {os.strerror(-code)}")


def _align(length: int) -> int:
    return (length + 3) & ~3


def _open(groups: int, *, timeout: float | None = _TIMEOUT) -> socket.socket:
    try:
        sock = socket.socket(
            socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, NETLINK_ROUTE
        )
    except OSError as error:
        raise NetlinkError(error.errno, f"netlink socket: {error.strerror}") from error
    try:
        sock.bind((0, groups))
        sock.settimeout(timeout)
    except OSError as error:
        sock.close()
        raise NetlinkError(error.errno, f"netlink bind: {error.strerror}") from error
    return sock


@contextlib.contextmanager
def _socket(groups: int) -> Iterator[socket.socket]:
    sock = _open(groups)
    try:
        yield sock
    finally:
        sock.close()
