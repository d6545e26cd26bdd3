"""The lab itself: it must be IPv6-only, isolated, and behave like the real thing it stands for.

Everything else (integration tests, demo, benchmarks) trusts these properties.
"""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import sys
import time
import tomllib
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import dns.exception
import dns.flags
import dns.rcode
import dns.rdatatype
import pytest

from lab import (
    Lab,
    LabError,
    LabUnavailable,
    NsupdateError,
    configs,
    prereq,
    wait_until,
)
from lab.netns import NETNS_ETC_DIR, existing_namespaces
from lab.plan import Plan
from lab.state import STATE_DIR

pytestmark = pytest.mark.lab

REPO = Path(__file__).resolve().parents[2]
ROLES = ("client", "tld", "ns1", "ns2", "ns3", "nat64", "blackhole", "ca", "resolver", "bridge")


def owner(label: str = "www") -> str:
    """A fresh _acme-challenge owner in certv6.test, so tests sharing the lab never collide."""
    return f"_acme-challenge.{label}-{uuid.uuid4().hex[:8]}.certv6.test."


def client_python(lab: Lab, code: str) -> subprocess.CompletedProcess[str]:
    return lab.run_in_client([sys.executable, "-c", code], timeout=30)


# --- IPv6 only ------------------------------------------------------------------------------


def test_client_namespace_has_no_ipv4_at_all(lab: Lab) -> None:
    assert lab.run_in_client(["ip", "-4", "addr"], check=True).stdout.strip() == ""
    routes = lab.run_in_client(["ip", "-4", "route", "show", "table", "all"], check=True)
    assert routes.stdout.strip() == ""

    done = client_python(
        lab,
        "import socket\n"
        "try:\n"
        "    socket.create_connection(('127.0.0.1', 53), timeout=3)\n"  # ipv4-ok: proves IPv4 fails
        "except OSError as e:\n"
        "    print(e.errno)\n"
        "else:\n"
        "    print('connected')\n",
    )
    assert done.returncode == 0, done.stderr
    # ENETUNREACH: IPv4 use fails at once and loudly, it does not hang.
    assert done.stdout.strip() == "101"


def test_no_lab_namespace_has_ipv4(lab: Lab) -> None:
    # ...except the NAT64's IPv4 side: its link to ns4, the IPv4-only nameserver behind it.
    for role in ROLES:
        out = lab.run_in(role, ["ip", "-4", "addr"], check=True).stdout
        if role == "nat64":
            assert out.count("inet ") == 1 and "192.0.2.1/24" in out, out
            continue
        assert out.strip() == "", f"{role} has IPv4: {out}"


def test_addresses_are_ula(lab: Lab) -> None:
    for addr in (
        lab.client_addr,
        lab.primary_addr,
        lab.secondary_addr,
        lab.ns3_addr,
        lab.nat64_ns_addr,
        lab.blackhole_addr,
        lab.client_resolver,
        lab.client_resolver_nat64,
        lab.ca_resolver,
    ):
        assert addr.startswith("fd"), addr
    assert lab.nat64_prefix == "fd00:64:ff9b::/96"
    assert lab.nat64_ns_addr == "fd00:64:ff9b::c000:235"


def test_client_resolv_conf_points_at_client_resolver(lab: Lab) -> None:
    text = lab.run_in_client(["cat", "/etc/resolv.conf"], check=True).stdout
    assert f"nameserver {lab.client_resolver}" in text


def test_resolvers_refuse_names_outside_the_lab(lab: Lab) -> None:
    for resolver in (lab.client_resolver, lab.client_resolver_nat64, lab.ca_resolver):
        response = lab.query(resolver, "example.com.", "AAAA", recursive=True)
        assert response.rcode() == dns.rcode.REFUSED


# --- Pebble ---------------------------------------------------------------------------------


