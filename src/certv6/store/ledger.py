"""The ledger of published TXT values: written before present, removed after cleanup.

Each run's entry is a small JSON file that the run keeps flock-ed while it is
alive. An entry nobody holds a lock on belongs to a run that died (SIGKILL,
power loss) between present and cleanup: its values are still in the DNS and
must be removed. ``stale_entries`` finds those; the next run (or
``certv6 cleanup --stale``) cleans them up.

Hook runs (certbot and friends calling ``certv6 hook``) cannot hold a lock
between calls; their journals (``*.hookrun``, see certv6.hookrun) are stale once
the ACME client process that owns them is gone, and are cleaned up the same way.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from certv6 import fsatomic, hookrun
from certv6.errors import StoreError
from certv6.model import TxtRecord
from certv6.store.atomic import fsync_dir, make_dirs, write_atomic
from certv6.store.locks import try_lock


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    path: Path
    provider: str
    lineage: str
    records: tuple[TxtRecord, ...]
    created: str


class Ledger:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    @contextlib.contextmanager
    def recording(
        self, provider: str, lineage: str, records: Sequence[TxtRecord]
    ) -> Iterator[LedgerEntry]:
        """Record ``records`` as published for as long as the block runs.

        The entry is removed when the block ends normally or with an error that
        the caller handled its cleanup for; it stays when the process dies.
        Call ``discard`` after a successful cleanup.
        """
        make_dirs(self.directory)
        entry, fd = self._create(provider, lineage, records)
        try:
            yield entry
        finally:
            os.close(fd)

    def discard(self, entry: LedgerEntry) -> None:
        with contextlib.suppress(FileNotFoundError):
            entry.path.unlink()
        fsync_dir(self.directory)

    def forget(self, entry: LedgerEntry, values: frozenset[str] | None = None) -> int:
        """Drop ``values`` (None: all) from a claimed stale entry; return how many went.

        For values the user removed from the DNS by hand (``cleanup --stale --forget``).
        """
        keep = tuple(r for r in entry.records if values is not None and r.value not in values)
        if keep:
            body = {
                "provider": entry.provider,
                "lineage": entry.lineage,
                "created": entry.created,
                "pid": os.getpid(),
                "records": [[record.owner, record.value] for record in keep],
            }
            write_atomic(self.directory / f"{uuid.uuid4().hex}.json", json.dumps(body).encode())
        self.discard(entry)
        return len(entry.records) - len(keep)

    def has_entries(self) -> bool:
        """Whether any entry (live or stale) exists: cheap, for runs that skip the ledger."""
        try:
            names = os.listdir(self.directory)
        except FileNotFoundError:
            return False
        except OSError as error:
            raise StoreError(f"cannot list {self.directory}: {error.strerror}") from error
        return any(n.endswith((".json", hookrun.SUFFIX)) and not n.startswith(".") for n in names)

    def sweep(self) -> list[str]:
        """Remove temp files of entries whose writer died before naming them."""
        try:
            return [path.name for path in fsatomic.sweep(self.directory, state=True)]
        except OSError as error:
            raise StoreError(f"cannot clean up {self.directory}: {error.strerror}") from error

    def stale_entries(self) -> list[tuple[LedgerEntry, int]]:
        """Entries no live run holds, each with an open, locked fd the caller must close."""
        if not self.directory.is_dir():
            return []
        stale = []
        for path in sorted(self.directory.glob("*.json")):
            claimed = _claim(path)
            if claimed is not None:
                stale.append(claimed)
        stale.extend(_dead_hook_runs(self.directory))
        return stale

    def _create(
        self, provider: str, lineage: str, records: Sequence[TxtRecord]
    ) -> tuple[LedgerEntry, int]:
        created = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
        body = {
            "provider": provider,
            "lineage": lineage,
            "created": created,
            "pid": os.getpid(),
            "records": [[record.owner, record.value] for record in records],
        }
        name = f"{uuid.uuid4().hex}.json"
        temp = self.directory / f".{name}{fsatomic.MARK}{os.getpid()}{fsatomic.SUFFIX}"
        fd = -1
        try:
            # Lock before the file becomes visible under its real name, so no other
            # run can mistake it for a stale entry (the lock follows the inode).
            fd = os.open(temp, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
            try_lock(fd)
            _write_all(fd, json.dumps(body).encode())
            os.fsync(fd)
            os.rename(temp, self.directory / name)
        except OSError as error:
            # A full disk or a read-only directory: leave nothing half-written behind.
            if fd >= 0:
                os.close(fd)
            with contextlib.suppress(OSError):
                temp.unlink()
            raise StoreError(f"cannot write the TXT ledger: {error.strerror}") from error
        fsync_dir(self.directory)
        entry = LedgerEntry(self.directory / name, provider, lineage, tuple(records), created)
        return entry, fd


def _claim(path: Path) -> tuple[LedgerEntry, int] | None:
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return None
    if not try_lock(fd):
        os.close(fd)
        return None
    try:
        body = json.loads(path.read_text())
        records = tuple(TxtRecord(str(owner), str(value)) for owner, value in body["records"])
        entry = LedgerEntry(
            path, str(body["provider"]), str(body["lineage"]), records, str(body.get("created", ""))
        )
    except (OSError, ValueError, KeyError, TypeError):
        # A torn or foreign file: nothing we can clean up from it; drop it.
        os.close(fd)
        with contextlib.suppress(OSError):
            path.unlink()
        return None
    return entry, fd


def _dead_hook_runs(directory: Path) -> list[tuple[LedgerEntry, int]]:
    """Hook-run journals whose ACME client process is gone, as ledger entries."""
    found = []
    for path in sorted(directory.glob(f"*{hookrun.SUFFIX}")):
        dead = hookrun.claim_if_dead(path)
        if dead is None:
            continue
        client = f"{dead.owner.comm} (pid {dead.owner.pid})" if dead.owner else "unknown"
        records = tuple(TxtRecord(owner, value) for owner, value in dead.records)
        entry = LedgerEntry(path, dead.provider, f"hook run of {client}", records, dead.created)
        found.append((entry, dead.fd))
    return found


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
