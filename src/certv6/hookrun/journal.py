"""The journal of one hook run: append-only JSON lines under flock, and stale detection."""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import json
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from certv6.errors import StoreError
from certv6.hookrun.owner import RunOwner
from certv6.hookrun.state import Pair, RunState

SUFFIX = ".hookrun"


def ledger_directory(state_dir: Path) -> Path:
    """Where journals live: the ledger's directory (``Store(state_dir).ledger.directory``)."""
    return state_dir / "ledger"


class RunJournal:
    """The append-only journal of one hook run, one JSON event per line.

    Appends happen under flock and are small, so a crash can tear at most the
    last line, which ``read`` skips. Nothing is ever rewritten, so the lock
    always stays on the same inode.
    """

    def __init__(self, state_dir: Path, owner: RunOwner) -> None:
        self.state_dir = state_dir
        self.directory = ledger_directory(state_dir)
        self.owner = owner
        self.path = self.directory / f"{owner.key}{SUFFIX}"

    def plan(self, pairs: Iterable[Pair]) -> RunState:
        """Record values the client handed over; nothing is published yet."""
        with self._locked(create=True) as (fd, state):
            known = {*state.published, *state.planned}
            new = [list(pair) for pair in dict.fromkeys(pairs) if pair not in known]
            if new:
                # No fsync: a value only recorded was never published, so losing it is harmless.
                _append(fd, {"plan": new}, sync=False)
                state.apply({"plan": new})
            return state

    def read(self) -> RunState:
        with self._locked(create=False) as (_, state):
            return state

    def publishing(self, provider: str, triples: Iterable[tuple[str, str, str]]) -> None:
        """Record (owner, value, owner written at) as published, durably, before present."""
        with self._locked(create=True) as (fd, state):
            mine = state.providers() - {provider}
            if mine:
                raise StoreError(
                    f"this run already published with provider {sorted(mine)[0]!r}",
                    hint="one ACME client run uses one provider; set --provider the same way",
                )
            _append(fd, {"publish": provider, "records": [list(t) for t in triples]}, sync=True)
        _sync_dir(self.directory)

    def removed(self, pairs: Iterable[Pair]) -> None:
        """Forget values that are gone from the DNS; drop the journal once it is empty."""
        with self._locked(create=False) as (fd, state):
            if fd < 0:
                return
            gone = [list(pair) for pair in pairs]
            _append(fd, {"remove": gone}, sync=False)
            state.apply({"remove": gone})
            if state.empty:
                with contextlib.suppress(FileNotFoundError):
                    self.path.unlink()

    @contextlib.contextmanager
    def _locked(self, *, create: bool) -> Iterator[tuple[int, RunState]]:
        if create:
            _make_private_dirs(self.state_dir, self.directory)
        fd = _open_locked(self.path, create=create)
        if fd < 0:
            yield fd, RunState(self.owner)
            return
        try:
            state = _fold(fd)
            if state.owner is None and create:
                created = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
                _append(fd, {"owner": self.owner.to_json(), "created": created}, sync=False)
                state.owner, state.created = self.owner, created
            yield fd, state
        finally:
            os.close(fd)


@dataclass(frozen=True, slots=True)
class DeadRun:
    """A journal whose client is gone, locked (``fd``) for the caller to clean up and close."""

    path: Path
    fd: int
    owner: RunOwner | None
    provider: str
    records: tuple[Pair, ...]  # (owner written at, value): what to delete
    created: str


def claim_if_dead(path: Path) -> DeadRun | None:
    """Lock ``path`` if its client process is gone and it still lists published values.

    A dead journal with nothing published is removed on the spot.
    """
    fd = _open_locked(path, create=False, wait=False)
    if fd < 0:
        return None
    state = _fold(fd)
    if state.owner is not None and state.owner.alive():
        os.close(fd)
        return None
    if not state.published:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        os.close(fd)
        return None
    provider = sorted(state.providers())[0]
    records = tuple(
        (written, value)
        for (_, value), (used, written) in state.published.items()
        if used == provider
    )
    return DeadRun(path, fd, state.owner, provider, records, state.created)


def _open_locked(path: Path, *, create: bool, wait: bool = True) -> int:
    """An fd of ``path`` with an exclusive flock, or -1 (missing, or busy and not ``wait``)."""
    flags = os.O_RDWR | os.O_APPEND | (os.O_CREAT if create else 0)
    while True:
        try:
            fd = os.open(path, flags, 0o600)
        except FileNotFoundError:
            return -1
        except OSError as error:
            raise StoreError(f"cannot open the hook journal {path}: {error.strerror}") from error
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            os.close(fd)
            return -1
        # Whoever held the lock may have removed the file meanwhile: use the current one.
        with contextlib.suppress(FileNotFoundError):
            if os.fstat(fd).st_ino == os.stat(path).st_ino:
                return fd
        os.close(fd)
        if not create:
            return -1


def _make_private_dirs(*directories: Path) -> None:
    for directory in directories:
        try:
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as error:
            raise StoreError(f"cannot create {directory}: {error.strerror}") from error


def _fold(fd: int) -> RunState:
    state = RunState()
    with os.fdopen(os.dup(fd), "rb") as handle:
        handle.seek(0)
        for line in handle:
            try:
                event = json.loads(line)
            except ValueError:
                continue  # a line torn by a crash
            if isinstance(event, dict):
                state.apply(event)
    return state


def _append(fd: int, event: Mapping[str, object], *, sync: bool) -> None:
    line = (json.dumps(event, separators=(",", ":")) + "\n").encode()
    try:
        end = os.lseek(fd, 0, os.SEEK_END)
        if end and os.pread(fd, 1, end - 1) != b"\n":
            line = b"\n" + line  # after a line torn by a crash: start a fresh one
        os.write(fd, line)
        if sync:
            os.fsync(fd)
    except OSError as error:
        raise StoreError(f"cannot write the hook journal: {error.strerror}") from error


def _sync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