def test_pebble_directory_over_ipv6_with_bundle(lab: Lab) -> None:
    code = (
        "import json, ssl, sys, urllib.request\n"
        "ctx = ssl.create_default_context(cafile=sys.argv[2])\n"
        "with urllib.request.urlopen(sys.argv[1], context=ctx, timeout=10) as r:\n"
        "    print(json.dumps(json.load(r)))\n"
    )
    for url in (lab.ca_directory, lab.ca_directory_by_name):
        done = lab.run_in_client([sys.executable, "-c", code, url, str(lab.ca_bundle)])
        assert done.returncode == 0, done.stderr
        assert "newOrder" in json.loads(done.stdout)

    # Without the lab's bundle the listener is not trusted: verification is really on.
    done = lab.run_in_client([sys.executable, "-c", code, lab.ca_directory, "/dev/null"])
    assert done.returncode != 0


def test_pebble_roots_and_restart_with_env(lab: Lab) -> None:
    root, intermediate = lab.pebble_roots()
    assert root.startswith("-----BEGIN CERTIFICATE-----")
    assert intermediate.startswith("-----BEGIN CERTIFICATE-----")

    lab.restart_pebble({"PEBBLE_WFE_NONCEREJECT": "50"})
    assert lab.pebble_env["PEBBLE_WFE_NONCEREJECT"] == "50"
    assert "reject 50% of good nonces" in (lab.workdir / "pebble.log").read_text()
    # Pebble makes a new issuing root at every start.
    assert lab.pebble_roots()[0] != root


# --- Dynamic updates and the secondary ------------------------------------------------------


def test_update_reaches_primary_then_secondary(lab: Lab) -> None:
    name = owner()
    lab.nsupdate(f"update add {name} 60 TXT token-1")
    assert lab.txt_at(lab.primary_addr, name) == {"token-1"}
    wait_until(lambda: lab.txt_at(lab.secondary_addr, name), timeout=5, what="ns2 has the TXT")
    assert lab.txt_at(lab.secondary_addr, name) == {"token-1"}
    assert lab.serial_at(lab.secondary_addr, lab.zone) == lab.serial_at(lab.primary_addr, lab.zone)

    lab.nsupdate(f"update delete {name} TXT token-1")
    assert lab.txt_at(lab.primary_addr, name) == set()


def test_lagging_secondary_serves_old_data_until_lag_passes(lab: Lab) -> None:
    name = owner("lag")
    with lab.lagging(3):
        lab.nsupdate(f"update add {name} 60 TXT late")
        published = time.monotonic()
        assert lab.txt_at(lab.primary_addr, name) == {"late"}
        assert lab.txt_at(lab.secondary_addr, name) == set()
        wait_until(lambda: lab.txt_at(lab.secondary_addr, name), timeout=15, what="ns2 catches up")
        waited = time.monotonic() - published
    assert waited > 2.0, f"ns2 caught up after {waited:.2f} s despite a 3 s lag"


def test_a_notify_queued_under_an_earlier_lag_never_fires_later(lab: Lab) -> None:
    # Otherwise a 60 s lag left by one test makes ns2 catch up in the middle of another.
    name = owner("stale-notify")
    lab.set_lag(1.0)
    lab.nsupdate(f"update add {name} 60 TXT queued")
    lab.set_lag(0.0)  # a new setting: the queued NOTIFY is dropped, not forwarded
    time.sleep(2.0)
    assert lab.txt_at(lab.secondary_addr, name) == set()
    lab.sync_secondary()
    assert lab.txt_at(lab.secondary_addr, name) == {"queued"}


def test_ca_resolver_lands_on_both_servers_while_secondary_lags(lab: Lab) -> None:
    name = owner("ca-view")
    lab.set_lag(60)  # reset() puts ns2 back in step after the test
    lab.nsupdate(f"update add {name} 60 TXT fresh")
    views = Counter(
        frozenset(lab.resolve(name, "TXT", resolver=lab.ca_resolver)) for _ in range(40)
    )
    # Like a real CA: some lookups hit the primary (new data), some the lagging secondary.
    assert views[frozenset({"fresh"})] > 0, views
    assert views[frozenset()] > 0, views


