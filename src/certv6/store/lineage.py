"""Certificate lineages: versioned directories and an atomically switched ``current`` link.

    certificates/<name>/lineage.json        what to renew: domains, key type, provider, CA
    certificates/<name>/versions/0001/      privkey.pem cert.pem chain.pem fullchain.pem meta.json
    certificates/<name>/current -> versions/0001
    certificates/<name>/ari.json            the CA's renewal info last seen (RFC 9773)
    certificates/<name>/health.json         what happened to it (certv6.store.health)

A new version is added in five steps, each of which a crash may interrupt:

1. health.json records the intent: version N is being made current (and so is
   owed to the servers), with the lineage.json it comes with
2. ``.incoming-N-<pid>/`` is written and renamed to ``versions/N`` complete
3. lineage.json is written, 4. ``current`` is switched (one rename)
5. health.json: the switch is done, version N is owed to the servers

``finish_switch`` is the next run's half: it redoes 3-5 when ``versions/N``
exists, and drops the intent when it does not. The four files always change
together, and the previous version stays for rollback.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import logging
import os
import re
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from certv6 import fsatomic
from certv6.errors import ConfigError, StoreError
from certv6.store.atomic import PRIVATE, PUBLIC, fsync_dir, make_dirs, replace_symlink, write_atomic
from certv6.store.health import Health
from certv6.store.locks import directory_lock
from certv6.store.snapshot import (
    ARI_FILE,
    CONFIG_FILE,
    HEALTH_FILE,
    REPAIR,
    Snapshot,
    config_problem,
    read_health,
    read_json,
    read_snapshot,
)
from certv6.syntax import VERSION_DIR

log = logging.getLogger("certv6")

FILES = ("privkey.pem", "cert.pem", "chain.pem", "fullchain.pem")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_INCOMING = re.compile(r"^\.incoming-\d{4,}-(\d+)$")


def check_lineage_name(name: str) -> str:
    if not _NAME.match(name):
        raise ConfigError(
            f"invalid certificate name {name!r}",
            hint="use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit",
        )
    return name


@dataclass(frozen=True, slots=True)
class Version:
    directory: Path
    meta: Mapping[str, Any]

    @property
    def name(self) -> str:
        return self.directory.name

    def path(self, filename: str) -> Path:
        return self.directory / filename

    def read(self, filename: str) -> bytes:
        try:
            return self.path(filename).read_bytes()
        except OSError as error:
            raise StoreError(f"cannot read {self.path(filename)}: {error.strerror}") from error


class Lineage:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.name = directory.name

    @property
    def current_link(self) -> Path:
        return self.directory / "current"

    def exists(self) -> bool:
        return (self.directory / CONFIG_FILE).is_file() and self.current_link.exists()

    def config(self) -> dict[str, Any]:
        """lineage.json, checked: an object whose ``domains`` is a list of names.

        Raises:
            StoreError: missing, not JSON, or not what certv6 writes there.
        """
        path = self.directory / CONFIG_FILE
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as error:
            raise _damaged(path, str(error)) from error
        problem = config_problem(data)
        if problem:
            raise _damaged(path, problem)
        return dict(data)

    def save_config(self, config: Mapping[str, Any]) -> None:
        make_dirs(self.directory)
        write_atomic(self.directory / CONFIG_FILE, _json(config), PUBLIC)

    def current(self) -> Version:
        if not self.current_link.exists():
            raise StoreError(
                f"certificate {self.name!r} has no current version",
                hint=f"{REPAIR} points 'current' at the newest complete version",
            )
        directory = self.current_link.resolve()
        return Version(directory, _read_meta(directory))

    def version(self, name: str) -> Version:
        directory = self.directory / "versions" / name
        return Version(directory, _read_meta(directory))

    def versions(self) -> list[Path]:
        versions = self.directory / "versions"
        if not versions.is_dir():
            return []
        return sorted(p for p in versions.iterdir() if VERSION_DIR.fullmatch(p.name))

    # --- health ---------------------------------------------------------------------------

    def health(self) -> Health:
        """health.json; a lineage without one (older certv6) has an empty record."""
        return read_health(str(self.directory / HEALTH_FILE))

    def update_health(self, change: Callable[[Health], Health]) -> Health:
        """Read, change and write health.json, one process at a time.

        Raises:
            StoreError: it cannot be written (the change is then not recorded).
        """
        make_dirs(self.directory)
        with directory_lock(self.directory):
            health = change(self.health())
            write_atomic(self.directory / HEALTH_FILE, _json(health.to_json()), PUBLIC)
        return health

    def record(self, change: Callable[[Health], Health]) -> None:
        """``update_health`` for outcomes that must not undo what already worked.

        A record that cannot be written is logged; the next run then sees the old
        record (an install still owed, say) and does that step again.
        """
        try:
            self.update_health(change)
        except StoreError as error:
            log.warning("%s: cannot record the outcome: %s", self.name, error)

    # --- new versions ---------------------------------------------------------------------

    def add_version(
        self,
        files: Mapping[str, bytes],
        meta: Mapping[str, Any],
        config: Mapping[str, Any],
        *,
        now: datetime.datetime,
        deploy_hook: bool = False,
        name: str | None = None,
    ) -> Version:
        """Write a complete new version and make it current (steps 1-5 of the module doc).

        ``deploy_hook``: the global deploy hook is owed for it too (a renewal).
        ``name``: the version's number when a shared store chose it (a fleet's
        versions keep their numbers on every host); a complete ``versions/<name>``
        already here is made current as it is.

        Raises:
            StoreError: a step failed; the message says whether the version was kept.
        """
        make_dirs(self.directory / "versions")
        self.remove_incomplete()
        if name is None:
            numbers = [int(p.name) for p in self.versions()]
            name = f"{max([0, *numbers]) + 1:04d}"
        elif name in self.complete_versions():
            known = name
            self.update_health(lambda h: h.switching(known, config, now, deploy_hook=deploy_hook))
            return self._switched(known, now)
        number = name
        self.update_health(lambda h: h.switching(number, config, now, deploy_hook=deploy_hook))
        try:
            self.store_version(number, files, meta, config)
        except StoreError:
            # A full disk: no half version stays behind (store_version), nor an intent for it.
            with contextlib.suppress(StoreError):
                self.update_health(Health.switch_abandoned)
            raise
        return self._switched(number, now)

    def store_version(
        self,
        name: str,
        files: Mapping[str, bytes],
        meta: Mapping[str, Any],
        config: Mapping[str, Any],
    ) -> None:
        """Write ``versions/<name>`` complete (staged, then one rename), without switching.

        Raises:
            StoreError: it cannot be written; nothing of it is left behind.
        """
        versions = make_dirs(self.directory / "versions")
        incoming = self.directory / f".incoming-{name}-{os.getpid()}"
        final = versions / name
        try:
            make_dirs(incoming)
            for filename in FILES:
                mode = PRIVATE if "key" in filename else PUBLIC
                write_atomic(incoming / filename, files[filename], mode)
            write_atomic(incoming / "meta.json", _json({**meta, "lineage": dict(config)}), PUBLIC)
            os.rename(incoming, final)
        except (OSError, StoreError) as error:
            shutil.rmtree(incoming, ignore_errors=True)
            if isinstance(error, StoreError):
                raise
            raise StoreError(f"cannot create {final}: {error.strerror}") from error
        fsync_dir(versions)
        fsync_dir(self.directory)

    def _switched(self, name: str, now: datetime.datetime) -> Version:
        try:
            version = self.finish_switch(now)
        except StoreError as error:
            raise StoreError(
                f"{error.message}; version {name} is stored and the next certv6 run makes it "
                "current",
                hint=error.hint,
            ) from error
        if version is None:  # cannot happen: the intent was ours and versions/N is complete
            raise StoreError(f"version {name} of {self.name!r} vanished while being stored")
        return version

    def finish_switch(self, now: datetime.datetime) -> Version | None:
        """Finish (or drop) an interrupted switch; None when none was pending or it was dropped.

        Call it holding the certificate's lock: a pending switch may be a live run's.

        Raises:
            StoreError: lineage.json or ``current`` cannot be written.
        """
        switch = self.health().switch
        if switch is None:
            return None
        final = self.directory / "versions" / switch.version
        if not (final / "meta.json").is_file():
            # Killed before the rename: nothing of this version exists.
            self.update_health(Health.switch_abandoned)
            return None
        self.save_config(switch.config)
        replace_symlink(self.current_link, f"versions/{switch.version}")
        meta = _read_meta(final)
        try:
            self.update_health(lambda h: h.switched(str(meta.get("serial", "")), now))
        except StoreError as error:
            # ``current`` already moved: the certificate is in place. The intent stays,
            # and the next run redoes these idempotent steps and records them.
            log.warning("%s: %s (the next run records it)", self.name, error)
        return Version(final, meta)

    def missing_files(self, version: str) -> list[str]:
        """What a complete ``versions/<version>`` has that this one lacks ([] = complete)."""
        directory = self.directory / "versions" / version
        return [name for name in (*FILES, "meta.json") if not (directory / name).is_file()]

    def complete_versions(self) -> list[str]:
        return [p.name for p in self.versions() if not self.missing_files(p.name)]

    def save_meta(self, version: str, meta: Mapping[str, Any]) -> None:
        """Rewrite a version's meta.json (a repair: its facts re-read from cert.pem)."""
        write_atomic(self.directory / "versions" / version / "meta.json", _json(meta), PUBLIC)

    def point_current(self, version: str) -> None:
        """Make ``versions/<version>`` current (a repair; renewals use add_version)."""
        replace_symlink(self.current_link, f"versions/{version}")

    def remove_incomplete(self) -> list[str]:
        """Version directories that killed runs left half-written (``current`` never names one)."""
        removed = []
        for leftover in _dead_incoming(self.directory):
            shutil.rmtree(self.directory / leftover, ignore_errors=True)
            removed.append(leftover)
        legacy = self.directory / "versions"  # certv6 before 0.2 staged versions there
        for path in legacy.glob(".incoming-*") if legacy.is_dir() else ():
            shutil.rmtree(path, ignore_errors=True)
            removed.append(f"versions/{path.name}")
        return removed

    def sweep(self) -> list[str]:
        """Remove what dead runs left in this lineage: temp files and half-written versions."""
        try:
            gone = [path.name for path in fsatomic.sweep(self.directory, state=True)]
        except OSError as error:
            raise StoreError(f"cannot clean up {self.directory}: {error.strerror}") from error
        return gone + self.remove_incomplete()

    def remove(self) -> None:
        """Delete the whole lineage: one rename hides it, then its files go."""
        doomed = self.directory.with_name(f".deleted-{self.name}-{os.getpid()}")
        try:
            os.rename(self.directory, doomed)
        except OSError as error:
            raise StoreError(f"cannot remove {self.directory}: {error.strerror}") from error
        fsync_dir(self.directory.parent)
        shutil.rmtree(doomed, ignore_errors=True)

    # --- renewal info ---------------------------------------------------------------------

    def ari_state(self) -> dict[str, Any] | None:
        """What the CA last said about renewing this lineage (``ari.json``), if anything.

        A torn or foreign file reads as nothing: the CA is then simply asked again.
        """
        return read_json(os.path.join(self.directory, ARI_FILE))

    def save_ari_state(self, state: Mapping[str, Any]) -> None:
        write_atomic(self.directory / ARI_FILE, _json(state), PUBLIC)

    def snapshot(self) -> Snapshot | None:
        """What deciding a renewal needs from disk, or None when there is no such directory.

        ``certv6 renew`` reads this for every lineage on every run, so it lists the
        directory once and reads only small JSON files, never a PEM (bench/renew.py).
        """
        return read_snapshot(self)


