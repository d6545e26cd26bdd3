"""The CA misbehaving: rejected nonces, and the CA unreachable in the middle of an order."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from faultlab import (
    ZONE,
    Client,
    ca_cut_off,
    issue_args,
    make_client,
    store_problems,
    txt_left,
    wait_for_ledger,
)

from lab import Lab

pytestmark = pytest.mark.lab


@pytest.fixture
def client(lab: Lab, tmp_path: Path) -> Client:
    return make_client(lab, tmp_path)


def test_ten_issuances_in_a_row_with_half_the_nonces_rejected(lab: Lab, client: Client) -> None:
    # The acme library retries a bad nonce once; at 50% two in a row happen every few requests.
    lab.restart_pebble({"PEBBLE_WFE_NONCEREJECT": "50"})
    assert "reject 50% of good nonces" in (lab.workdir / "pebble.log").read_text()
    names = [f"nonce{i}.{ZONE}" for i in range(10)]
    for i, name in enumerate(names):
        done = client.run(*issue_args(f"nonce{i}", [name]))
        assert done.returncode == 0, f"issuance {i + 1}/10: exit {done.returncode}\n{done.stderr}"
    assert store_problems(client.state_dir) == []
    assert txt_left(lab, *names) == set()


def _cut_while_validating(
    lab: Lab,
    client: Client,
    name: str,
    outage: float | None,
) -> tuple[int, str]:
    """Issue for ``name``, cutting the CA off once the TXT value is published.

    The secondary lags 3 s, so certv6 is still waiting for propagation when the
    CA goes away: its next requests (answer the challenge, poll) meet the outage.
    ``outage`` None keeps the CA away until certv6 has exited. Returns the exit
    code and stderr.
    """
    lab.set_lag(3.0)
    proc = client.popen(*issue_args(name.split(".", maxsplit=1)[0], [name]))
    try:
        wait_for_ledger(client, proc)
        with ca_cut_off(lab):
            if outage is None:
                _out, err = proc.communicate(timeout=300)
                return proc.returncode, err
            time.sleep(outage)
        _out, err = proc.communicate(timeout=300)
        return proc.returncode, err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def test_a_short_ca_outage_mid_order_is_ridden_out(lab: Lab, client: Client) -> None:
    name = f"outage-short.{ZONE}"
    returncode, err = _cut_while_validating(lab, client, name, outage=8.0)
    assert returncode == 0, f"exit {returncode}\n{err}"
    assert (client.lineage("outage-short") / "current").exists()
    assert store_problems(client.state_dir) == []
    assert txt_left(lab, name) == set()
    assert client.ledger_entries == []


def test_a_long_ca_outage_fails_cleanly_and_the_next_run_gets_the_certificate(
    lab: Lab, client: Client
) -> None:
    name = f"outage-long.{ZONE}"
    started = time.monotonic()
    returncode, err = _cut_while_validating(lab, client, name, outage=None)
    spent = time.monotonic() - started
    assert returncode == 4, f"exit {returncode} after {spent:.0f} s\n{err}"
    assert "Traceback" not in err and "internal error" not in err, err
    assert "certv6: error:" in err and "the CA" in err, err
    # Cleanup does not need the CA: the values are gone, and so is the ledger entry.
    assert txt_left(lab, name) == set()
    assert client.ledger_entries == []
    assert not (client.lineage("outage-long") / "current").exists()
    assert store_problems(client.state_dir) == []
    # The CA is back: a later run with the same state gets the certificate.
    lab.set_lag(0.0)
    done = client.run(*issue_args("outage-long", [name]))
    assert done.returncode == 0, done.stderr
    assert store_problems(client.state_dir) == []
    assert txt_left(lab, name) == set()


def test_a_ca_restarted_mid_order_is_named_and_the_next_run_registers_again(
    lab: Lab, client: Client
) -> None:
    # Pebble forgets every account when it restarts; the order in flight then meets
    # "account does not exist" (#23: that error had no hint at all).
    client.issue("before-restart", f"before-restart.{ZONE}")
    name = f"restart.{ZONE}"
    lab.set_lag(3.0)
    proc = client.popen(*issue_args("restart", [name]))
    try:
        wait_for_ledger(client, proc)
        lab.restart_pebble()
        _out, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 4, err
    assert "the CA forgot the account while this order was open" in err, err
    assert "hint: a CA that restarted or deactivated the account; run again" in err, err
    assert txt_left(lab, name) == set() and client.ledger_entries == []
    lab.set_lag(0.0)
    again = client.run(*issue_args("restart", [name]))
    assert again.returncode == 0, again.stderr
    assert "registering again" in again.stderr or "account: https://" in again.stderr


def test_a_ca_that_is_down_is_named_as_down_not_as_an_ipv6_problem(
    lab: Lab, client: Client
) -> None:
    closed = lab.ca_directory.replace(":14000/", ":14999/")  # the CA's host, nothing listening
    client.config.write_text(client.config.read_text().replace(lab.ca_directory, closed))
    done = client.run(*issue_args("down", [f"down.{ZONE}"]))
    assert done.returncode == 4, done.stderr
    assert "refused the connection: nothing listens there" in done.stderr, done.stderr
    assert "the CA is down or the URL's port is wrong" in done.stderr
    assert "IPv6 address" not in done.stderr and "HTTPS_PROXY" not in done.stderr
