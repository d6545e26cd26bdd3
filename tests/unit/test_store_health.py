"""health.json and the write-ahead switch: what a killed run leaves, and how the next run
finishes it."""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from pathlib import Path

import pytest

from certv6 import fsatomic
from certv6.store import FILES, Health, Store, hold_lock
from certv6.store.health import DONE, FAILED
from fakes.clock import FakeClock
from fakes.system import dead_pid

NOW = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
CONFIG = {"domains": ["www.example"], "provider": "rfc2136"}


def files(tag: str) -> dict[str, bytes]:
    return {name: f"{tag}:{name}".encode() for name in FILES}


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "state").ensure()


def test_health_round_trips_through_json() -> None:
    health = (
        Health()
        .switching("0002", CONFIG, NOW, deploy_hook=True)
        .switched("abc", NOW)
        .attempted(NOW, "the CA said no", 4)
        .attempted(NOW + dt.timedelta(hours=12), "the CA said no again", 4)
        .target_failed("nginx /etc/x", "0002", NOW, error="config test failed", step="config-test")
        .revoked_now("abc", "keyCompromise", NOW)
    )
    again = Health.from_json(json.loads(json.dumps(health.to_json())))
    assert again == health
    assert again.failures == 2 and again.failing_since == NOW
    assert again.install is not None and again.install.owed and again.install.deploy_hook
    assert again.failed_targets()["nginx /etc/x"].step == "config-test"
    assert again.is_revoked("abc") and not again.is_revoked("def")


@pytest.mark.parametrize("garbage", [[1, 2, 3], None, 42, "x", {"failures": "many"}])
def test_a_health_file_that_is_not_one_is_damaged_not_an_exception(garbage: object) -> None:
    assert Health.from_json(garbage).damaged


def test_success_resets_the_failure_count() -> None:
    health = Health().attempted(NOW, "no", 4).attempted(NOW, "no", 4).attempted(NOW, "", 0)
    assert health.failures == 0 and health.failing_since is None
    assert health.attempt is not None and health.attempt.ok


def test_a_done_target_keeps_what_it_serves_when_a_later_install_fails() -> None:
    later = NOW + dt.timedelta(days=60)
    health = (
        Health()
        .target_done("nginx /x", "0001", NOW, verified=("[::1]:443",), not_after=later)
        .target_failed("nginx /x", "0002", NOW, error="reload failed", step="reload")
    )
    state = health.install.targets["nginx /x"]  # type: ignore[union-attr]
    assert state.state == FAILED and state.version == "0002"
    assert state.served_version == "0001" and state.served_not_after == later


def test_add_version_records_the_install_it_owes(store: Store) -> None:
    lineage = store.lineages.get("www")
    version = lineage.add_version(files("v1"), {"serial": "01"}, CONFIG, now=NOW)
    health = lineage.health()
    assert health.switch is None and health.issued_at == NOW and health.issued_serial == "01"
    assert health.install_owed and health.install.version == version.name  # type: ignore[union-attr]
    done = lineage.update_health(lambda h: h.installed(version.name, NOW))
    assert not done.install_owed


def test_concurrent_health_updates_are_not_lost(store: Store) -> None:
    lineage = store.lineages.get("www")
    lineage.add_version(files("v1"), {}, CONFIG, now=NOW)
    children = []
    for _ in range(4):
        child = os.fork()
        if child == 0:
            for _ in range(25):
                lineage.update_health(lambda h: h.attempted(NOW, "no", 4))
            os._exit(0)
        children.append(child)
    for child in children:
        os.waitpid(child, 0)
    assert lineage.health().failures == 100


# --- the write-ahead switch, interrupted at each step --------------------------------------------


def interrupted(store: Store, *, stored: bool, first: bool) -> None:
    """A run that recorded the intent for the next version and was killed.

    ``stored``: it got as far as renaming the version directory into place.
    """
    lineage = store.lineages.get("www")
    if not first:
        lineage.add_version(files("v1"), {"serial": "01"}, CONFIG, now=NOW)
        lineage.update_health(lambda h: h.installed("0001", NOW))
    number = "0002" if not first else "0001"
    new_config = {**CONFIG, "domains": ["www.example", "new.example"]}
    lineage.update_health(lambda h: h.switching(number, new_config, NOW, deploy_hook=True))
    (lineage.directory / "versions").mkdir(exist_ok=True)
    half = lineage.directory / f".incoming-{number}-{dead_pid()}"
    half.mkdir()
    for name, data in files("v2").items():
        (half / name).write_bytes(data)
    (half / "meta.json").write_text(json.dumps({"serial": "02"}))
    if stored:
        half.rename(lineage.directory / "versions" / number)


@pytest.mark.parametrize("first", [True, False])
def test_a_stored_version_is_made_current_by_the_next_run(store: Store, first: bool) -> None:
    interrupted(store, stored=True, first=first)
    (snapshot,) = store.lineages.snapshots()
    assert "interrupted" in snapshot.problem and snapshot.health.install_owed
    done = store.recover(snapshot, NOW)
    assert done and "made version" in done[0]
    lineage = store.lineages.get("www")
    number = "0001" if first else "0002"
    assert os.readlink(lineage.current_link) == f"versions/{number}"
    assert lineage.config()["domains"] == ["www.example", "new.example"]
    health = lineage.health()
    assert health.switch is None and health.issued_serial == "02"
    assert health.install_owed and health.install.deploy_hook  # type: ignore[union-attr]
    assert not lineage.snapshot().problem  # type: ignore[union-attr]


