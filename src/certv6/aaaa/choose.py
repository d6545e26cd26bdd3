"""Which address a name should point at: the choice a careful admin makes by hand.

Never published (RFC 8981, RFC 4862, RFC 4429):
- other than global scope (link-local, loopback);
- temporary privacy addresses: they change every day or so and are meant for
  outgoing connections only;
- deprecated ones: their preferred lifetime is over, the prefix is going away;
- tentative or optimistic ones (duplicate address detection still running)
  and those whose detection failed (another host holds them).

Among the rest, in this order: a global unicast address before a unique-local
one (RFC 4193 section 4.4: ULAs do not belong in the global DNS); an RFC 7217
stable-privacy or a hand-configured address before one learned some other way
(DHCPv6, a token), and those before an EUI-64 address, which embeds the MAC
and changes with the network card; the address already published, so a record
does not flap between two equally good addresses; the longest remaining
preferred lifetime (after a renumbering, the new prefix); the lowest address.

An interface and a token (the interface identifier to keep, like
``ip token``) narrow the candidates.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from certv6 import values
from certv6.errors import ConfigError, NoHostAddress
from certv6.ifaddr import HostAddress

# Rank of each kind: lower is better.
KINDS = {"stable-privacy": 0, "manual": 0, "dynamic": 1, "EUI-64": 2}
_DESCRIBED = {
    "stable-privacy": "a stable-privacy address (RFC 7217)",
    "manual": "configured by hand",
    "dynamic": "learned from the network (DHCPv6 or SLAAC with a token)",
    "EUI-64": "an EUI-64 address (derived from the MAC)",
}


@dataclass(frozen=True, slots=True)
class Criteria:
    """What narrows the candidates: an interface, and the interface identifier to keep."""

    interface: str | None = None
    token: int | None = None  # the low 64 bits an address must end in

    @property
    def token_text(self) -> str:
        return "" if self.token is None else str(ipaddress.IPv6Address(self.token))


@dataclass(frozen=True, slots=True)
class Judged:
    """One address of the host, its kind, and why it cannot be published ("" if it can)."""

    address: HostAddress
    kind: str
    rejected: str = ""

    @property
    def candidate(self) -> bool:
        return not self.rejected


@dataclass(frozen=True, slots=True)
class Choice:
    chosen: HostAddress
    kind: str
    why: str
    judged: tuple[Judged, ...]


def parse_token(text: str) -> int:
    """``::53`` or ``::1:2:3:4``: an interface identifier (RFC 4291 2.5.1), as an int.

    Raises:
        ConfigError: not an IPv6 address, or one with any of the upper 64 bits set.
    """
    return int(ipaddress.IPv6Address(values.interface_identifier(text)))


def kind_of(address: HostAddress) -> str:
    if address.stable_privacy:
        return "stable-privacy"
    if address.eui64:
        return "EUI-64"
    return "manual" if address.manual else "dynamic"


def judge(address: HostAddress, criteria: Criteria) -> Judged:
    return Judged(address, kind_of(address), _rejection(address, criteria))


def choose(
    addresses: Sequence[HostAddress],
    criteria: Criteria,
    *,
    interfaces: Collection[str],
    published: Collection[str] = (),
) -> Choice:
    """The address to publish, with the reason in one sentence.

    ``interfaces`` are the host's interface names (to tell a typo from an
    interface without addresses); ``published`` the addresses certv6 published
    before (kept while they are as good as any).

    Raises:
        ConfigError: the configured interface does not exist.
        NoHostAddress: no address fits (the message lists each one and why).
    """
    if criteria.interface is not None and criteria.interface not in interfaces:
        raise ConfigError(
            f"interface {criteria.interface!r} does not exist on this host",
            hint=f"its interfaces: {', '.join(sorted(interfaces)) or 'none'}"
            " (aaaa_interface, --interface)",
        )
    judged = tuple(judge(address, criteria) for address in addresses)
    candidates = sorted((j for j in judged if j.candidate), key=lambda j: _preference(j, published))
    if not candidates:
        raise _nothing_fits(judged, criteria)
    best = candidates[0]
    return Choice(best.address, best.kind, _why(best, candidates[1:], published), judged)


def _rejection(address: HostAddress, criteria: Criteria) -> str:
    """Why ``address`` may not be published; "" when it may. The first reason that applies."""
    reasons = (
        (not address.is_global, f"{address.scope} scope"),
        (
            criteria.interface is not None and address.interface != criteria.interface,
            f"on {address.interface}, not {criteria.interface}",
        ),
        (address.temporary, "temporary (RFC 8981 privacy address)"),
        (address.dad_failed, "duplicate address detection failed"),
        (address.tentative, "tentative (duplicate address detection still running)"),
        (address.deprecated, "deprecated (preferred lifetime over)"),
        (
            criteria.token is not None and address.interface_id != criteria.token,
            f"interface identifier is not the token {criteria.token_text}",
        ),
    )
    return next((reason for applies, reason in reasons if applies), "")


def _preference(judged: Judged, published: Collection[str]) -> tuple[bool, int, bool, float, int]:
    address = judged.address
    lifetime = float("inf") if address.preferred is None else float(address.preferred)
    return (
        address.unique_local,
        KINDS[judged.kind],
        address.address not in published,
        -lifetime,
        int(ipaddress.IPv6Address(address.address)),
    )


def _why(best: Judged, others: Sequence[Judged], published: Collection[str]) -> str:
    address = best.address
    parts = [_DESCRIBED[best.kind]]
    if address.unique_local:
        parts.append("unique-local (no global address fits)")
    lifetime = "forever" if address.preferred is None else f"for {address.preferred} s"
    parts.append(f"preferred {lifetime}")
    if address.address in published and others:
        parts.append("already published")
    text = f"{address.address} on {address.interface}: {', '.join(parts)}"
    if others:
        text += f"; {len(others)} other candidate{'s' if len(others) > 1 else ''} ranked lower"
    return text


def _nothing_fits(judged: Sequence[Judged], criteria: Criteria) -> NoHostAddress:
    globals_ = [j for j in judged if j.address.is_global]
    if not globals_:
        return NoHostAddress(
            "this host has no global IPv6 address",
            hint="check the uplink: router advertisements, DHCPv6 or a static address",
        )
    listed = "; ".join(f"{j.address.address} ({j.rejected})" for j in globals_)
    if any(j.address.tentative and not j.address.dad_failed for j in globals_):
        hint = "run again in a few seconds: duplicate address detection is still running"
    elif criteria.token is not None:
        hint = (
            f"no address ends in {criteria.token_text}: check aaaa_token, or give the"
            f" interface that identifier (ip token set {criteria.token_text} dev IF)"
        )
    elif criteria.interface is not None:
        hint = f"check aaaa_interface: {criteria.interface} has no address fit for an AAAA record"
    else:
        hint = "give the host a stable address (RFC 7217 stable-privacy SLAAC, or a static one)"
    return NoHostAddress(f"no IPv6 address of this host fits an AAAA record: {listed}", hint=hint)
