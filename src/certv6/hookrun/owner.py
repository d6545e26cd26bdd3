"""Which ACME client process a hook call belongs to, read from /proc.

The run's identity is the client's pid plus its start time (field 22 of
/proc/<pid>/stat, clock ticks after boot) plus the boot id, so a later process
that reuses the pid, or the same pid after a reboot, is a different run.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from certv6.errors import ConfigError, StoreError

OWNER_ENV = "CERTV6_HOOK_OWNER_PID"
# Shells that process-spawning code puts between a client and its hook
# (certbot runs hooks with `sh -c`); a `-c` shell is never the run itself.
_SHELLS = frozenset({"sh", "dash", "bash", "zsh", "ksh", "mksh", "ash", "busybox", "fish"})
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


@dataclass(frozen=True, slots=True)
class RunOwner:
    """The ACME client process a hook call belongs to."""

    pid: int
    start: int  # clock ticks after boot (field 22 of /proc/<pid>/stat)
    comm: str
    boot: str  # /proc/sys/kernel/random/boot_id: pids and ticks restart at boot

    @property
    def key(self) -> str:
        return f"{_UNSAFE.sub('_', self.comm) or 'client'}-{self.pid}-{self.start}"

    def alive(self) -> bool:
        now = _process(self.pid)
        return now is not None and now.start == self.start and self.boot == boot_id()

    def to_json(self) -> dict[str, object]:
        return {"pid": self.pid, "start": self.start, "comm": self.comm, "boot": self.boot}


@dataclass(frozen=True, slots=True)
class _Process:
    pid: int
    ppid: int
    start: int
    comm: str


def find_owner(env: Mapping[str, str]) -> RunOwner:
    """The ACME client that started this hook: the nearest ancestor that is not a
    ``sh -c`` in between, nor a forked copy of its parent (a bash subshell).

    ``CERTV6_HOOK_OWNER_PID`` names it outright, for wrappers of your own.

    Raises:
        StoreError: /proc cannot be read, or the named process does not exist.
    """
    wanted = env.get(OWNER_ENV, "").strip()
    pid = _owner_pid(wanted) if wanted else _climb(os.getppid())
    found = _process(pid)
    if found is None:
        raise StoreError(
            f"process {pid} (the ACME client running this hook) is not in /proc",
            hint=f"hooks need Linux /proc; {OWNER_ENV} must name a running process",
        )
    return RunOwner(found.pid, found.start, found.comm, boot_id())


def _owner_pid(text: str) -> int:
    if not text.isdigit():
        raise ConfigError(f"{OWNER_ENV}={text!r} is not a process id")
    return int(text)


def _climb(pid: int) -> int:
    current = _process(pid)
    while current is not None and current.ppid > 1:
        parent = _process(current.ppid)
        if parent is None or not _is_go_between(current, parent):
            break
        current = parent
    return pid if current is None else current.pid


def _is_go_between(process: _Process, parent: _Process) -> bool:
    if process.comm in _SHELLS and "-c" in _cmdline(process.pid)[1:2]:
        return True
    # `( "$HOOK" ... )` in a bash client (dehydrated) forks a copy of the client.
    return process.comm == parent.comm and _cmdline(process.pid) == _cmdline(parent.pid)


def _process(pid: int) -> _Process | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # comm is in parentheses and may itself contain spaces and parentheses.
    head, _, tail = text.rpartition(")")
    fields = tail.split()
    return _Process(pid, int(fields[1]), int(fields[19]), head.partition("(")[2])


def _cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return []


def boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""
