"""Issuance end to end: certv6 in the IPv6-only client namespace, Pebble, BIND9."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from certv6_run import Client, assert_chain_verifies, make_client
from cryptography import x509

from jsonschemas import error_of
from lab import Lab

pytestmark = pytest.mark.lab

ZONE = "certv6.test"


@pytest.fixture
def client(lab, tmp_path: Path) -> Client:  # type: ignore[no-untyped-def]
    return make_client(lab, tmp_path)


def verify_chain(lab, live: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    root = tmp_path / "root.pem"
    root.write_text("".join(lab.pebble_roots()))
    assert_chain_verifies(live, root)


def sans(live: Path) -> set[str]:
    cert = x509.load_pem_x509_certificate((live / "cert.pem").read_bytes())
    ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return set(ext.get_values_for_type(x509.DNSName))


def txt_left(lab, *names: str) -> set[str]:  # type: ignore[no-untyped-def]
    """Values still on either server, once the secondary has caught up with the primary."""
    lab.sync_secondary()
    left: set[str] = set()
    for name in names:
        owner = f"_acme-challenge.{name.removeprefix('*.')}."
        left |= lab.txt_at(lab.primary_addr, owner) | lab.txt_at(lab.secondary_addr, owner)
    return left


def test_one_name(lab, client: Client, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    result = client.issue("one", f"one.{ZONE}")
    live = client.live("one")
    assert sans(live) == {f"one.{ZONE}"}
    assert result["path"] == str(live)
    verify_chain(lab, live, tmp_path)
    assert oct((live / "privkey.pem").stat().st_mode & 0o777) == "0o600"
    assert txt_left(lab, f"one.{ZONE}") == set()


def test_ten_names_in_one_certificate_one_update_per_zone(
    lab: Lab, client: Client, tmp_path: Path
) -> None:
    names = [f"{label}.ten.{ZONE}" for label in "abcdefghij"]
    serial_before = lab.serial_at(lab.primary_addr, ZONE + ".")
    client.issue("ten", *names)
    serial_after = lab.serial_at(lab.primary_addr, ZONE + ".")
    assert sans(client.live("ten")) == set(names)
    verify_chain(lab, client.live("ten"), tmp_path)
    # One UPDATE for all ten values, one for their removal: the serial moves twice.
    assert serial_after - serial_before == 2
    assert txt_left(lab, *names) == set()


def test_wildcard_and_base_share_one_owner(lab, client: Client) -> None:  # type: ignore[no-untyped-def]
    client.issue("wild", f"wild.{ZONE}", f"*.wild.{ZONE}")
    assert sans(client.live("wild")) == {f"wild.{ZONE}", f"*.wild.{ZONE}"}
    assert txt_left(lab, f"wild.{ZONE}") == set()
    listed = client.run("list", "--json")
    assert listed.returncode == 0
    assert '"wild"' in listed.stdout and f"*.wild.{ZONE}" in listed.stdout


def test_lagging_secondary_is_waited_for(lab, client: Client) -> None:  # type: ignore[no-untyped-def]
    lab.set_lag(4.0)
    try:
        result = client.issue("lag", f"lag.{ZONE}", f"*.lag.{ZONE}")
    finally:
        lab.set_lag(0.0)
    # Pebble's resolver lands on either nameserver: only waiting for the
    # secondary makes validation pass every time; the wait shows in the timings.
    assert result["timings"]["propagation"] >= 3.5
    assert txt_left(lab, f"lag.{ZONE}") == set()


def test_second_issuance_keeps_the_previous_version(lab, client: Client) -> None:  # type: ignore[no-untyped-def]
    first = client.issue("again", f"again.{ZONE}")
    kept = client.issue("again", f"again.{ZONE}")  # not due: kept, nothing ordered (#13)
    assert kept["kept"] is True and kept["sha256"] == first["sha256"]
    second = client.issue("again", f"again.{ZONE}", extra=("--force",))
    assert first["sha256"] != second["sha256"]
    versions = sorted(p.name for p in (client.state_dir / "certificates/again/versions").iterdir())
    assert versions == ["0001", "0002"]
    assert os.readlink(client.live("again")) == "versions/0002"


def wait_for_ledger(client: Client, proc: subprocess.Popen[str], timeout: float = 30) -> None:
    ledger = client.state_dir / "ledger"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ledger.is_dir() and any(ledger.glob("*.json")):
            time.sleep(0.3)  # present() runs right after the ledger entry is written
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    raise AssertionError("certv6 never published anything")


def no_certificate(client: Client, name: str) -> bool:
    lineage = client.state_dir / "certificates" / name
    return not (lineage / "current").exists()


def test_sigint_while_waiting_cleans_up_and_writes_no_certificate(lab, client: Client) -> None:  # type: ignore[no-untyped-def]
    lab.set_lag(30.0)
    try:
        proc = client.popen("issue", "--name", "sigint", "-d", f"sigint.{ZONE}")
        wait_for_ledger(client, proc)
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=30)
    finally:
        lab.set_lag(0.0)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert no_certificate(client, "sigint")
    assert lab.txt_at(lab.primary_addr, f"_acme-challenge.sigint.{ZONE}.") == set()
    assert list((client.state_dir / "ledger").glob("*.json")) == []


def test_sigkill_while_waiting_is_cleaned_up_by_the_next_run(lab, client: Client) -> None:  # type: ignore[no-untyped-def]
    lab.set_lag(30.0)
    try:
        proc = client.popen("issue", "--name", "killed", "-d", f"killed.{ZONE}")
        wait_for_ledger(client, proc)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=30)
    finally:
        lab.set_lag(0.0)
    owner = f"_acme-challenge.killed.{ZONE}."
    assert lab.txt_at(lab.primary_addr, owner) != set()  # the killed run published it
    assert no_certificate(client, "killed")
    client.issue("next", f"next.{ZONE}")  # the next run removes what the killed one left
    assert lab.txt_at(lab.primary_addr, owner) == set()
    assert list((client.state_dir / "ledger").glob("*.json")) == []


def test_a_required_profile_the_ca_lacks_stops_before_ordering(lab, client: Client) -> None:  # type: ignore[no-untyped-def]
    done = client.run(
        "issue",
        "--name",
        "prof",
        "-d",
        f"prof.{ZONE}",
        "--profile",
        "shortlived",
        "--profile-policy",
        "required",
    )
    assert done.returncode == 3, done.stderr
    assert "does not offer the profile 'shortlived'" in done.stderr
    assert "order:" not in done.stderr and no_certificate(client, "prof")
    preferred = client.run(
        "issue", "--name", "prof", "-d", f"prof.{ZONE}", "--profile", "shortlived"
    )
    assert preferred.returncode == 0, preferred.stderr
    assert "using its default" in preferred.stderr


def test_an_unreachable_resolver_is_named_before_the_order(lab, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # The blackhole host holds port 53 and never answers.
    client = make_client(lab, tmp_path)
    resolver = f"[{lab.blackhole_addr}]:53"
    text = client.config.read_text().replace(f"[{lab.client_resolver}]:53", resolver)
    client.config.write_text(text)
    done = client.run("issue", "-d", "deaf.certv6.test", "-v", "--json")
    assert done.returncode == 6, done.stderr
    error = error_of(done.stdout)
    assert error["code"] == "resolver-unreachable"
    assert f"no answer from the resolver [{lab.blackhole_addr}]:53" in error["message"]
    assert "(resolvers in the config)" in error["message"]
    assert "check resolvers = [...]" in error["hint"]
    assert "answered" not in done.stderr  # dnspython's misleading words are gone
    assert "order:" not in done.stderr  # found at the CAA step, before any order
