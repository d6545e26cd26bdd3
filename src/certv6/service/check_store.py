"""Use case: ``certv6 check-store [--repair]`` -- every damaged or unfinished thing, named.

Each finding says what is wrong and the fix. ``--repair`` applies the fixes
that need no guessing, each under the lineage's lock:

    interrupted switch         finished (or dropped when its version was never stored)
    no certificate at all      the directory is removed (an issuance killed early)
    temp files, half versions  removed when their writer is gone
    no or dangling 'current'   pointed at the newest complete version
    lineage.json damaged       restored from the current version's meta.json
    health.json damaged        reset, with the current version owed to the servers
    meta.json unreadable       rebuilt from cert.pem
    account.json damaged       removed (the key finds the account again)
    aaaa.json damaged          removed (only a record of the last certv6 aaaa run)

Not repaired (the fix is the user's): a damaged account key, a lineage.json
that no version can restore, a version directory with files missing, a damaged
published/NAME.AAAA.json (it says which AAAA values certv6 owns at NAME).
"""

from __future__ import annotations

import datetime
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from certv6.clock import SYSTEM_CLOCK, Clock
from certv6.errors import CertV6Error
from certv6.settings import Settings
from certv6.store import (
    Health,
    Lineage,
    Snapshot,
    Store,
    config_problem,
    lock_is_free,
    make_dirs,
    needs_recovery,
)

log = logging.getLogger("certv6")


@dataclass(frozen=True, slots=True)
class Finding:
    subject: str  # "certificate www", "account <dir>", "ledger", "state directory"
    problem: str
    fix: str
    repaired: str = ""  # what --repair did; empty when nothing was (or could be) done

    def to_json(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "problem": self.problem,
            "fix": self.fix or None,
            "repaired": self.repaired or None,
        }


def check_store(
    settings: Settings, *, repair: bool = False, clock: Clock = SYSTEM_CLOCK
) -> list[Finding]:
    """Every problem in the state directory; with ``repair``, fixed where that is safe."""
    store = Store(settings.state_dir)
    if not store.root.is_dir():
        return []
    now = clock.now()
    findings: list[Finding] = []
    for snapshot in store.lineages.snapshots():
        findings += _lineage(store, snapshot, repair=repair, now=now)
    findings += _accounts(store, repair=repair)
    findings += _ledger(store)
    findings += _aaaa(store, repair=repair)
    if repair:
        swept = store.sweep()
        if swept:
            findings.append(
                Finding("state directory", "temp files of killed runs", "", f"removed {len(swept)}")
            )
    return findings


def _lineage(
    store: Store, snapshot: Snapshot, *, repair: bool, now: datetime.datetime
) -> list[Finding]:
    subject = f"certificate {snapshot.name}"
    found = []
    if needs_recovery(snapshot):
        problem = snapshot.problem or f"leftovers of a killed run: {', '.join(snapshot.leftovers)}"
        fix = snapshot.hint or "removed by the next certv6 renew"
        done = "; ".join(store.recover(snapshot, now)) if repair else ""
        found.append(Finding(subject, problem, fix, done))
        fresh = snapshot.lineage.snapshot() if repair else snapshot
        if fresh is None or fresh.empty:
            return found
        snapshot = fresh
    if snapshot.health.switch is not None:
        return found  # a live run is storing a version: nothing else to judge now
    found += [Finding(subject, problem, fix) for problem, fix in _versions(snapshot.lineage)]
    for check in (_current, _config, _health, _meta):
        finding = check(snapshot, now)
        if finding is None:
            continue
        problem, fix, action = finding
        done = _locked(store, snapshot, action) if repair and action else ""
        found.append(Finding(subject, problem, fix, done))
    return found


Repair = Callable[[], str]


def _current(snapshot: Snapshot, now: datetime.datetime) -> tuple[str, str, Repair | None] | None:
    lineage = snapshot.lineage
    complete = lineage.complete_versions()
    current = snapshot.current.rsplit("/", 1)[-1]
    if snapshot.current and current in complete:
        return None
    what = (
        "has no 'current' link"
        if not snapshot.current
        else f"'current' -> {snapshot.current} is not a complete version"
    )
    if not complete:
        return what, "no complete version is stored: issue it again", None

    def point() -> str:
        lineage.point_current(complete[-1])
        return f"current -> versions/{complete[-1]}"

    return what, f"point it at versions/{complete[-1]} (--repair)", point