def test_a_renewal_killed_before_storing_keeps_the_old_version(store: Store) -> None:
    interrupted(store, stored=False, first=False)
    (snapshot,) = store.lineages.snapshots()
    store.recover(snapshot, NOW)
    lineage = store.lineages.get("www")
    assert os.readlink(lineage.current_link) == "versions/0001"
    assert lineage.config() == CONFIG
    assert not lineage.health().install_owed  # the old version was installed already
    assert [p.name for p in lineage.directory.iterdir() if p.name.startswith(".")] == []


def test_a_first_issuance_killed_before_storing_leaves_nothing(store: Store) -> None:
    interrupted(store, stored=False, first=True)
    (snapshot,) = store.lineages.snapshots()
    assert snapshot.health.switch is not None
    store.recover(snapshot, NOW)
    assert not store.lineages.get("www").directory.exists()
    assert store.lineages.snapshots() == []


def test_recovery_leaves_a_lineage_that_a_live_run_holds(store: Store) -> None:
    interrupted(store, stored=True, first=True)
    (snapshot,) = store.lineages.snapshots()
    lock = store.certificate_lock("www")
    with hold_lock(lock, wait=0, clock=FakeClock(), what="test"):
        child = os.fork()
        if child == 0:  # another process: the lock is not its own
            os._exit(0 if store.recover(snapshot, NOW) == [] else 1)
        _, status = os.waitpid(child, 0)
    assert os.WEXITSTATUS(status) == 0
    assert store.lineages.get("www").health().switch is not None


# --- temp files of dead writers -------------------------------------------------------------------


def test_sweep_removes_dead_writers_temp_files_only(store: Store) -> None:
    lineage = store.lineages.get("www")
    lineage.add_version(files("v1"), {}, CONFIG, now=NOW)
    dead, alive = dead_pid(), os.getppid()
    names = {
        f".lineage.json{fsatomic.MARK}{dead}-ab12cd.tmp": False,  # this version's names
        f".current{fsatomic.MARK}{dead}.tmp": False,
        f".current.{dead}.tmp": False,  # older certv6 versions
        f".health.json{fsatomic.MARK}{alive}-ab12cd.tmp": True,  # a live writer's
    }
    for name in names:
        (lineage.directory / name).write_bytes(b"x")
    old = lineage.directory / ".account_key.pem.k2j3h4.tmp"  # no pid: removed once old
    old.write_bytes(b"x")
    young = lineage.directory / ".lineage.json.q9w8e7.tmp"
    young.write_bytes(b"x")
    an_hour_ago = time.time() - 2 * fsatomic.ORPHAN_AGE
    os.utime(old, (an_hour_ago, an_hour_ago))
    (snapshot,) = store.lineages.snapshots()
    store.recover(snapshot, NOW)
    left = {p.name for p in lineage.directory.iterdir() if p.name.startswith(".")}
    assert left == {name for name, kept in names.items() if kept} | {young.name}


def test_ensure_sweeps_the_ledger_and_accounts(store: Store) -> None:
    dead = dead_pid()
    account = store.account("https://ca.example/dir")
    account.write_key(b"-----BEGIN PRIVATE KEY-----\nAA\n-----END PRIVATE KEY-----\n")
    for directory in (account.directory, store.root / "ledger"):
        directory.mkdir(exist_ok=True)
        (directory / f".x.json{fsatomic.MARK}{dead}.tmp").write_bytes(b"x")
    store.ensure()
    assert list((store.root / "ledger").iterdir()) == []
    assert sorted(p.name for p in account.directory.iterdir()) == ["account_key.pem"]


def test_target_states_are_kept_per_target() -> None:
    health = (
        Health()
        .target_done("nginx /a", "0002", NOW, verified=(), not_after=None)
        .target_failed("postfix /b", "0002", NOW, error="check failed", step="config-test")
    )
    states = {k: t.state for k, t in health.install.targets.items()}  # type: ignore[union-attr]
    assert states == {"nginx /a": DONE, "postfix /b": FAILED}
    assert health.install_owed


def test_the_issuing_ca_and_the_cas_skipped_are_kept_until_the_next_version(store: Store) -> None:
    lineage = store.lineages.get("fallback")
    config = {**CONFIG, "server": "https://ca2.example/dir"}
    lineage.add_version(files("v1"), {"serial": "01"}, config, now=NOW)
    lineage.record(lambda h: h.issued_after(("https://ca1.example/dir: rate limited",)))
    health = Health.from_json(json.loads(json.dumps(lineage.health().to_json())))
    assert health.issued_ca == "https://ca2.example/dir"
    assert health.skipped_cas == ("https://ca1.example/dir: rate limited",)
    lineage.add_version(files("v2"), {"serial": "02"}, CONFIG, now=NOW)
    assert lineage.health().skipped_cas == ()  # about the certificate it replaced