def test_sync_secondary_overrides_lag(lab: Lab) -> None:
    name = owner("sync")
    lab.set_lag(60)
    lab.nsupdate(f"update add {name} 60 TXT now")
    assert lab.txt_at(lab.secondary_addr, name) == set()
    lab.sync_secondary()
    assert lab.txt_at(lab.secondary_addr, name) == {"now"}


def test_limited_key_is_refused_outside_its_zone(lab: Lab) -> None:
    with pytest.raises(NsupdateError, match="REFUSED"):
        lab.nsupdate(
            "update add _acme-challenge.x.challenges.test. 60 TXT nope",
            key_file=lab.limited_key_file,
        )
    # The same key works where it is granted, so the refusal above is about scope.
    name = owner("limited")
    lab.nsupdate(f"update add {name} 60 TXT ok", key_file=lab.limited_key_file)
    assert lab.txt_at(lab.primary_addr, name) == {"ok"}


def test_keys_may_only_touch_txt(lab: Lab) -> None:
    with pytest.raises(NsupdateError, match="REFUSED"):
        lab.nsupdate(f"update add x-{uuid.uuid4().hex[:8]}.certv6.test. 60 AAAA {lab.client_addr}")


def test_key_files_are_private_and_in_bind_format(lab: Lab) -> None:
    for path, name in ((lab.tsig_key_file, "certv6-key"), (lab.limited_key_file, "limited-key")):
        assert path.stat().st_mode & 0o077 == 0
        text = path.read_text()
        assert f'key "{name}"' in text and "hmac-sha256" in text


# --- Delegations, CNAMEs, NAT64, dead servers -----------------------------------------------


def test_parent_and_child_ns_sets_exist(lab: Lab) -> None:
    referral = lab.query(lab.tld_addr, "www.certv6.test.", "AAAA")
    assert not referral.flags & dns.flags.AA
    ns = {r.target.to_text() for rrset in referral.authority for r in rrset}
    assert ns == {"ns1.certv6.test.", "ns2.certv6.test."}
    glue = {
        r.address
        for rrset in referral.additional
        if rrset.rdtype == dns.rdatatype.AAAA
        for r in rrset
    }
    assert glue == {lab.primary_addr, lab.secondary_addr}

    child = lab.query(lab.primary_addr, "certv6.test.", "NS")
    assert {r.target.to_text() for r in child.answer[0]} == ns


def test_cname_into_delegated_zone_resolves(lab: Lab) -> None:
    value = uuid.uuid4().hex
    lab.nsupdate(f"update add cname.challenges.test. 60 TXT {value}")
    lab.nsupdate(f"update add cname2.challenges.test. 60 TXT {value}-2")
    try:
        assert value in lab.resolve("_acme-challenge.cname.certv6.test.", "TXT")
        assert f"{value}-2" in lab.resolve("_acme-challenge.cname2.certv6.test.", "TXT")
        assert value in lab.resolve(
            "_acme-challenge.cname.certv6.test.", "TXT", resolver=lab.ca_resolver
        )
    finally:
        lab.nsupdate(
            "update delete cname.challenges.test. TXT\nupdate delete cname2.challenges.test. TXT"
        )


def test_cname_loop_and_standalone_delegation_are_served(lab: Lab) -> None:
    loop = lab.query(lab.primary_addr, "_acme-challenge.loop.certv6.test.", "TXT")
    assert loop.answer[0].rdtype == dns.rdatatype.CNAME
    referral = lab.query(lab.primary_addr, "_acme-challenge.standalone.certv6.test.", "TXT")
    assert [r.target.to_text() for rrset in referral.authority for r in rrset] == [
        "client.certv6.test."
    ]


