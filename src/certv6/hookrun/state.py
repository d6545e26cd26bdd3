"""A hook-run journal's events folded into what the run recorded, published and removed.

Pure: no I/O. Owners are spelled the journal's way (lower case, absolute) so
that a value recorded by one call is recognised by the next.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from certv6.hookrun.owner import RunOwner

Pair = tuple[str, str]  # (challenge owner, TXT value)


def challenge_owner(domain: str) -> str:
    """``_acme-challenge.<name>.`` for a name as a client passes it (``*.`` stripped)."""
    return normalize_owner(f"_acme-challenge.{domain.strip().removeprefix('*.')}")


def normalize_owner(owner: str) -> str:
    """The journal's spelling of an owner: lower case, absolute."""
    name = owner.strip().lower()
    return name if name.endswith(".") else f"{name}."


@dataclass(slots=True)
class RunState:
    """A journal folded: values only recorded so far, and values published (with where)."""

    owner: RunOwner | None = None
    created: str = ""
    planned: list[Pair] = field(default_factory=list)
    # (owner, value) -> (provider, owner written at: the end of its CNAME chain)
    published: dict[Pair, tuple[str, str]] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not self.planned and not self.published

    def providers(self) -> set[str]:
        return {provider for provider, _ in self.published.values()}

    def apply(self, event: Mapping[str, object]) -> None:
        if "owner" in event:
            self.owner = _owner_from(event["owner"])
            self.created = str(event.get("created", ""))
        for owner, value in _pairs(event.get("plan")):
            if (owner, value) not in self.published and (owner, value) not in self.planned:
                self.planned.append((owner, value))
        provider = str(event.get("publish", ""))
        for owner, value, written in _triples(event.get("records")):
            self._forget((owner, value))
            self.published[(owner, value)] = (provider, written)
        for pair in _pairs(event.get("remove")):
            self._forget(pair)

    def _forget(self, pair: Pair) -> None:
        self.published.pop(pair, None)
        if pair in self.planned:
            self.planned.remove(pair)


def _owner_from(raw: object) -> RunOwner | None:
    if not isinstance(raw, dict):
        return None
    try:
        return RunOwner(int(raw["pid"]), int(raw["start"]), str(raw["comm"]), str(raw["boot"]))
    except (KeyError, TypeError, ValueError):
        return None


def _pairs(raw: object) -> list[Pair]:
    if not isinstance(raw, list):
        return []
    return [
        (str(item[0]), str(item[1])) for item in raw if isinstance(item, list) and len(item) == 2
    ]


def _triples(raw: object) -> list[tuple[str, str, str]]:
    if not isinstance(raw, list):
        return []
    return [
        (str(item[0]), str(item[1]), str(item[2]))
        for item in raw
        if isinstance(item, list) and len(item) == 3
    ]
