"""Hook-run journals: owner discovery in /proc, the journal, and stale detection via the ledger.

Owners are real processes (a `sleep` child), killed to make a run stale.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from certv6 import hookrun
from certv6.errors import ConfigError, StoreError
from certv6.hookrun import RunJournal, RunOwner
from certv6.model import TxtRecord
from certv6.store import Store

A = ("_acme-challenge.a.example.org.", "A" * 43)
B = ("_acme-challenge.a.example.org.", "B" * 43)


@pytest.fixture
def client() -> Iterator[subprocess.Popen[bytes]]:
    """A stand-in ACME client process that stays alive until killed."""
    proc = subprocess.Popen(["sleep", "60"])
    yield proc
    proc.kill()
    proc.wait()


def owner_of(proc: subprocess.Popen[bytes]) -> RunOwner:
    return hookrun.find_owner({hookrun.OWNER_ENV: str(proc.pid)})


def kill(proc: subprocess.Popen[bytes]) -> None:
    proc.kill()
    proc.wait()


def test_owner_is_the_named_process_with_its_start_time(client: subprocess.Popen[bytes]) -> None:
    owner = owner_of(client)
    assert (owner.pid, owner.comm) == (client.pid, "sleep")
    assert owner.alive()
    assert owner.key == f"sleep-{client.pid}-{owner.start}"


def test_a_reused_pid_or_another_boot_is_not_the_same_run(
    client: subprocess.Popen[bytes],
) -> None:
    owner = owner_of(client)
    assert not replace(owner, start=owner.start + 1).alive()
    assert not replace(owner, boot="another-boot").alive()
    kill(client)
    assert not owner.alive()


def test_sh_dash_c_between_client_and_hook_is_skipped() -> None:
    # certbot runs hooks through `sh -c`; the hook must find certbot (here: pytest).
    # "; true" keeps sh from exec-ing the command, so a real sh sits in between.
    probe = "from certv6 import hookrun; print(hookrun.find_owner({}).pid)"
    done = subprocess.run(
        ["/bin/sh", "-c", f"{sys.executable} -c '{probe}'; true"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.split() == [str(os.getpid())]


def test_a_forked_subshell_of_the_client_is_skipped(tmp_path: Path) -> None:
    # dehydrated runs some hooks as `( "$HOOK" ... )`: a fork of itself.
    probe = "from certv6 import hookrun; print(hookrun.find_owner({}).pid)"
    client = tmp_path / "client"
    client.write_text(f"#!/bin/bash\necho $$\n( {sys.executable} -c '{probe}'; true )\n")
    client.chmod(0o755)
    done = subprocess.run([str(client)], capture_output=True, text=True, check=True)
    own_pid, found = done.stdout.split()
    assert found == own_pid


def test_owner_env_must_name_a_process() -> None:
    with pytest.raises(ConfigError, match="not a process id"):
        hookrun.find_owner({hookrun.OWNER_ENV: "certbot"})
    with pytest.raises(StoreError, match="not in /proc"):
        hookrun.find_owner({hookrun.OWNER_ENV: str(2**22 + 7)})


def test_journal_records_publishes_and_forgets(
    tmp_path: Path, client: subprocess.Popen[bytes]
) -> None:
    journal = RunJournal(tmp_path / "state", owner_of(client))
    state = journal.plan([A, A, B])
    assert state.planned == [A, B]
    assert oct(journal.path.stat().st_mode & 0o777) == "0o600"
    assert oct((tmp_path / "state").stat().st_mode & 0o777) == "0o700"
    journal.publishing("rfc2136", [(*A, "_acme-challenge.a.delegated.example.")])
    state = journal.read()
    assert state.planned == [B]
    assert state.published == {A: ("rfc2136", "_acme-challenge.a.delegated.example.")}
    assert journal.plan([A]).planned == [B]  # a published value is not recorded again
    journal.removed([A])
    assert journal.path.exists()
    journal.removed([B])
    assert not journal.path.exists()  # nothing left: the journal goes


def test_a_torn_last_line_is_skipped(tmp_path: Path, client: subprocess.Popen[bytes]) -> None:
    journal = RunJournal(tmp_path, owner_of(client))
    journal.plan([A])
    with journal.path.open("a") as handle:
        handle.write('{"plan":[["_acme-challenge.b.exa')
    assert journal.read().planned == [A]
    journal.publishing("rfc2136", [(*B, B[0])])  # the next event is not glued to the tear
    assert journal.read().published == {B: ("rfc2136", B[0])}


def test_one_run_keeps_one_provider(tmp_path: Path, client: subprocess.Popen[bytes]) -> None:
    journal = RunJournal(tmp_path, owner_of(client))
    journal.publishing("rfc2136", [(*A, A[0])])
    with pytest.raises(StoreError, match="already published with provider 'rfc2136'"):
        journal.publishing("other", [(*B, B[0])])


def test_ledger_path_is_where_journals_go(tmp_path: Path) -> None:
    assert hookrun.ledger_directory(tmp_path) == Store(tmp_path).ledger.directory


def test_live_run_is_not_stale_and_a_dead_one_is(
    tmp_path: Path, client: subprocess.Popen[bytes]
) -> None:
    ledger = Store(tmp_path).ensure().ledger
    journal = RunJournal(tmp_path, owner_of(client))
    journal.plan([A, B])
    journal.publishing("rfc2136", [(*A, "_acme-challenge.a.delegated.example.")])
    assert ledger.stale_entries() == []  # certbot still runs: hands off
    kill(client)
    [(entry, fd)] = ledger.stale_entries()
    try:
        # Only the published value, at the owner it was written to.
        assert entry.records == (TxtRecord("_acme-challenge.a.delegated.example.", A[1]),)
        assert entry.provider == "rfc2136"
        assert "sleep" in entry.lineage
        assert ledger.stale_entries() == []  # claimed (locked) by us meanwhile
    finally:
        os.close(fd)
    ledger.discard(entry)
    assert not journal.path.exists()


def test_dead_run_that_published_nothing_is_just_removed(
    tmp_path: Path, client: subprocess.Popen[bytes]
) -> None:
    ledger = Store(tmp_path).ensure().ledger
    journal = RunJournal(tmp_path, owner_of(client))
    journal.plan([A])
    kill(client)
    assert ledger.stale_entries() == []
    assert not journal.path.exists()