def test_ipv4only_arpa_answered_only_by_nat64_resolver(lab: Lab) -> None:
    assert lab.resolve("ipv4only.arpa.", "AAAA", resolver=lab.client_resolver_nat64) == {
        "fd00:64:ff9b::c000:aa",
        "fd00:64:ff9b::c000:ab",
    }
    assert lab.resolve("ipv4only.arpa.", "AAAA", resolver=lab.client_resolver) == set()


def test_ipv4_only_ns4_serves_aonly_through_the_nat64(lab: Lab) -> None:
    # ns4.aonly.test has only an A record; a DNS64 resolver synthesizes where it "is", and
    # tayga carries the queries there (and ns4's zone transfers from ns1).
    assert lab.resolve("ns4.aonly.test.", "AAAA") == set()
    assert lab.resolve("ns4.aonly.test.", "A") == {"192.0.2.53"}
    assert lab.resolve("ns4.aonly.test.", "AAAA", resolver=lab.client_resolver_nat64) == {
        lab.nat64_ns_addr
    }
    assert lab.serial_at(lab.nat64_ns_addr, "aonly.test.") == lab.serial_at(
        lab.primary_addr, "aonly.test."
    )

    name = f"_acme-challenge.{uuid.uuid4().hex[:8]}.aonly.test."
    lab.nsupdate(f"update add {name} 60 TXT v64")
    wait_until(lambda: lab.txt_at(lab.nat64_ns_addr, name), timeout=5, what="ns4 has it")


def test_blackhole_times_out_instead_of_failing_fast(lab: Lab) -> None:
    # Ask ns1 directly: through a resolver this may itself hit the dead server and time out.
    glue = lab.query(lab.primary_addr, "dead.partial.test.", "AAAA")
    assert {r.address for r in glue.answer[0]} == {lab.blackhole_addr}
    for tcp in (False, True):
        began = time.monotonic()
        with pytest.raises(dns.exception.Timeout):
            lab.query(lab.blackhole_addr, "partial.test.", "SOA", tcp=tcp, timeout=1.0)
        assert time.monotonic() - began >= 0.9


# --- Config for certv6 ----------------------------------------------------------------------


def test_write_certv6_config(lab: Lab, tmp_path: Path) -> None:
    path = lab.write_certv6_config(
        tmp_path / "certv6.toml",
        state_dir=tmp_path / "state",
        extra="[propagation]\ntimeout = 30\n",
    )
    conf = tomllib.loads(path.read_text())
    assert conf["server"] == lab.ca_directory
    assert conf["agree_tos"] is True
    assert conf["state_dir"] == str(tmp_path / "state")
    assert conf["ca_bundle"] == str(lab.ca_bundle)
    assert conf["resolvers"] == [f"[{lab.client_resolver}]:53"]
    assert conf["provider"]["rfc2136"]["key_file"] == str(lab.tsig_key_file)
    assert conf["propagation"]["timeout"] == 30


# --- Life cycle -----------------------------------------------------------------------------


def _lab_leftovers(lab_id: str, namespaces: list[str]) -> list[str]:
    left = [f"netns {ns}" for ns in namespaces if ns in existing_namespaces()]
    left += [f"/etc/netns/{ns}" for ns in namespaces if (NETNS_ETC_DIR / ns).exists()]
    if (STATE_DIR / f"{lab_id}.json").exists():
        left.append("state file")
    return left


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_second_lab_runs_alongside_and_stop_leaves_nothing(
    lab: Lab, lab_factory: Callable[..., Lab]
) -> None:
    other = lab_factory(lag=1.5)
    assert other.id != lab.id and other.client_addr != lab.client_addr
    assert other.lag == 1.5
    name = owner("second")
    other.nsupdate(f"update add {name} 60 TXT other")
    assert other.txt_at(other.primary_addr, name) == {"other"}
    assert lab.txt_at(lab.primary_addr, name) == set()

    namespaces = [other.netns(role) for role in ROLES]
    daemon_pids = [pid for ns in namespaces for pid in _ns_pids(ns)]
    straggler = other.popen_in_client(["sleep", "300"])
    assert daemon_pids
    began = time.monotonic()
    other.stop()
    stopped_in = time.monotonic() - began
    straggler.wait(timeout=5)

    assert _lab_leftovers(other.id, namespaces) == []
    assert [p for p in daemon_pids if _alive(p)] == []
    assert not other.workdir.exists()
    assert stopped_in < 5
    # The shared lab is untouched.
    assert lab.serial_at(lab.primary_addr, lab.zone) >= 1


