import datetime
import os
import stat
from pathlib import Path

import pytest

from certv6.errors import LockBusy, StoreError
from certv6.model import TxtRecord
from certv6.store import FILES, Store, hold_lock, write_atomic
from fakes.clock import FakeClock
from fakes.system import dead_pid


def files(tag: str) -> dict[str, bytes]:
    return {name: f"{tag}:{name}".encode() for name in FILES}


def test_write_atomic_sets_mode_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "privkey.pem"
    write_atomic(target, b"one")
    write_atomic(target, b"two")
    assert target.read_bytes() == b"two"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["privkey.pem"]


def test_write_atomic_into_missing_directory_is_a_store_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError):
        write_atomic(tmp_path / "absent" / "x", b"")


CONFIG = {"domains": ["www.example"]}
NOW = datetime.datetime(2026, 3, 1, tzinfo=datetime.UTC)


def test_versions_switch_together_and_old_ones_stay(tmp_path: Path) -> None:
    lineage = Store(tmp_path).ensure().lineages.get("www")
    first = lineage.add_version(files("v1"), {"n": 1}, CONFIG, now=NOW)
    second = lineage.add_version(files("v2"), {"n": 2}, CONFIG, now=NOW)
    current = lineage.current()
    assert current.directory == second.directory
    assert all(current.read(name) == f"v2:{name}".encode() for name in FILES)
    assert first.directory.is_dir() and os.readlink(lineage.current_link) == "versions/0002"
    assert stat.S_IMODE((current.directory / "privkey.pem").stat().st_mode) == 0o600
    assert stat.S_IMODE((current.directory / "fullchain.pem").stat().st_mode) == 0o644
    assert lineage.config() == CONFIG
    assert current.meta["lineage"] == CONFIG  # lineage.json can be restored from it


def test_incomplete_versions_from_a_killed_run_are_ignored_and_removed(tmp_path: Path) -> None:
    lineage = Store(tmp_path).ensure().lineages.get("www")
    lineage.add_version(files("v1"), {}, CONFIG, now=NOW)
    legacy = lineage.directory / "versions" / ".incoming-0002-999"  # where certv6 < 0.2 put them
    leftover = lineage.directory / f".incoming-0002-{dead_pid()}"
    for half in (legacy, leftover):
        half.mkdir()
        (half / "privkey.pem").write_bytes(b"half")
    assert lineage.current().read("cert.pem") == b"v1:cert.pem"
    lineage.add_version(files("v2"), {}, CONFIG, now=NOW)
    assert not leftover.exists() and not legacy.exists()
    assert [p.name for p in lineage.versions()] == ["0001", "0002"]


def test_lineage_names_are_checked(tmp_path: Path) -> None:
    from certv6.errors import ConfigError

    for bad in ["../x", ".hidden", "a/b", "", "x" * 65]:
        with pytest.raises(ConfigError):
            Store(tmp_path).lineages.get(bad)


def test_ledger_entries_are_stale_only_when_no_run_holds_them(tmp_path: Path) -> None:
    ledger = Store(tmp_path).ensure().ledger
    records = [TxtRecord("_acme-challenge.example.org.", "v1")]
    with ledger.recording("rfc2136", "www", records) as entry:
        assert ledger.stale_entries() == []  # held by this live run
    stale = ledger.stale_entries()
    assert [(e.provider, e.lineage, e.records) for e, _ in stale] == [
        ("rfc2136", "www", tuple(records))
    ]
    stale_entry, fd = stale[0]
    assert ledger.stale_entries() == []  # claimed by us now
    os.close(fd)
    ledger.discard(stale_entry)
    assert ledger.stale_entries() == [] and not entry.path.exists()


def test_lock_is_exclusive_and_bounded(tmp_path: Path) -> None:
    clock = FakeClock()
    path = tmp_path / "x.lock"
    with hold_lock(path, wait=1, clock=clock, what="x"):
        child = os.fork()
        if child == 0:  # another process must not get it
            try:
                with hold_lock(path, wait=2, clock=FakeClock(), what="x"):
                    os._exit(1)
            except LockBusy:
                os._exit(0)
        _, status = os.waitpid(child, 0)
        assert os.WEXITSTATUS(status) == 0
    with hold_lock(path, wait=0, clock=clock, what="x"):
        pass
