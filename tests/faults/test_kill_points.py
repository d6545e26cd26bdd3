"""SIGKILL at each rename, symlink and unlink of issue, renew, install and account
creation, then one unattended ``certv6 renew`` (issue #23).

strace's fault injection (``-e inject=rename:signal=KILL:when=N``) kills certv6
exactly at the Nth call of a system call, in the lab's client namespace with
real Pebble and BIND9. A clean run of each command is traced first; every call
in it is a kill point (calls that differ only in a temp name's random part, a
pid or a version number count once; CERTV6_KILL_ALL=1 kills at every single
call). After each kill, one plain ``certv6 renew`` -- what the timer runs --
must leave:

- what the servers get equal to ``current`` (a files target, with its links)
- nothing orphaned: no interrupted switch, no install owed, nothing damaged
- no temporary file anywhere (state directory, install directory, link paths)
- no TXT value in the DNS, nothing in the ledger
- ``list`` complete: every certificate that was stored, healthy
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
from faultlab import CERTV6, ZONE, Client, make_client, store_problems, txt_left

from certv6.keys import key_matches_certificate, load_private_key
from fakes.system import require_tool
from jsonschemas import validated
from lab import Lab

pytestmark = pytest.mark.lab

NAME = "kp"
DOMAIN = f"kp.{ZONE}"
SYSCALLS = ("rename", "renameat", "renameat2", "symlink", "symlinkat", "unlink", "unlinkat")
_NOISE = [
    (re.compile(r"certv6-\d+(-[A-Za-z0-9_]+)?\.tmp"), "certv6-P.tmp"),
    (re.compile(r"[0-9a-f]{32}"), "U"),
    (re.compile(r"\d{4,}"), "N"),
]


def strace() -> str:
    return require_tool("strace", "strace")


class Host:
    """A client whose certificate is installed by a files target, as a server would read it."""

    def __init__(self, lab: Lab, root: Path) -> None:
        self.root = root
        self.deploy, self.app = root / "deploy", root / "app"
        table = (
            f"[[certificate.{NAME}.install]]\n"
            'target = "files"\n'
            f'directory = "{self.deploy}"\n'
            f'cert = "{self.app}/kp.crt"\n'
            f'key = "{self.app}/kp.key"\n'
        )
        self.client: Client = make_client(lab, root, extra=table)

    def reset(self) -> None:
        for path in (self.client.state_dir, self.deploy, self.app):
            shutil.rmtree(path, ignore_errors=True)

    def traced(self, args: list[str], strace_args: list[str]) -> tuple[int, str]:
        """certv6 ARGS under strace in the client namespace: (exit code, output)."""
        certv6 = [CERTV6, "--config", str(self.client.config), *args]
        done = self.client.lab.run_in_client(
            [strace(), "-f", "-qq", *strace_args, *certv6], timeout=300
        )
        return done.returncode, done.stdout + done.stderr


def kill_points(host: Host, args: list[str]) -> list[tuple[str, int, str]]:
    """(syscall, N, what it did) for each distinct call of a clean run's main thread."""
    log = host.root / "trace"
    code, output = host.traced(args, ["-o", str(log), "-e", f"trace={','.join(SYSCALLS)}"])
    assert code == 0, output
    lines = log.read_text().splitlines()
    main = lines[0].split()[0]
    counts: dict[str, int] = {}
    points, seen = [], set()
    for line in lines:
        tid, call = line.split(None, 1)
        name = call.split("(", 1)[0]
        if tid != main or name not in SYSCALLS:
            continue
        counts[name] = counts.get(name, 0) + 1
        shape = call.split(" = ", 1)[0]
        for pattern, replacement in _NOISE:
            shape = pattern.sub(replacement, shape)
        if os.environ.get("CERTV6_KILL_ALL") == "1" or shape not in seen:
            seen.add(shape)
            points.append((name, counts[name], shape))
    return points


def assert_whole(host: Host, lab: Lab, where: str) -> None:
    client = host.client
    done = client.run("renew")
    assert done.returncode == 0, (
        f"{where}: renew exit {done.returncode}\n{done.stdout}{done.stderr}"
    )
    assert store_problems(client.state_dir) == [], where
    left = [
        str(path)
        for base in (client.state_dir, host.deploy, host.app)
        for path in (base.rglob("*") if base.exists() else [])
        if path.name.endswith(".tmp") or path.name.startswith((".incoming", ".discard", ".deleted"))
    ]
    assert left == [], f"{where}: left {left}"
    assert client.ledger_entries == [], where
    assert txt_left(lab, DOMAIN) == set(), where
    listed = client.run("list", "--json")
    assert listed.returncode == 0, f"{where}: {listed.stdout}{listed.stderr}"
    certificates = {c["name"]: c for c in validated("list", listed.stdout)["certificates"]}
    lineage = client.lineage(NAME)
    if not lineage.exists():
        assert certificates == {}, where
        return
    assert certificates[NAME]["status"] == "ok", f"{where}: {certificates[NAME]}"
    health = certificates[NAME]["health"]
    assert health["switch"] is None and not health["install"]["owed"], f"{where}: {health}"
    current = (lineage / "current" / "cert.pem").read_bytes()
    assert (host.deploy / "live" / "cert.pem").read_bytes() == current, f"{where}: not installed"
    key = load_private_key((host.app / "kp.key").read_bytes(), "kp.key")
    assert (host.app / "kp.crt").read_bytes() == current, where
    assert key_matches_certificate(key, current), where


def run_kills(lab: Lab, host: Host, args: list[str], *, fresh: bool) -> None:
    points = kill_points(host, args)
    killed = 0
    for syscall, n, shape in points:
        where = f"certv6 {' '.join(args)} killed at {syscall} #{n}: {shape}"
        if fresh:
            host.reset()
        code, output = host.traced(args, ["-o", "/dev/null", "-e",
                                          f"inject={syscall}:signal=KILL:when={n}"])  # fmt: skip
        killed += code in (-9, 137)
        assert "Traceback" not in output, f"{where}\n{output}"
        assert_whole(host, lab, where)
    # Later runs may make fewer calls than the traced one (nothing left to sweep, say).
    assert killed >= len(points) * 3 // 4, f"only {killed} of {len(points)} kill points hit"


@pytest.fixture
def host(lab: Lab, tmp_path: Path) -> Host:
    return Host(lab, tmp_path)


def test_kill_points_of_account_creation_issue_and_install(lab: Lab, host: Host) -> None:
    run_kills(lab, host, ["issue", "--name", NAME, "-d", DOMAIN], fresh=True)


def test_kill_points_of_renew_and_install(lab: Lab, host: Host) -> None:
    host.client.issue(NAME, DOMAIN)
    run_kills(lab, host, ["renew", "--force", "--name", NAME], fresh=False)


def test_kill_points_of_install(lab: Lab, host: Host) -> None:
    host.client.issue(NAME, DOMAIN)
    run_kills(lab, host, ["install", "--name", NAME], fresh=False)