def _config(snapshot: Snapshot, now: datetime.datetime) -> tuple[str, str, Repair | None] | None:
    lineage = snapshot.lineage
    try:
        lineage.config()
        return None
    except CertV6Error as error:
        problem = error.message
    saved = _current_meta(lineage).get("lineage")
    if not isinstance(saved, dict) or config_problem(saved):
        names = " -d ".join(str(n) for n in _current_meta(lineage).get("domains") or ["NAME"])
        return problem, f"issue it again: certv6 issue --name {lineage.name} -d {names}", None

    def restore() -> str:
        lineage.save_config(saved)
        return "restored from the current version's meta.json"

    return problem, "restore it from the current version (--repair)", restore


def _health(snapshot: Snapshot, now: datetime.datetime) -> tuple[str, str, Repair | None] | None:
    if not snapshot.health.damaged:
        return None
    lineage = snapshot.lineage
    version = snapshot.current.rsplit("/", 1)[-1]

    def reset() -> str:
        lineage.update_health(lambda _damaged: Health.reset(version, now))
        return f"reset; {version} is owed to the servers again"

    return f"health.json {snapshot.health.damaged}", "reset it (--repair)", reset


def _meta(snapshot: Snapshot, now: datetime.datetime) -> tuple[str, str, Repair | None] | None:
    meta = _current_meta(snapshot.lineage)
    if not snapshot.current or all(key in meta for key in ("serial", "not_before", "not_after")):
        return None
    lineage = snapshot.lineage
    version = snapshot.current.rsplit("/", 1)[-1]

    def rebuild() -> str:
        from certv6.keys import certificate_info  # noqa: PLC0415 (only when repairing)

        info = certificate_info(lineage.version(version).read("cert.pem"))
        facts = {
            "domains": list(info.names),
            "serial": f"{info.serial:x}",
            "not_before": info.not_before.isoformat(),
            "not_after": info.not_after.isoformat(),
            "sha256": info.sha256,
        }
        lineage.save_meta(version, {**meta, **facts})
        return "rebuilt from cert.pem"

    return (
        f"{snapshot.current}/meta.json is unreadable or incomplete",
        "rebuild it (--repair)",
        rebuild,
    )


def _versions(lineage: Lineage) -> list[tuple[str, str]]:
    found = []
    for path in lineage.versions():
        missing = lineage.missing_files(path.name)
        if missing:
            found.append(
                (
                    f"versions/{path.name} lacks {', '.join(missing)}",
                    f"remove {path} by hand once 'current' does not point at it",
                )
            )
    return found


def _current_meta(lineage: Lineage) -> dict[str, Any]:
    try:
        return dict(lineage.current().meta)
    except CertV6Error:
        return {}


def _locked(store: Store, snapshot: Snapshot, action: Repair) -> str:
    with lock_is_free(store.certificate_lock(snapshot.name)) as free:
        if not free:
            return ""  # a live run holds it; try again later
        try:
            return action()
        except CertV6Error as error:
            log.warning("%s: repair failed: %s", snapshot.name, error)
            return ""


def _accounts(store: Store, *, repair: bool) -> list[Finding]:
    found = []
    for account, problem, fix in store.account_problems():
        done = ""
        if repair and account.key_problem() is None:
            account.forget_url()
            done = f"removed {account.info_path}"
        found.append(Finding(f"account {account.directory}", problem, fix, done))
    return found


def _ledger(store: Store) -> list[Finding]:
    stale = store.ledger.stale_entries()
    values = sum(len(entry.records) for entry, _ in stale)
    for _, fd in stale:
        os.close(fd)
    if not values:
        return []
    return [
        Finding(
            "ledger",
            f"{values} TXT value(s) left by interrupted runs",
            "certv6 cleanup --stale removes them",
        )
    ]


def _aaaa(store: Store, *, repair: bool) -> list[Finding]:
    found = []
    health = store.aaaa_health.read()
    if health is not None and health.damaged:
        done = ""
        if repair:
            make_dirs(store.lock_path("aaaa").parent)
            with lock_is_free(store.lock_path("aaaa")) as free:
                if free:  # else a live certv6 aaaa run is about to write it anew
                    store.aaaa_health.remove()
                    done = "removed; the next certv6 aaaa writes it again"
        fix = "remove it (--repair); the next certv6 aaaa writes it again"
        found.append(Finding("certv6 aaaa", f"aaaa.json {health.damaged}", fix, done))
    for path, problem in store.owned.problems():
        fix = f"remove {path} by hand: certv6 then owns only this host's addresses at that name"
        found.append(Finding("certv6 aaaa", problem, fix))
    return found
