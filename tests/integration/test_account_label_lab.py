"""dns-account-01 end to end against the upstream Pebble build, with the rfc2136 provider.

Each ACME account validates at a name of its own, ``_<label>._acme-challenge.<name>``
(draft-ietf-acme-dns-account-label), so two clients can issue for one name at the
same moment without touching each other's values: the test makes both wait for the
lagging secondary at the same time.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from certv6_run import Client, make_client

from jsonschemas import validated

pytestmark = [pytest.mark.lab, pytest.mark.upstream_pebble]

ZONE = "certv6.test"


def labelled_owner(client: Client, name: str) -> str:
    """Computed here from the stored account URL, independently of certv6's code."""
    (account,) = (client.state_dir / "accounts").glob("*/account.json")
    url = json.loads(account.read_text())["url"]
    label = base64.b32encode(hashlib.sha256(url.encode()).digest()[:10]).decode().lower()
    return f"_{label}._acme-challenge.{name}."


def issue_argv(name: str, *domains: str) -> list[str]:
    argv = ["issue", "--json", "--name", name, "--challenge", "dns-account-01"]
    argv += ["--profile", "default"]  # upstream Pebble picks a random profile otherwise
    for domain in domains:
        argv += ["-d", domain]
    return argv


def test_two_clients_issue_the_same_name_at_once(
    lab: Any, upstream_pebble: str, tmp_path: Path
) -> None:
    name = f"fleet.{ZONE}"
    clients = [make_client(lab, tmp_path / f"host{i}", server=upstream_pebble) for i in (1, 2)]
    with lab.lagging(1.5):  # both are still waiting for ns2 when the other publishes
        running = [client.popen(*issue_argv("fleet", name, f"*.{name}")) for client in clients]
        results = [proc.communicate(timeout=180) for proc in running]
    for proc, (stdout, stderr) in zip(running, results, strict=True):
        assert proc.returncode == 0, stderr
        assert "dns-account-01 for 2 name(s)" in stderr
        issued = validated("issue", stdout)
        assert issued["detail"] == "issued" and issued["challenges"] == ["dns-account-01"]
        assert {each["challenge"] for each in issued["answered"]} == {"dns-account-01"}
    owners = {labelled_owner(client, name) for client in clients}
    assert len(owners) == 2  # two accounts, two names to write at
    lab.sync_secondary()
    for owner in [*owners, f"_acme-challenge.{name}."]:
        assert lab.txt_at(lab.primary_addr, owner) == set(), owner
    for client in clients:
        assert list((client.state_dir / "ledger").glob("*.json")) == []


def test_a_killed_run_is_cleaned_up_at_its_labelled_owner(
    lab: Any, upstream_pebble: str, tmp_path: Path
) -> None:
    client = make_client(lab, tmp_path, server=upstream_pebble)
    name = f"killed-label.{ZONE}"
    with lab.lagging(30.0):
        proc = client.popen(*issue_argv("killed-label", name))
        owner = _wait_for_published(lab, client, proc, name)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=30)
    assert lab.txt_at(lab.primary_addr, owner) != set()  # the killed run left its value
    done = client.run("cleanup", "--stale", "--json")
    assert done.returncode == 0, done.stderr
    assert validated("cleanup", done.stdout)["removed"] == 1
    assert lab.txt_at(lab.primary_addr, owner) == set()
    assert list((client.state_dir / "ledger").glob("*.json")) == []


def _wait_for_published(lab: Any, client: Client, proc: Any, name: str) -> str:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        accounts = list((client.state_dir / "accounts").glob("*/account.json"))
        if accounts:
            owner = labelled_owner(client, name)
            if lab.txt_at(lab.primary_addr, owner):
                return owner
        time.sleep(0.1)
    raise AssertionError("certv6 never published the dns-account-01 value")


def test_delegate_prints_the_cname_for_the_labelled_name(
    lab: Any, upstream_pebble: str, tmp_path: Path
) -> None:
    client = make_client(lab, tmp_path, server=upstream_pebble)
    name = f"deleg-label.{ZONE}"
    done = client.run(
        "delegate", name, "--to", "challenges.test", "--challenge", "dns-account-01", "--json"
    )
    # The CNAME is not there yet: listed as missing, exit 6.
    assert done.returncode == 6, done.stderr
    delegated = validated("delegate", done.stdout)
    assert delegated["challenge"] == "dns-account-01"
    (record,) = delegated["records"]
    owner = labelled_owner(client, name)  # delegate made the account to know its label
    assert record["owner"] == owner
    assert record["status"] == "missing"
    lab.nsupdate(f"update add {owner} 30 CNAME {record['cname']}", key_file=lab.admin_key_file)
    lab.sync_secondary()
    _wait_for_cname(lab, owner)  # the client's resolver cached "no such name" a moment ago
    done = client.run(
        "delegate", name, "--to", "challenges.test", "--challenge", "dns-account-01", "--json"
    )
    assert done.returncode == 0, done.stderr
    # And issuance writes the value at the end of that CNAME, in challenges.test.
    issued = client.run(*issue_argv("deleg-label", name))
    assert issued.returncode == 0, issued.stderr


def _wait_for_cname(lab: Any, owner: str) -> None:
    deadline = time.monotonic() + 20
    while not lab.resolve(owner, "CNAME"):
        assert time.monotonic() < deadline, f"{owner} CNAME never reached the resolver"
        time.sleep(0.2)


def test_doctor_checks_the_labelled_name_and_writes_its_canary_there(
    lab: Any, upstream_pebble: str, tmp_path: Path
) -> None:
    client = make_client(lab, tmp_path, server=upstream_pebble)
    name = f"doctor-label.{ZONE}"
    assert client.run(*issue_argv("doctor-label", name)).returncode == 0  # the account
    done = client.run(
        "doctor", "--json", "--write-test", "--challenge", "dns-account-01", "-d", name
    )
    assert done.returncode == 0, done.stdout + done.stderr
    checks = validated("doctor", done.stdout)["checks"]
    found = {f"{c['section']} {c['check']}": c for c in checks}
    owner = labelled_owner(client, name)
    assert found[f"{name} challenge"]["message"].startswith(owner)
    assert owner in found[f"{name} write test"]["message"]
    assert "dns-account-01" in found["ca challenges"]["message"]
    assert lab.txt_at(lab.primary_addr, owner) == set()  # the canary is gone again
