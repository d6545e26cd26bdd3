"""One state file per running lab, so a lab whose owner died can be found and removed.

``/run/certv6-lab/<id>.json`` records the owner (pid + start time, so a reused pid does not
look alive), the namespaces, the daemons' process groups and the work directory.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from . import network, procs
from .netns import namespace_pids

STATE_DIR = Path("/run/certv6-lab")


@dataclass
class LabState:
    id: str
    owner_pid: int
    owner_started: int | None
    namespaces: list[str]
    workdir: str
    keep_workdir: bool = False
    # [pid, start time] of each daemon process group.
    groups: list[tuple[int, int | None]] = field(default_factory=list)

    @property
    def path(self) -> Path:
        return STATE_DIR / f"{self.id}.json"

    def save(self) -> None:
        STATE_DIR.mkdir(mode=0o755, parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=1))
        os.replace(tmp, self.path)

    def owner_alive(self) -> bool:
        return procs.is_running(self.owner_pid, self.owner_started)

    @classmethod
    def load(cls, path: Path) -> LabState:
        raw = json.loads(path.read_text())
        raw["groups"] = [tuple(g) for g in raw.get("groups", [])]
        return cls(**raw)


UNREADABLE_GRACE = 60.0  # seconds an unreadable state file may be "just being written"


def _age(path: Path) -> float:
    try:
        return time.time() - path.stat().st_mtime
    except OSError:
        return 0.0


def teardown(state: LabState, *, ip: str) -> list[str]:
    """Remove everything a lab left: processes, namespaces, /etc/netns, workdir, state file.

    Used for stale labs (owner dead) and as the last step of Lab.stop().  Returns problems.
    """
    for pid, started in state.groups:
        procs.signal_group(pid, started, signal.SIGKILL)
    # Anything else still inside the lab's namespaces was started there by the lab's user
    # (e.g. a test's popen_in_client); nothing else can be in them.
    stray = [pid for ns in state.namespaces for pid in namespace_pids(ns, ip=ip)]
    left = procs.kill_pids(stray)
    problems = [f"pid {pid} survived SIGKILL" for pid in left]
    problems += network.destroy(state.namespaces, ip=ip)
    if not state.keep_workdir:
        shutil.rmtree(state.workdir, ignore_errors=True)
    state.path.unlink(missing_ok=True)
    return problems


def remove_stale(*, ip: str) -> list[str]:
    """Tear down every lab whose owner process is gone; return the ids removed."""
    removed = []
    for path in sorted(STATE_DIR.glob("*.json")) if STATE_DIR.exists() else []:
        try:
            state = LabState.load(path)
        except (OSError, ValueError, TypeError):
            # Claimed a moment ago and not written yet -- or left half-made by a crash long ago.
            if _age(path) > UNREADABLE_GRACE:
                path.unlink(missing_ok=True)
            continue
        if state.owner_alive():
            continue
        teardown(state, ip=ip)
        removed.append(state.id)
    return removed


def claim(lab_id: str) -> bool:
    """Atomically reserve ``lab_id`` (False if another lab holds it)."""
    STATE_DIR.mkdir(mode=0o755, parents=True, exist_ok=True)
    try:
        fd = os.open(STATE_DIR / f"{lab_id}.json", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        return False
    os.close(fd)
    return True
