"""SIGKILL at each step of ``certv6 account rollover`` (and of ``deactivate``), then run again.

strace's fault injection kills certv6 at the Nth call of a system call, in the
lab's IPv6-only client namespace, against the lab's real Pebble. The points
come from a clean traced run: every rename and unlink (the pending key stored,
the new key made the account's, the record), every write on the connection to
the CA once the pending key is stored (before the nonce request, before the
keyChange request went out), and the first read after each of those (mostly: the
CA answered, certv6 has not read it yet; how many reads an answer takes varies
between runs, so such a point may land a read earlier, which is a kill point too).
The rename that makes the new key the account's is the deterministic "the CA
switched, the store did not" point.

After each kill, ``certv6 account rollover`` runs again and must work: the key
stored is then one the CA accepts for the same account URL (``account show``
signs with it), no pending key and no temp file is left, and the key the
killed run started from is refused by the CA. When the CA cannot be reached
after a kill that left both keys, the run says so and what to do, keeps both,
and works once the CA answers again.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from faultlab import CERTV6, ZONE, Client, make_client

from fakes.system import require_tool
from lab import Lab

pytestmark = pytest.mark.lab

CA_SOCKET = "<TCPv6:"


def strace() -> str:
    return require_tool("strace", "strace")


def account_dir(client: Client) -> Path:
    (found,) = (client.state_dir / "accounts").iterdir()
    return found


def traced(client: Client, args: list[str], strace_args: list[str]) -> tuple[int, str]:
    argv = [strace(), "-f", "-qq", *strace_args, CERTV6, "--config", str(client.config), *args]
    done = client.lab.run_in_client(argv, timeout=300)
    return done.returncode, done.stdout + done.stderr


def kill_points(client: Client, args: list[str], trace: Path) -> list[tuple[str, int, str]]:
    """(syscall, N, what) of each step of a clean traced run (see the module doc)."""
    calls = "trace=rename,renameat,renameat2,unlink,unlinkat,write,read"
    code, output = traced(client, args, ["-yy", "-o", str(trace), "-e", calls])
    assert code == 0, output
    lines = trace.read_text().splitlines()
    main = lines[0].split()[0]
    counts: dict[str, int] = {}
    points: list[tuple[str, int, str]] = []
    stored = False  # the first rename: from then on the CA conversation matters
    last_write = -1
    for line in lines:
        tid, call = line.split(None, 1)
        name = call.split("(", 1)[0]
        if tid != main:
            continue
        counts[name] = counts.get(name, 0) + 1
        what = call[:400]
        if name.startswith(("rename", "unlink")):
            stored = True
            points.append((name, counts[name], what))
        elif name == "write" and CA_SOCKET in call and stored:
            points.append((name, counts[name], what))
            last_write = len(points)
        elif name == "read" and CA_SOCKET in call and len(points) == last_write:
            points.append((name, counts[name], what))  # the answer, not read yet
    assert any(p[0] == "read" for p in points) and any(p[0] == "write" for p in points), points
    return points


def show(client: Client, config: Path | None = None) -> subprocess.CompletedProcess[str]:
    argv = [CERTV6, "--config", str(config or client.config), "account", "show", "--json"]
    return client.lab.run_in_client(argv, timeout=120)


def account(client: Client) -> dict[str, object]:
    done = show(client)
    assert done.returncode == 0, done.stdout + done.stderr
    (only,) = json.loads(done.stdout)["accounts"]
    return dict(only)


def snapshot_config(client: Client, copy: Path) -> Path:
    """A config whose state directory holds a copy of the account as it is now."""
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(client.state_dir / "accounts", copy / "state" / "accounts")
    text = client.config.read_text().replace(str(client.state_dir), str(copy / "state"))
    config = copy / "certv6.toml"
    config.write_text(text)
    return config


def assert_settled(client: Client, url: object, old: Path, where: str) -> None:
    after = account(client)
    assert after["url"] == url and after["status"] == "valid", f"{where}: {after}"
    assert not after["pending_rollover"], where
    files = sorted(p.name for p in account_dir(client).iterdir())
    assert files == ["account.json", "account_key.pem"], f"{where}: {files}"
    refused = show(client, old)  # the key the killed run started from
    assert refused.returncode == 4, f"{where}: the old key still works\n{refused.stdout}"


@pytest.fixture
def client(lab: Lab, tmp_path: Path) -> Client:
    (tmp_path / "host").mkdir()
    made = make_client(lab, tmp_path / "host")
    done = made.run("account", "register", "--agree-tos")
    assert done.returncode == 0, done.stderr
    return made


def test_sigkill_at_each_step_of_a_rollover_then_run_again(
    lab: Lab, client: Client, tmp_path: Path
) -> None:
    url = account(client)["url"]
    points = kill_points(client, ["account", "rollover"], tmp_path / "trace")
    assert len(points) >= 6, points
    killed = 0
    for syscall, n, what in points:
        where = f"rollover killed at {syscall} #{n}: {what}"
        old = snapshot_config(client, tmp_path / "old")
        code, output = traced(
            client,
            ["account", "rollover"],
            ["-o", "/dev/null", "-e", f"inject={syscall}:signal=KILL:when={n}"],
        )
        killed += code in (-9, 137)
        assert "Traceback" not in output, f"{where}\n{output}"
        again = client.run("account", "rollover")
        assert again.returncode == 0, f"{where}: run again: {again.stderr}"
        assert_settled(client, url, old, where)
    assert killed >= len(points) - 1, f"only {killed} of {len(points)} kill points hit"
    # The account still orders and validates with the key it ended with.
    issued = client.run("issue", "--json", "--name", "rolled", "-d", f"rolled.{ZONE}")
    assert issued.returncode == 0, issued.stderr


def test_a_killed_rollover_with_the_ca_unreachable_keeps_both_keys_and_says_what_to_do(
    lab: Lab, client: Client, tmp_path: Path
) -> None:
    url = account(client)["url"]
    points = kill_points(client, ["account", "rollover"], tmp_path / "trace")
    # Killed before the new key replaces the old one: the CA switched, the store did not.
    # (A rename's count is the same in every run; how many reads an answer takes is not.)
    promote = next(
        p for p in points if p[0].startswith("rename") and 'account_key.next.pem",' in p[2]
    )
    old = snapshot_config(client, tmp_path / "old")
    code, _ = traced(
        client,
        ["account", "rollover"],
        ["-o", "/dev/null", "-e", f"inject={promote[0]}:signal=KILL:when={promote[1]}"],
    )
    assert code in (-9, 137)
    assert (account_dir(client) / "account_key.next.pem").exists()
    route = ["ip", "-6", "route", "add", "unreachable", f"{lab.ca_addr}/128"]
    lab.run_in("client", route, check=True)
    try:
        for args in (["account", "rollover"], ["issue", "--name", "x", "-d", f"x.{ZONE}"]):
            done = client.run(*args)
            assert done.returncode == 4, done.stderr
            assert "certv6: error:" in done.stderr and "Traceback" not in done.stderr
            assert "no route" in done.stderr.lower() and "rollover" in done.stderr, done.stderr
            assert "both keys are kept" in done.stderr, done.stderr
        assert (account_dir(client) / "account_key.next.pem").exists()
        assert (account_dir(client) / "account_key.pem").exists()
    finally:
        lab.run_in("client", ["ip", "-6", "route", "del", "unreachable", f"{lab.ca_addr}/128"])
    # The CA answers again: the next ordinary run keeps the key the CA holds.
    done = client.run("issue", "--json", "--name", "after", "-d", f"after-roll.{ZONE}")
    assert done.returncode == 0, done.stderr
    assert "an interrupted key rollover had reached the CA" in done.stderr
    assert_settled(client, url, old, "after the outage")


def test_sigkill_during_deactivate_then_nothing_uses_it_until_finished(
    lab: Lab, client: Client, tmp_path: Path
) -> None:
    points = kill_points(client, ["account", "deactivate", "--yes"], tmp_path / "trace")
    # The clean run deactivated the account: each trial starts from a new one.
    killed = 0
    for syscall, n, what in points:
        where = f"deactivate killed at {syscall} #{n}: {what}"
        registered = client.run("account", "register", "--agree-tos")
        assert registered.returncode == 0, f"{where}: {registered.stderr}"
        code, output = traced(
            client,
            ["account", "deactivate", "--yes"],
            ["-o", "/dev/null", "-e", f"inject={syscall}:signal=KILL:when={n}"],
        )
        killed += code in (-9, 137)
        assert "Traceback" not in output, f"{where}\n{output}"
        state = account(client)["local_status"]
        if state == "deactivating":
            refused = client.run("issue", "--name", "d", "-d", f"d.{ZONE}")
            assert refused.returncode == 4, f"{where}: {refused.stderr}"
            assert "account deactivate" in refused.stderr and "--yes" in refused.stderr, where
        finished = client.run("account", "deactivate", "--yes", "--json")
        assert finished.returncode == 0, f"{where}: {finished.stderr}"
        assert json.loads(finished.stdout)["account"]["local_status"] == "deactivated", where
        refused = client.run("issue", "--name", "d", "-d", f"d.{ZONE}")
        assert refused.returncode == 4 and "account register" in refused.stderr, where
    assert killed >= len(points) - 1, f"only {killed} of {len(points)} kill points hit"
