"""DNS faults in the lab: a blackholed nameserver, SERVFAIL, REFUSED updates, a bad TSIG secret.

Each run must end with its documented exit code and a clear message, and leave
no TXT value, no ledger entry and no certificate behind.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import dns.rcode
import pytest
from faultlab import ZONE, Client, issue_args, make_client, owner, store_problems, txt_left

from lab import Lab, wait_until

pytestmark = pytest.mark.lab
HERE = Path(__file__).resolve().parent


@pytest.fixture
def client(lab: Lab, tmp_path: Path) -> Client:
    return make_client(lab, tmp_path)


def assert_clean_failure(
    done: subprocess.CompletedProcess[str], code: int, *fragments: str
) -> None:
    output = done.stderr + done.stdout
    assert done.returncode == code, f"exit {done.returncode}, expected {code}\n{output}"
    assert "Traceback" not in output and "internal error" not in output, output
    assert "certv6: error:" in output, output
    for fragment in fragments:
        assert fragment in output, f"missing {fragment!r}\n{output}"


def assert_nothing_left(client: Client, lineage: str) -> None:
    assert client.ledger_entries == []
    assert not (client.lineage(lineage) / "current").exists()
    assert store_problems(client.state_dir) == []


def test_a_blackholed_nameserver_is_a_warning_under_all_reachable(lab: Lab, client: Client) -> None:
    # partial.test: NS ns1.certv6.test (answers) and dead.partial.test (never answers).
    name = "bh.partial.test"
    done = client.run(*issue_args("bh", [name]))
    assert done.returncode == 0, done.stderr
    assert lab.blackhole_addr in done.stderr, "the report must name the address it gave up on"
    assert lab.txt_at(lab.primary_addr, owner(name)) == set()
    assert client.ledger_entries == []


def test_a_blackholed_nameserver_times_out_under_strict(lab: Lab, tmp_path: Path) -> None:
    client = make_client(lab, tmp_path, extra="")
    config = client.config.read_text().replace(
        "[provider.rfc2136]", 'propagation_policy = "strict"\n\n[provider.rfc2136]'
    )
    client.config.write_text(config)
    name = "strict.partial.test"
    done = client.run(*issue_args("strict", [name]), "--propagation-timeout", "3")
    assert_clean_failure(done, 7, lab.blackhole_addr)
    assert lab.txt_at(lab.primary_addr, owner(name)) == set()
    assert_nothing_left(client, "strict")


@pytest.fixture
def servfail_nameserver(lab: Lab) -> Iterator[str]:
    """The client host answers SERVFAIL on port 53: the nameserver of _acme-challenge.standalone."""
    proc = lab.popen_in_client(
        [sys.executable, str(HERE / "servfail.py"), lab.client_addr],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready", proc.stderr.read() if proc.stderr else ""
        wait_until(
            lambda: lab.query(lab.client_addr, "x.", "SOA").rcode() == dns.rcode.SERVFAIL,
            timeout=5,
            what="the SERVFAIL server answers",
        )
        yield lab.client_addr
    finally:
        proc.kill()
        proc.communicate(timeout=10)


def test_a_nameserver_answering_servfail(
    lab: Lab, client: Client, servfail_nameserver: str
) -> None:
    name = f"standalone.{ZONE}"
    done = client.run(*issue_args("servfail", [name]), timeout=120)
    assert_clean_failure(done, 6, "_acme-challenge.standalone.certv6.test")
    assert_nothing_left(client, "servfail")


def test_refused_updates(lab: Lab, tmp_path: Path) -> None:
    # limited-key may only change certv6.test; ns3 knows it, so an update of
    # challenges.test (where _acme-challenge.cname points) is REFUSED.
    client = make_client(lab, tmp_path)
    client.config.write_text(
        client.config.read_text().replace(str(lab.tsig_key_file), str(lab.limited_key_file))
    )
    target = "cname.challenges.test."
    before = lab.txt_at(lab.ns3_addr, target)
    done = client.run(*issue_args("refused", [f"cname.{ZONE}"]))
    assert_clean_failure(done, 8, "REFUSED")
    assert lab.txt_at(lab.ns3_addr, target) == before
    assert_nothing_left(client, "refused")


def test_a_bad_tsig_secret(lab: Lab, tmp_path: Path) -> None:
    key = tmp_path / "wrong.key"
    key.write_text(
        f'key "{lab.tsig_key_name}" {{\n\talgorithm hmac-sha256;\n'
        '\tsecret "d3Jvbmd3cm9uZ3dyb25nd3Jvbmd3cm9uZ3dyb25nMTI=";\n};\n'
    )
    key.chmod(0o600)
    client = make_client(lab, tmp_path)
    client.config.write_text(client.config.read_text().replace(str(lab.tsig_key_file), str(key)))
    name = f"badsig.{ZONE}"
    done = client.run(*issue_args("badsig", [name]))
    assert_clean_failure(done, 8, "TSIG")
    assert txt_left(lab, name) == set()
    assert_nothing_left(client, "badsig")
