"""Lab daemons: start them inside a namespace, watch them, stop them by process group."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .prereq import find_binary


def start_time(pid: int) -> int | None:
    """Kernel start time of ``pid`` (clock ticks), to tell a process from a reused pid."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Field 22, counted after the ")" that closes the (possibly odd) command name.
    return int(stat.rsplit(")", 1)[1].split()[19])


def is_running(pid: int, started: int | None) -> bool:
    now = start_time(pid)
    return now is not None and (started is None or now == started)


def tail(path: Path, lines: int = 30) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"(no log: {exc})"
    return "\n".join(text.splitlines()[-lines:])


@dataclass
class Daemon:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    started: int | None = field(default=None)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def describe_exit(self) -> str:
        status = self.popen.returncode
        return f"{self.name} exited with status {status}; log {self.log}:\n{tail(self.log)}"


def _pdeathsig_prefix() -> list[str]:
    # If the lab's owner dies without cleaning up (SIGKILL), the kernel sends its daemons
    # SIGTERM.  The signal fires when the *thread* that forked exits, so only use it from the
    # main thread, which lives as long as the process.
    if threading.current_thread() is not threading.main_thread():
        return []
    setpriv = find_binary("setpriv")
    return [str(setpriv), "--pdeathsig", "TERM", "--"] if setpriv else []


def spawn(
    name: str,
    netns: str,
    argv: Sequence[str],
    *,
    log: Path,
    ip: str = "ip",
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    pass_fds: Sequence[int] = (),
) -> Daemon:
    """Start ``argv`` inside ``netns`` in a new session (its pid is its process group id)."""
    full = [ip, "netns", "exec", netns, *_pdeathsig_prefix(), *argv]
    with open(log, "ab") as out:
        popen = subprocess.Popen(
            full,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=cwd,
            pass_fds=tuple(pass_fds),
            start_new_session=True,
        )
    return Daemon(name=name, popen=popen, log=log, started=start_time(popen.pid))


def signal_group(pid: int, started: int | None, sig: int) -> None:
    """Signal the process group led by ``pid``, unless that pid now belongs to someone else."""
    if not is_running(pid, started):
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, sig)


def stop(daemons: Sequence[Daemon], *, grace: float = 2.0) -> None:
    """SIGTERM every daemon, wait up to ``grace`` seconds in total, then SIGKILL the rest."""
    for d in daemons:
        if d.alive():
            signal_group(d.pid, d.started, signal.SIGTERM)
    deadline = time.monotonic() + grace
    for d in daemons:
        try:
            d.popen.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            signal_group(d.pid, d.started, signal.SIGKILL)
            d.popen.wait(timeout=5)


def kill_pids(pids: Sequence[int], *, timeout: float = 5.0) -> list[int]:
    """SIGKILL processes that are not our children; return the ones still present afterwards."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + timeout
    left = list(pids)
    while left and time.monotonic() < deadline:
        left = [p for p in left if _exists_unreaped(p)]
        if left:
            time.sleep(0.02)
    return left


def _exists_unreaped(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    # A zombie has left its namespace already; its parent will reap it.
    return state != "Z"
