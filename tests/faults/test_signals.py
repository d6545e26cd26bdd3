"""SIGTERM and SIGINT while certv6 waits, and again while it cleans up (issue #23).

The first signal ends the wait and runs the cleanup; a second one 1-12 ms
later used to cut that cleanup short, leaving the TXT values in the DNS while
the exit code (130) said they were removed. Now later signals only say that
the removal goes on; a removal that fails after an interrupt exits 14 and
leaves the values in the ledger for ``certv6 cleanup --stale``.

The DNS provider is ``exec`` running nsupdate against the lab's primary, with a
cleanup that waits for a go-ahead file, so the second signal lands inside it.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from faultlab import ZONE, Client, make_client, owner, txt_left, wait_for_ledger

from lab import Lab

pytestmark = pytest.mark.lab

HOOK = """#!/bin/sh
# lego's exec convention: $1 = present|cleanup, $2 = FQDN, $3 = value.
set -eu
case "$1" in
  present) line="update add $2 60 TXT \\"$3\\"" ;;
  cleanup)
    touch {started}
    i=0; while [ ! -e {go} ] && [ $i -lt 300 ]; do sleep 0.05; i=$((i+1)); done
    [ -e {fail} ] && exit 1
    line="update delete $2 TXT \\"$3\\"" ;;
  *) exit 0 ;;
esac
printf '%s\\nsend\\n' "$line" | nsupdate -k {key}
"""


class Slow:
    def __init__(self, lab: Lab, root: Path) -> None:
        self.started, self.go, self.fail = root / "started", root / "go", root / "fail"
        hook = root / "dns-hook"
        hook.write_text(
            HOOK.format(started=self.started, go=self.go, fail=self.fail, key=lab.tsig_key_file)
        )
        hook.chmod(0o755)
        self.client: Client = make_client(lab, root, extra=f'[provider.exec]\nprogram = "{hook}"\n')

    def wait_for(self, path: Path, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not path.exists():
            assert time.monotonic() < deadline, f"{path.name} never appeared"
            time.sleep(0.01)


@pytest.fixture
def slow(lab: Lab, tmp_path: Path) -> Slow:
    return Slow(lab, tmp_path)


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (signal.SIGTERM, signal.SIGTERM),
        (signal.SIGINT, signal.SIGTERM),
        (signal.SIGTERM, signal.SIGINT),
    ],
)
def test_a_second_signal_does_not_stop_the_cleanup(
    lab: Lab, slow: Slow, first: signal.Signals, second: signal.Signals
) -> None:
    name = f"sig{first.value}x{second.value}.{ZONE}"
    with lab.lagging(30.0):  # certv6 waits for the secondary: the signal lands in the wait
        proc = slow.client.popen("issue", "--name", "sig", "-d", name, "--provider", "exec")
        wait_for_ledger(slow.client, proc)
        time.sleep(0.3)  # present() has run
        os.kill(proc.pid, first)
        slow.wait_for(slow.started)
        for _ in range(3):  # 1-12 ms apart, inside the cleanup
            os.kill(proc.pid, second)
            time.sleep(0.005)
        slow.go.touch()
        _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "certv6: error: interrupted" in stderr
    assert "still removing what this run published" in stderr
    assert "Traceback" not in stderr
    assert txt_left(lab, name) == set()
    assert slow.client.ledger_entries == []


def test_an_interrupted_run_whose_cleanup_fails_exits_14_and_keeps_the_ledger(
    lab: Lab, slow: Slow
) -> None:
    name = f"sigfail.{ZONE}"
    slow.fail.touch()
    slow.go.touch()
    with lab.lagging(30.0):
        proc = slow.client.popen("issue", "--name", "sigfail", "-d", name, "--provider", "exec")
        wait_for_ledger(slow.client, proc)
        time.sleep(0.3)
        os.kill(proc.pid, signal.SIGTERM)
        _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 14, stderr
    assert "interrupted, and 1 TXT value(s) at " + owner(name) in stderr
    assert "hint: run 'certv6 cleanup --stale'" in stderr
    assert len(slow.client.ledger_entries) == 1
    assert lab.txt_at(lab.primary_addr, owner(name)) != set()  # really still there
    slow.fail.unlink()
    done = slow.client.run("cleanup", "--stale")
    assert done.returncode == 0, done.stderr
    assert "removed 1 stale TXT value(s)" in done.stdout
    assert txt_left(lab, name) == set() and slow.client.ledger_entries == []
