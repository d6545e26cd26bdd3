"""A lineage as the scan that decides renewals finds it: small files only, problems named.

``read_snapshot`` lists the directory once and reads lineage.json, the current
version's meta.json, ari.json and health.json -- never a PEM -- because
``certv6 renew`` does it for every lineage on every run (bench/renew.py). What
it cannot use becomes ``problem`` and ``hint`` (issue #23): a damaged file is a
problem of its own lineage, never an exception that stops the others.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from certv6.store.health import Health

if TYPE_CHECKING:
    from certv6.store.lineage import Lineage

ARI_FILE = "ari.json"  # renewal info (RFC 9773) last fetched, written by `certv6 renew`
HEALTH_FILE = "health.json"
CONFIG_FILE = "lineage.json"
REPAIR = "certv6 check-store --repair"


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One lineage as found on disk. ``meta`` is {} when unreadable.

    ``problem`` (with its ``hint``) says why it cannot be renewed as it is;
    ``empty`` means it holds no certificate at all (an issuance that never got
    as far as storing one); ``leftovers`` are dot-names a killed run may have left.
    """

    lineage: Lineage
    meta: Mapping[str, Any]
    ari: Mapping[str, Any] | None
    health: Health = field(default_factory=Health)
    config: Mapping[str, Any] = field(default_factory=dict)
    current: str = ""
    problem: str = ""
    hint: str = ""
    empty: bool = False
    leftovers: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.lineage.name


def config_problem(data: Any) -> str:
    """Why ``data`` is not a lineage.json certv6 can renew from ('' when it is one)."""
    if not isinstance(data, dict):
        return f"holds {type(data).__name__}, not an object"
    domains = data.get("domains")
    if not isinstance(domains, list) or not domains:
        return "names no domains (a list of names)"
    if not all(isinstance(domain, str) and domain for domain in domains):
        return "'domains' holds something that is not a name"
    return ""


def read_snapshot(lineage: Lineage) -> Snapshot | None:
    base = str(lineage.directory)
    try:
        names = set(os.listdir(base))
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as error:
        return Snapshot(lineage, {}, None, problem=f"cannot list {base}: {error.strerror}")
    health = read_health(os.path.join(base, HEALTH_FILE)) if HEALTH_FILE in names else Health()
    ari = read_json(os.path.join(base, ARI_FILE)) if ARI_FILE in names else None
    target = _readlink(os.path.join(base, "current")) if "current" in names else None
    meta = (read_json(os.path.join(base, target, "meta.json")) or {}) if target else {}
    config, unreadable = _read_config(os.path.join(base, CONFIG_FILE), CONFIG_FILE in names)
    empty = target is None and CONFIG_FILE not in names and not lineage.versions()
    problem, hint = _problem(lineage, target, bool(meta), unreadable, health, empty=empty)
    return Snapshot(
        lineage,
        meta,
        ari,
        health,
        config,
        target or "",
        problem,
        hint,
        empty,
        tuple(sorted(name for name in names if name.startswith("."))),
    )


def _problem(
    lineage: Lineage,
    target: str | None,
    has_meta: bool,
    unreadable: str,
    health: Health,
    *,
    empty: bool,
) -> tuple[str, str]:
    """Why the lineage cannot be renewed as it is, and the fix ('' when it can)."""
    if health.switch is not None or empty:
        return _unfinished(health, empty=empty)
    if target is None:
        versions = lineage.versions()
        fix = (
            f"{REPAIR} points it at versions/{versions[-1].name}" if versions else "issue it again"
        )
        return "has no 'current' link", fix
    if not has_meta and not os.path.isdir(os.path.join(lineage.directory, target)):
        return (
            f"'current' points at {target}, which is missing",
            f"{REPAIR} points it at the newest complete version",
        )
    if unreadable:
        return f"{CONFIG_FILE} {unreadable}", f"{REPAIR} restores it from the current version"
    if health.damaged:
        return (
            f"{HEALTH_FILE} {health.damaged}",
            f"{REPAIR} resets it (the next run installs the certificate again)",
        )
    return "", ""


def _unfinished(health: Health, *, empty: bool) -> tuple[str, str]:
    if health.switch is not None:
        return (
            f"version {health.switch.version} is being made current (or a run doing it "
            "was interrupted)",
            "the next certv6 renew (or install) finishes an interrupted switch",
        )
    return "holds no certificate (an interrupted first issuance)", f"{REPAIR} removes it"


def _read_config(path: str, present: bool) -> tuple[dict[str, Any], str]:
    if not present:
        return {}, "is missing"
    try:
        with open(path, "rb") as handle:
            data = json.loads(handle.read())
    except OSError as error:
        return {}, f"cannot be read ({error.strerror})"
    except ValueError as error:
        return {}, f"is not JSON ({error})"
    problem = config_problem(data)
    return (dict(data), "") if not problem else ({}, problem)


def read_health(path: str) -> Health:
    try:
        with open(path, "rb") as handle:
            data = json.loads(handle.read())
    except FileNotFoundError:
        return Health()
    except OSError as error:
        return Health(damaged=f"cannot be read ({error.strerror})")
    except ValueError as error:
        return Health(damaged=f"is not JSON ({error})")
    return Health.from_json(data)


def read_json(path: str) -> dict[str, Any] | None:
    try:
        with open(path, "rb") as handle:
            data = json.loads(handle.read())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _readlink(path: str) -> str | None:
    try:
        return os.readlink(path)
    except OSError:
        return None
