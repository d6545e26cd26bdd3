"""One IPv6 address of this host, with the kernel's flags and lifetimes. Pure data."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

# include/uapi/linux/if_addr.h
IFA_F_TEMPORARY = 0x01  # RFC 8981 privacy address
IFA_F_NODAD = 0x02
IFA_F_OPTIMISTIC = 0x04  # RFC 4429: usable while DAD runs
IFA_F_DADFAILED = 0x08  # duplicate address detection found another holder
IFA_F_DEPRECATED = 0x20  # preferred lifetime over (RFC 4862 5.5.4)
IFA_F_TENTATIVE = 0x40  # DAD still running (RFC 4862 5.4)
IFA_F_PERMANENT = 0x80  # configured by hand, not learned from the network
IFA_F_MANAGETEMPADDR = 0x100  # the kernel makes temporary addresses from this prefix
IFA_F_STABLE_PRIVACY = 0x800  # RFC 7217 stable, semantically opaque interface identifier
UNIQUE_LOCAL = ipaddress.IPv6Network("fc00::/7")  # RFC 4193
FLAG_NAMES = {  # as ip-address(8) prints them
    IFA_F_TEMPORARY: "temporary",
    IFA_F_NODAD: "nodad",
    IFA_F_OPTIMISTIC: "optimistic",
    IFA_F_DADFAILED: "dadfailed",
    IFA_F_DEPRECATED: "deprecated",
    IFA_F_TENTATIVE: "tentative",
    IFA_F_PERMANENT: "permanent",
    IFA_F_MANAGETEMPADDR: "mngtmpaddr",
    IFA_F_STABLE_PRIVACY: "stable-privacy",
}


@dataclass(frozen=True, slots=True)
class HostAddress:
    """An address as the kernel reports it.

    ``preferred`` and ``valid`` are the remaining lifetimes in seconds (None:
    forever, or unknown when read from /proc).
    """

    address: str
    interface: str
    prefixlen: int
    scope: str  # "global", "site", "link", "host"
    flags: int
    preferred: int | None = None
    valid: int | None = None

    @property
    def is_global(self) -> bool:
        return self.scope == "global"

    @property
    def temporary(self) -> bool:
        return bool(self.flags & IFA_F_TEMPORARY)

    @property
    def deprecated(self) -> bool:
        return bool(self.flags & IFA_F_DEPRECATED) or self.preferred == 0

    @property
    def tentative(self) -> bool:
        """Duplicate address detection has not confirmed it yet (optimistic counts too)."""
        return bool(self.flags & (IFA_F_TENTATIVE | IFA_F_OPTIMISTIC))

    @property
    def dad_failed(self) -> bool:
        return bool(self.flags & IFA_F_DADFAILED)

    @property
    def learned(self) -> bool:
        """From router advertisements or DHCPv6 rather than configured by hand."""
        return not self.flags & IFA_F_PERMANENT

    @property
    def manual(self) -> bool:
        return not self.learned

    @property
    def stable_privacy(self) -> bool:
        return bool(self.flags & IFA_F_STABLE_PRIVACY)

    @property
    def usable(self) -> bool:
        return not self.flags & (IFA_F_TENTATIVE | IFA_F_DADFAILED)

    @property
    def unique_local(self) -> bool:
        return ipaddress.IPv6Address(self.address) in UNIQUE_LOCAL

    @property
    def interface_id(self) -> int:
        """The low 64 bits (RFC 4291 2.5.1), what a token fixes."""
        return int(ipaddress.IPv6Address(self.address)) & (2**64 - 1)

    @property
    def eui64(self) -> bool:
        """The interface identifier is a modified EUI-64 from a MAC (RFC 4291 appendix A).

        Such an identifier has ff:fe in its middle; it gives the hardware away
        and changes with the network card.
        """
        return (self.interface_id >> 24) & 0xFFFF == 0xFFFE

    @property
    def flag_names(self) -> tuple[str, ...]:
        return tuple(name for bit, name in FLAG_NAMES.items() if self.flags & bit)

    @property
    def stable(self) -> bool:
        """Fit for an AAAA record: global, usable, neither temporary nor deprecated."""
        return self.is_global and self.usable and not self.temporary and not self.deprecated

    def describe(self) -> str:
        kinds = [
            "temporary" if self.temporary else "stable",
            *(["stable-privacy"] if self.stable_privacy else []),
            *(["deprecated"] if self.deprecated else []),
            *(["unique-local"] if self.unique_local else []),
            "learned" if self.learned else "static",
            *([] if self.usable else ["not usable (DAD)"]),
        ]
        return f"{self.address} ({', '.join(kinds)})"
