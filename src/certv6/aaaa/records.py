"""Per name: which AAAA values certv6 owns, and the change that points the name at the host.

certv6 owns a value at a name when it published it there before (the record in
the state directory), or when it is an address of this host right now: both
are this host's to replace. Anything else in the RRset belongs to someone else
(another host behind the same name, a hand-made record) and is left exactly as
it is, unless the operator says ``--adopt`` once to take the whole RRset over.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from certv6.model import RRsetChange


@dataclass(frozen=True, slots=True)
class NamePlan:
    """What one name serves now and what certv6 will do about it."""

    name: str  # absolute owner name
    zone: str
    current: frozenset[str]  # the whole AAAA RRset, as the zone's primary serves it
    owned: frozenset[str]  # the part of it certv6 may replace
    foreign: frozenset[str]  # the part it leaves alone
    wanted: str  # the address the name should point at
    change: RRsetChange | None  # None: already right

    @property
    def result(self) -> frozenset[str]:
        return self.current if self.change is None else self.change.result


def plan_name(
    name: str,
    zone: str,
    current: Collection[str],
    *,
    wanted: str,
    published: Collection[str],
    host_addresses: Collection[str],
    adopt: bool = False,
    ttl: int,
) -> NamePlan:
    """Replace exactly the values certv6 owns at ``name`` by ``wanted``.

    The change keeps ``current`` as its precondition: a provider that can make
    the UPDATE conditional (RFC 2136 section 2.4.2) applies it only while the
    RRset is still exactly what certv6 read.
    """
    rrset = frozenset(current)
    mine = frozenset(published) | frozenset(host_addresses)
    owned = rrset if adopt else rrset & mine
    remove = owned - {wanted}
    add = frozenset({wanted}) - rrset
    change = (
        RRsetChange(owner=name, rdtype="AAAA", ttl=ttl, current=rrset, remove=remove, add=add)
        if remove or add
        else None
    )
    return NamePlan(name, zone, rrset, owned, rrset - owned, wanted, change)
