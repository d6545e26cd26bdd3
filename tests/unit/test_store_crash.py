"""SIGKILL at every rename, symlink and unlink of adding a version, then one recovery.

strace's fault injection kills the writer exactly at the Nth call of each of
those system calls (``-e inject=rename:signal=KILL:when=N``), so every step of
the write-ahead switch is interrupted once. After each kill, what the next run
does (``Store.recover``) must leave: ``current`` on a complete version, the
lineage.json that belongs to it, nothing owed twice and nothing lost, and no
temporary file. The lab version of this (issue, renew, install, account
creation over the CLI) is tests/faults/test_kill_points.py.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from certv6.store import FILES, Store
from fakes.system import require_tool

NOW = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
SYSCALLS = ("rename", "renameat", "renameat2", "symlink", "symlinkat", "unlink", "unlinkat")
WRITER = """
import datetime, sys
from pathlib import Path
from certv6.store import FILES, Store
now = datetime.datetime(2026, 3, 1, 12, 0, tzinfo=datetime.UTC)
tag = sys.argv[2]
files = {name: f"{tag}:{name}".encode() for name in FILES}
config = {"domains": [f"{tag}.example"], "provider": "rfc2136"}
Store(Path(sys.argv[1])).ensure().lineages.get("www").add_version(
    files, {"serial": tag}, config, now=now, deploy_hook=True
)
"""


def strace() -> str:
    return require_tool("strace", "strace")


def write(state: Path, tag: str, *strace_args: str) -> subprocess.CompletedProcess[str]:
    argv = [*strace_args, sys.executable, "-c", WRITER, str(state), tag]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60)


def calls(state: Path, tag: str) -> Counter[str]:
    """How often a clean run makes each call (state is set up the same way before)."""
    log = state.parent / "trace"
    done = write(
        state, tag, strace(), "-f", "-qq", "-o", str(log), "-e", f"trace={','.join(SYSCALLS)}"
    )
    assert done.returncode == 0, done.stderr
    return Counter(line.split("(", 1)[0].split()[-1] for line in log.read_text().splitlines())


def prepare(state: Path, renewal: bool) -> None:
    shutil.rmtree(state, ignore_errors=True)
    if renewal:
        assert write(state, "v1").returncode == 0
        lineage = Store(state).lineages.get("www")
        lineage.update_health(lambda h: h.installed("0001", NOW))


def kill_points(tmp_path: Path, renewal: bool) -> list[tuple[str, int]]:
    state = tmp_path / "count" / "state"
    state.parent.mkdir()
    prepare(state, renewal)
    counted = calls(state, "v2")
    assert counted["rename"] + counted["renameat"] + counted["renameat2"] >= 4, counted
    return [(name, n) for name, total in sorted(counted.items()) for n in range(1, total + 1)]


@pytest.mark.parametrize("renewal", [False, True], ids=["first-issuance", "renewal"])
def test_a_kill_at_any_step_is_finished_or_undone_by_the_next_run(
    tmp_path: Path, renewal: bool
) -> None:
    points = kill_points(tmp_path, renewal)
    state = tmp_path / "state"
    for syscall, n in points:
        where = f"killed at {syscall} #{n}"
        prepare(state, renewal)
        killed = write(state, "v2", strace(), "-f", "-qq", "-o", "/dev/null", "-e",
                       f"inject={syscall}:signal=KILL:when={n}")  # fmt: skip
        assert killed.returncode != 0, f"{where}: the writer was not killed"
        store = Store(state)
        for snapshot in store.lineages.snapshots():
            store.recover(snapshot, NOW)
        assert_whole(store, renewal, where)


def assert_whole(store: Store, renewal: bool, where: str) -> None:
    lineage = store.lineages.get("www")
    if not lineage.directory.exists():
        assert not renewal, f"{where}: the lineage vanished"
        return
    snapshot = lineage.snapshot()
    assert snapshot is not None and not snapshot.problem, f"{where}: {snapshot}"
    assert snapshot.leftovers == (), f"{where}: left {snapshot.leftovers}"
    current = lineage.current()
    tag = current.read("cert.pem").decode().split(":")[0]
    assert all(current.read(name) == f"{tag}:{name}".encode() for name in FILES), where
    assert lineage.config()["domains"] == [f"{tag}.example"], f"{where}: lineage.json of another"
    assert json.loads((current.directory / "meta.json").read_text())["serial"] == tag
    health = lineage.health()
    assert health.switch is None, where
    moved = tag == "v2"
    # A new version is owed to the servers (and its deploy hook); the old one was installed.
    assert health.install_owed == moved or not renewal, f"{where}: owed={health.install_owed}"
    if moved:
        assert health.install is not None and health.install.deploy_hook, where
    versions = [p.name for p in lineage.versions()]
    assert versions == (["0001", "0002"] if renewal and moved else ["0001"]), f"{where}: {versions}"