class Lineages:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def get(self, name: str) -> Lineage:
        return Lineage(self.directory / check_lineage_name(name))

    def names(self) -> list[str]:
        """Every lineage directory's name, complete or not, in order."""
        try:
            return sorted(name for name in os.listdir(self.directory) if _NAME.match(name))
        except FileNotFoundError:
            return []
        except OSError as error:
            raise StoreError(f"cannot list {self.directory}: {error.strerror}") from error

    def all(self) -> list[Lineage]:
        """The complete lineages."""
        found = (Lineage(self.directory / name) for name in self.names())
        return [lineage for lineage in found if lineage.exists()]

    def snapshots(self) -> list[Snapshot]:
        """``snapshot()`` of every lineage directory (damaged ones too), in name order."""
        found = (Lineage(self.directory / name).snapshot() for name in self.names())
        return [snapshot for snapshot in found if snapshot is not None]

    def sweep(self) -> list[str]:
        """Remove what deleting runs left (``.deleted-*``) and dead writers' temp files here."""
        removed = []
        for path in self.directory.glob(".deleted-*") if self.directory.is_dir() else ():
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path.name)
        try:
            removed += [p.name for p in fsatomic.sweep(self.directory, state=True)]
        except OSError as error:
            raise StoreError(f"cannot clean up {self.directory}: {error.strerror}") from error
        return removed


def _dead_incoming(directory: Path) -> list[str]:
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return []
    found = []
    for name in names:
        match = _INCOMING.match(name)
        if match and not fsatomic.pid_alive(int(match.group(1))):
            found.append(name)
    return found


def _damaged(path: Path, why: str) -> StoreError:
    return StoreError(f"{path} {why}", hint=f"{REPAIR} restores it from the current version")


def _read_meta(directory: Path) -> dict[str, Any]:
    return read_json(str(directory / "meta.json")) or {}


def _json(value: Mapping[str, Any]) -> bytes:
    return (json.dumps(value, indent=2, sort_keys=True) + "\n").encode()