def _ns_pids(ns: str) -> list[int]:
    out = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True, check=True)
    return [int(p) for p in out.stdout.split()]


def _start_cli_lab() -> tuple[subprocess.Popen[str], dict[str, object]]:
    proc = subprocess.Popen(
        [sys.executable, str(REPO / "tests" / "lab"), "up"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert proc.stdout is not None
    lines = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if line.startswith("}"):
            return proc, json.loads("".join(lines))
    proc.kill()
    raise AssertionError(f"lab CLI did not come up: {proc.stderr.read() if proc.stderr else ''}")


@pytest.mark.usefixtures("require_lab")
def test_cli_up_tears_down_on_sigterm() -> None:
    proc, facts = _start_cli_lab()
    lab_id = str(facts["id"])
    namespaces = [f"{lab_id}-{role}" for role in ROLES]
    assert all(ns in existing_namespaces() for ns in namespaces)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=15) == 0
    assert _lab_leftovers(lab_id, namespaces) == []


@pytest.mark.usefixtures("require_lab")
def test_stale_lab_of_killed_owner_is_removed() -> None:
    proc, facts = _start_cli_lab()
    lab_id = str(facts["id"])
    namespaces = [f"{lab_id}-{role}" for role in ROLES]
    proc.kill()  # SIGKILL: no chance to clean up
    proc.wait(timeout=5)
    assert (STATE_DIR / f"{lab_id}.json").exists()

    done = subprocess.run(
        [sys.executable, str(REPO / "tests" / "lab"), "down-stale"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    removed = json.loads(done.stdout)["removed"]
    # A lab started at the same moment by another process on this machine may have
    # removed it first; either way it must be gone completely.
    assert lab_id in removed or not (STATE_DIR / f"{lab_id}.json").exists()
    assert _lab_leftovers(lab_id, namespaces) == []
    assert not Path(str(facts["workdir"])).exists()


def test_failed_start_reports_the_log_and_leaves_nothing(
    monkeypatch: pytest.MonkeyPatch, lab_factory: Callable[..., Lab]
) -> None:
    real = configs.named_conf

    def broken(plan: Plan, role: str, directory: Path, key_files: list[Path]) -> str:
        text = real(plan, role, directory, key_files)
        return text + "no-such-statement yes;\n" if role == "ns3" else text

    monkeypatch.setattr(configs, "named_conf", broken)
    with pytest.raises(LabError) as info:
        lab_factory(timeout=10)
    message = str(info.value)
    assert "named-ns3" in message and "no-such-statement" in message  # the log tail
    lab_id = re.search(r"lab (c6[0-9a-f]{4})", message)
    assert lab_id is not None
    namespaces = [f"{lab_id[1]}-{role}" for role in ROLES]
    assert _lab_leftovers(lab_id[1], namespaces) == []
    kept = re.search(r"kept in (\S+)", "\n".join(info.value.__notes__))
    assert kept is not None and Path(kept[1]).is_dir()
    shutil.rmtree(kept[1])


def test_startup_is_fast(lab: Lab) -> None:
    assert lab.startup_seconds is not None
    # Target is < 3 s; allow slack for loaded CI machines, but catch real regressions.
    assert lab.startup_seconds < 10, lab.startup_seconds


def test_missing_binaries_are_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setattr("lab.prereq._EXTRA_DIRS", ())
    with pytest.raises(LabUnavailable, match=r"named \(apt package bind9\)"):
        prereq.binaries()
