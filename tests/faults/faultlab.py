"""What the fault tests share: certv6 in the lab's client namespace, and store checks.

Every check here reads the real state directory and asks the real nameservers;
nothing is mocked. Waits are bounded and raise with what was seen.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from certv6.keys import key_matches_certificate, load_private_key, split_chain
from certv6.store import FILES
from jsonschemas import validated
from lab import Lab

CERTV6 = str(Path(sys.executable).parent / "certv6")
ZONE = "certv6.test"


@dataclass
class Client:
    """certv6 as a user on the client host runs it: a config file and a state directory."""

    lab: Lab
    config: Path
    state_dir: Path

    def run(
        self, *args: str, timeout: float = 180, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return self.lab.run_in_client(
            [CERTV6, "--config", str(self.config), *args], timeout=timeout, env=env
        )

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return self.lab.popen_in_client(
            [CERTV6, "--config", str(self.config), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def issue(self, name: str, *domains: str, extra: tuple[str, ...] = ()) -> dict[str, Any]:
        done = self.run(*issue_args(name, domains), *extra)
        assert done.returncode == 0, f"exit {done.returncode}\n{done.stderr}"
        return validated("issue", done.stdout)

    @property
    def ledger_entries(self) -> list[Path]:
        return sorted((self.state_dir / "ledger").glob("*.json"))

    def lineage(self, name: str) -> Path:
        return self.state_dir / "certificates" / name


def issue_args(name: str, domains: tuple[str, ...] | list[str]) -> list[str]:
    # The fault tests order anew each time, also under a name that had other domains.
    argv = ["issue", "--json", "--name", name, "--force", "--replace-names"]
    for domain in domains:
        argv += ["-d", domain]
    return argv


def make_client(
    lab: Lab, directory: Path, extra: str = "", state_dir: Path | None = None
) -> Client:
    state = state_dir or directory / "state"
    config = lab.write_certv6_config(directory / "certv6.toml", state_dir=state, extra=extra)
    return Client(lab, config, state)


def owner(name: str) -> str:
    return f"_acme-challenge.{name.removeprefix('*.')}."


def txt_left(lab: Lab, *names: str) -> set[str]:
    """TXT values still at the primary (and, once it caught up, the secondary) for ``names``."""
    lab.sync_secondary(timeout=30)
    left: set[str] = set()
    for name in names:
        left |= lab.txt_at(lab.primary_addr, owner(name))
        left |= lab.txt_at(lab.secondary_addr, owner(name))
    return left


def wait_for_ledger(client: Client, proc: subprocess.Popen[str], timeout: float = 30) -> None:
    """Until the run has recorded its TXT values (present() follows at once)."""
    deadline = time.monotonic() + timeout
    while not client.ledger_entries:
        if proc.poll() is not None:
            raise AssertionError(f"certv6 ended (exit {proc.returncode}) before publishing")
        if time.monotonic() >= deadline:
            raise AssertionError(f"certv6 published nothing within {timeout} s")
        time.sleep(0.02)


# --- the store ------------------------------------------------------------------------------


def version_problems(directory: Path) -> list[str]:
    """Why a version directory is not a complete, matching key + certificate set ([] = fine)."""
    missing = [name for name in (*FILES, "meta.json") if not (directory / name).is_file()]
    if missing:
        return [f"{directory.name}: missing {', '.join(missing)}"]
    problems = []
    key_pem = (directory / "privkey.pem").read_bytes()
    cert_pem = (directory / "cert.pem").read_bytes()
    chain_pem = (directory / "chain.pem").read_bytes()
    fullchain_pem = (directory / "fullchain.pem").read_bytes()
    try:
        key = load_private_key(key_pem, str(directory / "privkey.pem"))
        if not key_matches_certificate(key, cert_pem):
            problems.append(f"{directory.name}: privkey.pem does not match cert.pem")
    except Exception as error:
        problems.append(f"{directory.name}: unreadable key or certificate: {error}")
    if fullchain_pem != cert_pem + chain_pem or len(split_chain(fullchain_pem)) < 2:
        problems.append(f"{directory.name}: fullchain.pem is not cert.pem + chain.pem")
    if (directory / "privkey.pem").stat().st_mode & 0o077:
        problems.append(f"{directory.name}: privkey.pem is readable by others")
    try:
        json.loads((directory / "meta.json").read_text())
    except ValueError:
        problems.append(f"{directory.name}: meta.json is not JSON")
    return problems


def store_problems(state_dir: Path) -> list[str]:
    """Everything wrong with the certificates in a state directory, as readers see it.

    ``current`` is absent or names a complete version whose key matches its
    certificate; every numbered version is complete. Hidden leftovers of a killed
    write (``.incoming-*``, ``*.tmp``) are not something a reader follows; they are
    listed by ``leftovers``.
    """
    problems: list[str] = []
    for lineage in sorted((state_dir / "certificates").glob("*")):
        current = lineage / "current"
        if current.is_symlink():
            target = current.resolve()
            if not target.is_dir():
                problems.append(f"{lineage.name}: current -> {os.readlink(current)} is dangling")
            else:
                problems += [f"{lineage.name}: current {p}" for p in version_problems(target)]
        for version in sorted((lineage / "versions").glob("[0-9]*")):
            problems += [f"{lineage.name}: {p}" for p in version_problems(version)]
        if (lineage / "lineage.json").exists():
            try:
                json.loads((lineage / "lineage.json").read_text())
            except ValueError:
                problems.append(f"{lineage.name}: lineage.json is not JSON")
    return problems


def leftovers(state_dir: Path) -> list[str]:
    """Hidden partial files and directories a killed or failed write left behind."""
    found = [
        str(path.relative_to(state_dir))
        for path in state_dir.rglob("*")
        if path.name.startswith(".incoming-") or path.name.endswith(".tmp")
    ]
    return sorted(found)


# --- the CA's link ---------------------------------------------------------------------------


@contextlib.contextmanager
def ca_cut_off(lab: Lab) -> Iterator[None]:
    """Take the CA's bridge port down (no carrier): packets to Pebble vanish, Pebble keeps state.

    The port is named ``<lab id>-ca`` in the bridge namespace (tests/lab/plan.py).
    """
    port = f"{lab.id}-ca"
    lab.run_in("bridge", ["ip", "link", "set", port, "down"], check=True)
    try:
        yield
    finally:
        lab.run_in("bridge", ["ip", "link", "set", port, "up"], check=True)


# --- small file systems ------------------------------------------------------------------------


@contextlib.contextmanager
def tmpfs(path: Path, options: str) -> Iterator[Path]:
    """A tmpfs mounted at ``path`` for the block (root only); always unmounted after."""
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def remount(path: Path, options: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{options}", str(path)], check=True)


def fill(directory: Path, leave_bytes: int) -> Path:
    """Fill the file system of ``directory`` until about ``leave_bytes`` are free."""
    filler = directory / "filler"
    free = os.statvfs(directory).f_bavail * os.statvfs(directory).f_frsize
    with filler.open("wb") as handle:
        handle.write(b"\0" * max(free - leave_bytes, 0))
    return filler
