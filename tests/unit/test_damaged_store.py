"""Every damaged file is a problem of its own lineage or account (issue #23), never a crash.

Each corruption gets: its own line in ``list`` with a hint naming the fix and
exit 9; ``renew`` still handles every other lineage and exits 12; ``check-store``
names it and ``--repair`` fixes what needs no guessing. No CA is involved: the
other lineages are not due, so nothing reaches the network.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from certv6.store import Store
from fakes import certv6_at
from fakes.lineages import CLOSED_CA, make_lineage
from jsonschemas import validated

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
CERTV6 = str(Path(sys.executable).parent / "certv6")


def cli(
    store: Store, *args: str, now: dt.datetime | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CERTV6_")}
    config = store.root.parent / "certv6.toml"
    if not config.exists():
        config.write_text(f'server = "{CLOSED_CA}"\nstate_dir = "{store.root}"\n')
    certv6 = certv6_at.command(sys.executable, now) if now else [CERTV6]
    argv = [*certv6, "--config", str(config), *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, env=env)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    store = Store(tmp_path / "state").ensure()
    make_lineage(store, "good", now=NOW)
    make_lineage(store, "broken", now=NOW)
    return store


def lineage_json(value: object) -> Callable[[Path], object]:
    return lambda directory: (directory / "lineage.json").write_text(json.dumps(value))


def remove(name: str) -> Callable[[Path], object]:
    return lambda directory: (directory / name).unlink()


def dangle(directory: Path) -> None:
    (directory / "current").unlink()
    (directory / "current").symlink_to("versions/0009")


DAMAGE: dict[str, tuple[Callable[[Path], object], str, str]] = {
    # what is done to "broken": (damage, what list says, what --repair does)
    "lineage.json is a list": (lineage_json([1, 2, 3]), "holds list, not an object", "restored"),
    "lineage.json is null": (lineage_json(None), "holds NoneType, not an object", "restored"),
    "lineage.json is a number": (lineage_json(42), "holds int, not an object", "restored"),
    "domains is a string": (
        lineage_json({"domains": "broken.example"}),
        "names no domains",
        "restored",
    ),
    "lineage.json is torn": (
        lambda d: (d / "lineage.json").write_text('{"domains": ['),
        "is not JSON",
        "restored",
    ),
    "lineage.json removed": (remove("lineage.json"), "lineage.json is missing", "restored"),
    "current removed by hand": (remove("current"), "has no 'current' link", "current ->"),
    "current dangling": (
        dangle,
        "'current' points at versions/0009, which is missing",
        "current ->",
    ),
    "health.json is a list": (
        lambda d: (d / "health.json").write_text("[]"),
        "health.json holds list",
        "reset",
    ),
}


@pytest.mark.parametrize("case", sorted(DAMAGE))
def test_damage_is_named_per_lineage_and_repaired(store: Store, case: str) -> None:
    damage, named, repaired = DAMAGE[case]
    damage(store.lineages.get("broken").directory)

    listed = cli(store, "list")
    assert listed.returncode == 9, listed.stdout + listed.stderr
    assert "Traceback" not in listed.stderr and "internal error" not in listed.stderr
    lines = {line.split()[0]: line for line in listed.stdout.splitlines() if line}
    assert "damaged:" in lines["broken"] and named in lines["broken"], listed.stdout
    assert lines["good"].endswith("ok"), listed.stdout
    assert "broken: hint: certv6 check-store --repair" in listed.stdout

    renewed = cli(store, "renew")
    assert renewed.returncode == 12, renewed.stderr
    assert "failed   broken" in renewed.stdout and "skipped  good" in renewed.stdout
    assert "Traceback" not in renewed.stderr

    checked = cli(store, "check-store")
    assert checked.returncode == 9 and "certificate broken:" in checked.stdout, checked.stdout
    as_json = cli(store, "check-store", "--json")
    report = validated("check-store", as_json.stdout)
    assert as_json.returncode == 9 and report["ok"] is False
    subjects = {finding["subject"] for finding in report["findings"]}
    assert subjects == {"certificate broken"}, report  # "good" is in order
    assert all(finding["repaired"] is None for finding in report["findings"])
    fixed = cli(store, "check-store", "--repair")
    assert f"repaired: {repaired}" in fixed.stdout or repaired in fixed.stdout, fixed.stdout
    assert fixed.returncode == 0, fixed.stdout
    after = cli(store, "list")
    assert after.returncode == 0, after.stdout + after.stderr
    assert "damaged" not in after.stdout


def test_an_empty_lineage_directory_is_removed_by_the_next_renew(store: Store) -> None:
    # A first issuance killed before it stored anything (before this version's write-ahead).
    empty = store.root / "certificates" / "half"
    (empty / "versions").mkdir(parents=True)
    done = cli(store, "renew")
    assert done.returncode == 0, done.stdout + done.stderr
    assert not empty.exists()


def test_a_stored_version_without_current_is_not_silently_skipped(store: Store) -> None:
    # certv6 before the write-ahead switch could leave versions/0001 and no current.
    lineage = store.lineages.get("broken")
    (lineage.directory / "current").unlink()
    (lineage.directory / "health.json").unlink()
    done = cli(store, "renew", "--json")
    assert done.returncode == 12
    report = validated("renew", done.stdout)
    broken = next(c for c in report["certificates"] if c["name"] == "broken")
    assert broken["status"] == "failed" and "has no 'current' link" in broken["detail"]
    assert "check-store --repair points it at versions/0001" in broken["hint"]


@pytest.mark.parametrize(
    "key", [b"", b"-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49", b"junk"]
)
def test_a_damaged_account_key_fails_list_renew_and_names_the_way_out(
    store: Store, key: bytes
) -> None:
    account = store.account(CLOSED_CA)
    account.write_key(key)
    listed = cli(store, "list")
    assert listed.returncode == 9
    assert f"account {account.directory}: damaged:" in listed.stderr
    assert f"remove {account.directory}" in listed.stderr  # the way out
    as_json = cli(store, "list", "--json")
    (damaged,) = validated("list", as_json.stdout)["accounts"]
    assert as_json.returncode == 9 and damaged["directory"] == str(account.directory)
    assert f"remove {account.directory}" in damaged["hint"]
    renewed = cli(store, "renew")
    assert renewed.returncode == 12, renewed.stderr
    assert "account: " in renewed.stderr and "truncated or overwritten" in renewed.stderr
    checked = cli(store, "check-store", "--repair")
    assert checked.returncode == 9  # not repaired: the fix is the user's
    assert "account_key.pem" in checked.stdout and "fix: put back a copy" in checked.stdout


def test_a_damaged_account_json_is_repaired(store: Store) -> None:
    account = store.account(CLOSED_CA)
    account.write_key(
        b"-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg\n"
        b"-----END PRIVATE KEY-----\n"
    )
    account.info_path.write_text("[]")
    assert cli(store, "list").returncode == 9
    fixed = cli(store, "check-store", "--repair", "--json")
    (finding,) = validated("check-store", fixed.stdout)["findings"]
    assert fixed.returncode == 0 and finding["repaired"] == f"removed {account.info_path}"
    assert not account.info_path.exists() and account.key_path.exists()


def test_list_shows_a_string_domains_value_as_a_problem_not_letters(store: Store) -> None:
    lineage_json({"domains": "www.example.org"})(store.lineages.get("broken").directory)
    done = cli(store, "list", "--json")
    listed = validated("list", done.stdout)["certificates"]
    broken = next(c for c in listed if c["name"] == "broken")
    assert broken["domains"] == ["broken.example"]  # from the certificate, not "w,w,w,..."
    assert broken["status"] == "critical" and "names no domains" in broken["summary"]


def test_issue_names_the_way_out_of_a_damaged_account_key(store: Store) -> None:
    from certv6.errors import StoreError
    from certv6.service.account import connect_account
    from certv6.settings import Settings
    from fakes.clock import FakeClock

    account = store.account(CLOSED_CA)
    account.write_key(
        b"-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49\n-----END PRIVATE KEY-----\n"
    )
    with pytest.raises(StoreError) as raised:
        connect_account(Settings(server=CLOSED_CA, state_dir=store.root), store, FakeClock(NOW))
    assert str(account.key_path) in raised.value.message
    assert f"remove {account.directory}" in raised.value.hint
    assert "free space" not in raised.value.hint
