"""SIGKILL at random moments of an issuance, 20 times over one state directory.

After every kill, what a reader of the store sees is whole: ``current`` is absent
or names a complete version whose key matches its certificate. The next run
(here ``certv6 cleanup --stale``) removes whatever TXT value the killed one left.
The kill times are drawn from [0, a normal run's duration] with a seed
(``CERTV6_FAULT_SEED`` picks another), so a failure can be replayed;
``CERTV6_FAULT_TRIALS`` runs more than 20 trials.
"""

from __future__ import annotations

import os
import random
import signal
import time
from pathlib import Path

import pytest
from faultlab import (
    ZONE,
    issue_args,
    leftovers,
    make_client,
    owner,
    store_problems,
    txt_left,
)

from lab import Lab

pytestmark = pytest.mark.lab
TRIALS = int(os.environ.get("CERTV6_FAULT_TRIALS", "20"))


def test_sigkill_at_random_moments_never_corrupts_the_store(lab: Lab, tmp_path: Path) -> None:
    seed = int(os.environ.get("CERTV6_FAULT_SEED", "20260609"))
    chance = random.Random(seed)  # noqa: S311 (reproducible kill times, not secrets)
    client = make_client(lab, tmp_path)
    client.issue("killed", f"calibrate.{ZONE}")  # the account exists from now on
    started = time.monotonic()
    client.issue("killed", f"calibrate2.{ZONE}")
    typical = time.monotonic() - started
    outcomes = []
    for trial in range(TRIALS):
        name = f"kill{trial}.{ZONE}"
        delay = chance.uniform(0, typical)
        proc = client.popen(*issue_args("killed", [name]))
        time.sleep(delay)
        finished = proc.poll() is not None
        if not finished:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=30)
        where = f"trial {trial} (seed {seed}, killed after {delay:.3f} s)"
        outcomes.append("finished" if finished else "killed")
        assert store_problems(client.state_dir) == [], where
        cleanup = client.run("cleanup", "--stale")
        assert cleanup.returncode == 0, f"{where}: {cleanup.stderr}"
        assert lab.txt_at(lab.primary_addr, owner(name)) == set(), where
        assert client.ledger_entries == [], where
    assert outcomes.count("killed") >= TRIALS // 2, outcomes
    # A normal run afterwards works, and sweeps what killed runs left: half-written
    # version directories and the temp files of killed atomic writes (issue #23).
    client.issue("killed", f"after.{ZONE}")
    assert store_problems(client.state_dir) == []
    assert leftovers(client.state_dir) == []
    assert txt_left(lab, *(f"kill{trial}.{ZONE}" for trial in range(TRIALS))) == set()
