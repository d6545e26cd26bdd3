"""This host's IPv6 addresses, as the kernel sees them, and news when they change.

Read over rtnetlink (``RTM_GETADDR``; ``netlink.py``), which gives every flag
of ``include/uapi/linux/if_addr.h`` and both lifetimes; ``/proc/net/if_inet6``
(``procfs.py``) is the fallback where netlink is not allowed, with the low
eight flag bits and no lifetimes. ``AddressEvents`` delivers the kernel's
``RTM_NEWADDR``/``RTM_DELADDR`` notifications (``RTMGRP_IPV6_IFADDR``) for
``certv6 aaaa --watch``.

Standard library only: ``socket.AF_NETLINK`` and ``struct``.
"""

from __future__ import annotations

import logging
import socket

from certv6.ifaddr.address import (
    IFA_F_DADFAILED,
    IFA_F_DEPRECATED,
    IFA_F_MANAGETEMPADDR,
    IFA_F_NODAD,
    IFA_F_OPTIMISTIC,
    IFA_F_PERMANENT,
    IFA_F_STABLE_PRIVACY,
    IFA_F_TEMPORARY,
    IFA_F_TENTATIVE,
    HostAddress,
)
from certv6.ifaddr.netlink import AddressEvents, NetlinkError, dump_addresses
from certv6.ifaddr.procfs import PROC_NET, parse_if_inet6, read_proc_addresses

__all__ = [
    "IFA_F_DADFAILED",
    "IFA_F_DEPRECATED",
    "IFA_F_MANAGETEMPADDR",
    "IFA_F_NODAD",
    "IFA_F_OPTIMISTIC",
    "IFA_F_PERMANENT",
    "IFA_F_STABLE_PRIVACY",
    "IFA_F_TEMPORARY",
    "IFA_F_TENTATIVE",
    "PROC_NET",
    "AddressEvents",
    "HostAddress",
    "NetlinkError",
    "dump_addresses",
    "interface_names",
    "parse_if_inet6",
    "read_addresses",
    "read_proc_addresses",
]

log = logging.getLogger(__name__)


def interface_names() -> tuple[str, ...]:
    """Every network interface of this namespace, with or without addresses."""
    try:
        return tuple(name for _, name in socket.if_nameindex())
    except OSError:
        return ()


def read_addresses() -> tuple[HostAddress, ...]:
    """Every IPv6 address of this host (this network namespace), from netlink.

    Falls back to /proc/net/if_inet6 when the netlink socket is refused (a
    seccomp filter, an old container runtime): the flags are then the low eight
    bits only and lifetimes are unknown.
    """
    try:
        return dump_addresses()
    except NetlinkError as error:
        log.debug("netlink address dump failed (%s); reading /proc/net/if_inet6", error)
        return read_proc_addresses()
