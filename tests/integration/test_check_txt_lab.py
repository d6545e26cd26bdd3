"""`certv6 check-txt`: the checker on its own, against the lab's real nameservers."""

from __future__ import annotations

import secrets
import time
from pathlib import Path

import pytest
from certv6_run import Client, make_client

from jsonschemas import validated

pytestmark = pytest.mark.lab


@pytest.fixture
def client(lab, tmp_path: Path) -> Client:  # type: ignore[no-untyped-def]
    return make_client(lab, tmp_path)


def test_waits_for_the_lagging_secondary_then_exits_0(lab, client: Client) -> None:  # type: ignore[no-untyped-def]
    owner, value = f"_acme-challenge.chk-{secrets.token_hex(3)}.certv6.test", secrets.token_hex(8)
    with lab.lagging(3.0):
        lab.nsupdate(f'update add {owner}. 60 TXT "{value}"')
        started = time.monotonic()
        done = client.run("check-txt", "--json", owner, value)
        took = time.monotonic() - started
    assert done.returncode == 0, done.stderr
    report = validated("check-txt", done.stdout)
    assert report["visible"] is True
    addresses = {server["address"] for server in report["servers"]}
    assert {lab.primary_addr, lab.secondary_addr} <= addresses
    assert took >= 2.0  # it really waited for ns2 (lag 3 s, counted from the update)
    assert value in lab.txt_at(lab.secondary_addr, owner + ".")


def test_a_value_nobody_serves_times_out_naming_the_servers(lab, client: Client) -> None:  # type: ignore[no-untyped-def]
    owner = f"_acme-challenge.none-{secrets.token_hex(3)}.certv6.test"
    done = client.run("check-txt", "--timeout", "1.5", owner, "never-published")
    assert done.returncode == 7, done.stderr
    assert lab.primary_addr in done.stderr and lab.secondary_addr in done.stderr
    assert "Traceback" not in done.stderr
    once = client.run("check-txt", "--once", owner, "never-published")
    assert once.returncode == 7


def test_follows_the_cname_into_the_delegated_zone(lab, client: Client) -> None:  # type: ignore[no-untyped-def]
    value = secrets.token_hex(8)
    lab.nsupdate(f'update add cname.challenges.test. 60 TXT "{value}"')
    done = client.run("check-txt", "--json", "_acme-challenge.cname.certv6.test", value)
    assert done.returncode == 0, done.stderr
    report = validated("check-txt", done.stdout)
    assert {server["address"] for server in report["servers"]} == {lab.ns3_addr}
    lab.nsupdate(f'update delete cname.challenges.test. TXT "{value}"')


@pytest.mark.parametrize("owner", ["", "a..b", "*.example.org", "192.0.2.1"])
def test_bad_owner_names(lab, client: Client, owner: str) -> None:  # type: ignore[no-untyped-def]
    done = client.run("check-txt", owner, "v")
    assert done.returncode == 3, done.stderr
    assert "invalid owner name" in done.stderr or "IP address" in done.stderr
