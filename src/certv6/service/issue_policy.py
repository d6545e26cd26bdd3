"""What ``certv6 issue`` does when the certificate already exists (issue #13, item 4).

Provisioning scripts run ``issue`` again and again; each run must not order a
new certificate (CA rate limits) nor quietly make a second lineage:

- the same names, not due: kept ("not due until ..., keeping; --force to reissue")
- the same names, due (or revoked, expired): issued anew, like ``renew``
- other names: refused, unless ``--expand`` (a superset) or ``--replace-names``
- the same names under another ``--name`` with the same key type: refused,
  naming the lineage that has them (an RSA and an EC certificate for the same
  names are two lineages on purpose, so another key type is allowed)
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from certv6.clock import Clock
from certv6.errors import ConfigError
from certv6.service.renew.plan import candidate_of
from certv6.store import Lineage, Snapshot, Store

log = logging.getLogger("certv6")


@dataclass(frozen=True, slots=True)
class Reissue:
    """How the user allowed an existing lineage to change."""

    force: bool = False
    expand: bool = False
    replace_names: bool = False


@dataclass(frozen=True, slots=True)
class Existing:
    """The lineage as ``issue`` found it: ``keep`` says why not to order (empty: order)."""

    current: str | None  # versions/NNNN, None for a new lineage
    keep: str = ""


def check_existing(
    store: Store,
    name: str,
    domains: Sequence[str],
    key_type: str,
    allowed: Reissue,
    *,
    now: datetime.datetime,
) -> Existing:
    """Decide for an ``issue`` of ``domains`` as ``name``.

    Raises:
        ConfigError: the names differ from the lineage's without --expand or
            --replace-names, or another lineage has the same names and key type.
    """
    snapshots = store.lineages.snapshots()
    _refuse_duplicates(snapshots, name, domains, key_type)
    found = next((s for s in snapshots if s.name == name and not s.empty), None)
    if found is None:
        return Existing(None)
    if found.problem:
        log.warning("%s: %s; issuing it anew replaces it", name, found.problem)
        return Existing(found.current or None)
    _check_names(name, list(found.config["domains"]), domains, allowed)
    if set(found.config["domains"]) != set(domains) or allowed.force:
        return Existing(found.current)
    decision = candidate_of(found, now=now).decision
    if decision is None or decision.due:
        why = decision.reason if decision else "its certificate cannot be read"
        log.info("%s: due (%s); issuing anew", name, why)
        return Existing(found.current)
    keep = (
        f"not due until {decision.renew_at:%Y-%m-%d %H:%M} UTC ({decision.reason}); "
        "keeping it (--force to reissue)"
    )
    return Existing(found.current, keep)


def _check_names(name: str, old: list[str], new: Sequence[str], allowed: Reissue) -> None:
    if set(old) == set(new) or allowed.replace_names:
        return
    if allowed.expand and set(new) >= set(old):
        log.info("%s: adding %s", name, ", ".join(sorted(set(new) - set(old))))
        return
    added, dropped = sorted(set(new) - set(old)), sorted(set(old) - set(new))
    change = "; ".join(
        part
        for part in (
            f"adds {', '.join(added)}" if added else "",
            f"drops {', '.join(dropped)}" if dropped else "",
        )
        if part
    )
    hint = "--expand to add names" if not dropped else "--replace-names to change them"
    raise ConfigError(
        f"certificate {name!r} has {', '.join(old)}; this request {change}",
        hint=f"{hint} (or choose another --name)",
    )


def _refuse_duplicates(
    snapshots: Sequence[Snapshot], name: str, domains: Sequence[str], key_type: str
) -> None:
    for other in snapshots:
        if other.name == name or other.problem or not other.config:
            continue
        same_names = set(other.config.get("domains", ())) == set(domains)
        if same_names and (other.config.get("key_type") or key_type) == key_type:
            raise ConfigError(
                f"certificate {other.name!r} already has these names ({', '.join(domains)})",
                hint=f"use --name {other.name}, or remove it first: certv6 delete --name "
                f"{other.name} (another --key-type makes a second certificate on purpose)",
            )


def changed_while_waiting(
    lineage: Lineage, expected: str | None, *, renewal: bool, clock: Clock
) -> str:
    """Why not to order after all: another run stored a new version while this one waited
    for the certificate's lock ('' when nothing changed). Call it holding that lock.

    ``expected`` is the version seen before waiting (None: no certificate yet).
    """
    if renewal and expected is None:
        return ""  # a dry run's scratch store: nothing to compare with
    if lineage.directory.is_dir():
        # What a killed run left here is ours to finish now: we hold the lock.
        if lineage.health().switch is not None:
            lineage.finish_switch(clock.now())
        lineage.sweep()
    snapshot = lineage.snapshot()
    now_current = snapshot.current if snapshot is not None and not snapshot.empty else None
    if now_current == expected:
        return ""
    return f"another certv6 run stored {now_current} while this one waited for the lock; keeping it"
