"""The state directory misbehaving: read-only, full, and two renew runs at once.

The state directory is a small tmpfs mounted for the test (root only), so a
full disk and a read-only file system are real, not simulated.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from faultlab import (
    ZONE,
    Client,
    fill,
    issue_args,
    leftovers,
    make_client,
    remount,
    store_problems,
    tmpfs,
    txt_left,
)

from lab import Lab

pytestmark = pytest.mark.lab


@pytest.fixture
def small_state(tmp_path: Path) -> Iterator[Path]:
    with tmpfs(tmp_path / "state", "size=256k,mode=0700") as mounted:
        yield mounted


def files(directory: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(directory)): path.read_bytes()
        for path in sorted(directory.rglob("*"))
        if path.is_file() and not path.is_symlink()
    }


def assert_clean_store_failure(output: str, returncode: int) -> None:
    assert returncode == 9, f"exit {returncode}, expected 9 (StoreError)\n{output}"
    assert "Traceback" not in output and "internal error" not in output, output
    assert "certv6: error:" in output, output


def test_a_read_only_state_directory(lab: Lab, tmp_path: Path, small_state: Path) -> None:
    client = make_client(lab, tmp_path, state_dir=small_state)
    client.issue("ro", f"ro.{ZONE}")  # an account and a certificate already exist
    before = files(small_state)
    remount(small_state, "ro")
    name = f"ro2.{ZONE}"
    done = client.run(*issue_args("ro", [name]))
    assert_clean_store_failure(done.stderr, done.returncode)
    assert "Read-only file system" in done.stderr, done.stderr
    assert files(small_state) == before
    assert txt_left(lab, name) == set()  # refused before anything was published


@pytest.mark.parametrize("free", [0, 8192], ids=["full", "almost-full"])
def test_the_disk_fills_up_while_writing(
    lab: Lab, tmp_path: Path, small_state: Path, free: int
) -> None:
    """Full: nothing can be recorded, so nothing may be published. Almost full: the
    ledger fits, the new certificate does not; the old one stays current."""
    client = make_client(lab, tmp_path, state_dir=small_state)
    client.issue("full", f"full.{ZONE}")
    current = os.readlink(client.lineage("full") / "current")
    filler = fill(small_state, free)
    name = f"full2.{ZONE}"
    done = client.run(*issue_args("full", [name]))
    assert_clean_store_failure(done.stderr, done.returncode)
    assert txt_left(lab, name) == set()
    assert os.readlink(client.lineage("full") / "current") == current
    assert store_problems(small_state) == []
    assert leftovers(small_state) == [], "a failed write must not leave partial files"
    # Space again: the next run works and leaves nothing behind either.
    filler.unlink()
    done = client.run(*issue_args("full", [name]))
    assert done.returncode == 0, done.stderr
    assert client.ledger_entries == []
    assert store_problems(small_state) == []


def test_two_renew_runs_at_once(lab: Lab, client: Client) -> None:
    client.issue("twice", f"twice.{ZONE}")
    # The secondary lags 8 s, so the first run holds the renew lock longer than
    # the second waits for it (renew's LOCK_WAIT, 5 s).
    lab.set_lag(8.0)
    first = client.popen("renew", "--force", "--name", "twice")
    second = client.popen("renew", "--force", "--name", "twice")
    results = []
    for proc in (first, second):
        out, err = proc.communicate(timeout=180)
        results.append((proc.returncode, out + err))
    codes = sorted(code for code, _ in results)
    assert codes == [0, 11], results
    busy = next(output for code, output in results if code == 11)
    assert "Traceback" not in busy and "locked by another certv6 run" in busy, busy
    versions = sorted(p.name for p in (client.lineage("twice") / "versions").iterdir())
    assert versions == ["0001", "0002"], "exactly one of the two runs renewed"
    assert store_problems(client.state_dir) == []
    assert txt_left(lab, f"twice.{ZONE}") == set()


def test_two_forced_renewals_at_once_renew_once(lab: Lab, client: Client) -> None:
    # The first run is done well within the second's lock wait: the second finds the
    # certificate changed while it waited, and does not order another one (#23).
    client.issue("forced", f"forced.{ZONE}")
    runs = [client.popen("renew", "--force", "--name", "forced") for _ in range(2)]
    results = [(proc.wait(timeout=180), proc.communicate()) for proc in runs]
    assert [code for code, _ in results] == [0, 0], results
    outputs = sorted(out for _, (out, _) in results)
    assert any("renewed  forced" in out for out in outputs), outputs
    assert any(
        "skipped  forced  another certv6 run stored versions/0002 while this one waited" in out
        for out in outputs
    ), outputs
    versions = sorted(p.name for p in (client.lineage("forced") / "versions").iterdir())
    assert versions == ["0001", "0002"], "exactly one of the two runs renewed"
    assert txt_left(lab, f"forced.{ZONE}") == set()


@pytest.fixture
def client(lab: Lab, tmp_path: Path) -> Client:
    return make_client(lab, tmp_path)
