"""``certv6 doctor`` (and issue's CAA check) in the IPv6-only lab, against real BIND and Pebble.

CAA records are added per test with the lab's admin key (the dns-01 keys may only
change TXT). Pebble publishes no ``caaIdentities``, so the configs name the lab CA's
CAA identity ``pebble.certv6.test`` in ``caa_identities``, as a user of such a CA would.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import pytest
from certv6_run import Client, make_client

from jsonschemas import validated

pytestmark = pytest.mark.lab

ZONE = "certv6.test"
PEBBLE_CAA = "pebble.certv6.test"


def client_with(
    lab: Any,
    directory: Path,
    top: str = "",
    key_file: Path | None = None,
    resolver: str | None = None,
) -> Client:
    """A client whose config starts with ``top`` (top-level settings), using ``key_file`` and
    ``resolver`` instead of the lab's main key and client resolver."""
    client = make_client(lab, directory)
    text = client.config.read_text()
    if key_file is not None:
        text = text.replace(str(lab.tsig_key_file), str(key_file))
    if resolver is not None:
        text = text.replace(f"[{lab.client_resolver}]:53", f"[{resolver}]:53")
    client.config.write_text(f'caa_identities = ["{PEBBLE_CAA}"]\n{top}\n{text}')
    return client


def doctor(client: Client, *args: str) -> tuple[int, dict[str, Any], str]:
    done = client.run("doctor", "--json", *args)
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, validated("doctor", done.stdout), done.stderr


def checks(report: dict[str, Any], section: str, check: str) -> list[dict[str, Any]]:
    return [c for c in report["checks"] if c["section"] == section and c["check"] == check]


def unique(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(3)}.{ZONE}"


def add_records(lab: Any, *lines: str) -> None:
    lab.nsupdate("\n".join(f"update add {line}" for line in lines), key_file=lab.admin_key_file)


def orders_at_pebble(lab: Any) -> int:
    return (lab.workdir / "pebble.log").read_text().count("POST /order-plz")


@pytest.fixture
def client(lab: Any, tmp_path: Path) -> Client:
    return client_with(lab, tmp_path)


def test_a_healthy_setup_passes(lab: Any, client: Client) -> None:
    code, report, _ = doctor(client, "-d", f"www.{ZONE}", "-d", f"cname.{ZONE}")
    assert code == 0, report
    assert report["ok"] is True
    (directory,) = checks(report, "ca", "directory")
    assert directory["status"] == "ok" and f"over IPv6 to {lab.ca_addr}" in directory["message"]
    # The lab's listener certificate (tests/lab/pki.py) passes Python 3.13's strict checks.
    (strict,) = checks(report, "ca", "x509 strict")
    assert strict["status"] == "ok" and "meets RFC 5280" in strict["message"]
    (resolver,) = checks(report, "host", "resolver")
    assert resolver["status"] == "ok" and lab.client_resolver in resolver["message"]
    assert checks(report, "provider", "preflight")[0]["status"] == "ok"
    (chain,) = checks(report, f"cname.{ZONE}", "challenge")
    assert "-> cname.challenges.test.: written in zone challenges.test." in chain["message"]
    servers = checks(report, f"www.{ZONE}", "nameserver")
    assert {s["status"] for s in servers} == {"ok"} and len(servers) == 2
    (aaaa,) = checks(report, f"www.{ZONE}", "aaaa")
    assert aaaa["status"] == "ok" and lab.client_addr in aaaa["message"]


def test_caa_for_another_ca_fails_that_name_only(lab: Any, client: Client) -> None:
    other, fine = unique("caa-other"), unique("caa-ok")
    add_records(
        lab,
        f'{other}. 30 CAA 0 issue "other-ca.example"',
        f'{fine}. 30 CAA 0 issue "{PEBBLE_CAA}"',
    )
    code, report, stderr = doctor(client, "-d", other, "-d", fine)
    assert code == 13
    (forbidden,) = checks(report, other, "caa")
    assert forbidden["status"] == "fail"
    assert (
        f'CAA at {other}. does not allow this CA ({PEBBLE_CAA}): 0 issue "other-ca'
        in (forbidden["message"])
    )
    assert f'{other}. CAA 0 issue "{PEBBLE_CAA}"' in forbidden["fix"]
    assert checks(report, fine, "caa")[0]["status"] == "ok"
    assert f"1 check(s) failed: {other} caa" in stderr


def test_caa_is_found_by_climbing_and_through_cnames(lab: Any, client: Client) -> None:
    parent, target = unique("climb"), unique("caa-target")
    alias = f"alias.{parent}"
    add_records(
        lab,
        f'{parent}. 30 CAA 0 issue "other-ca.example"',
        f'{target}. 30 CAA 0 issue "{PEBBLE_CAA}"',
        f"{alias}. 30 CNAME {target}.",
    )
    code, report, _ = doctor(client, "-d", f"a.b.{parent}", "-d", alias)
    assert code == 13
    (climbed,) = checks(report, f"a.b.{parent}", "caa")
    assert climbed["status"] == "fail" and f"CAA at {parent}." in climbed["message"]
    # The alias's own RRset is its target's, which allows Pebble: the parent's is not used.
    (aliased,) = checks(report, alias, "caa")
    assert aliased["status"] == "ok"
    assert f"CAA at {alias}. (alias of {target}.) allows this CA" in aliased["message"]


def test_rfc8657_account_binding(lab: Any, client: Client) -> None:
    bound = unique("caa-account")
    add_records(lab, f'{bound}. 30 CAA 0 issue "{PEBBLE_CAA}; accounturi=https://elsewhere/acct/1"')
    code, report, _ = doctor(client, "-d", bound)
    assert code == 13
    (caa,) = checks(report, bound, "caa")
    assert "only for account https://elsewhere/acct/1" in caa["message"]


def test_issue_stops_before_ordering_when_caa_forbids(lab: Any, client: Client) -> None:
    forbidden = unique("caa-stop")
    add_records(lab, f'{forbidden}. 30 CAA 0 issue "other-ca.example"')
    client.issue("warm-up", f"warm-{secrets.token_hex(3)}.{ZONE}")  # account exists
    before = orders_at_pebble(lab)
    done = client.run("issue", "--name", "stopped", "-d", f"ok.{ZONE}", "-d", forbidden)
    assert done.returncode == 4, done.stderr
    assert f"certv6: error: CAA forbids {forbidden}: CAA at {forbidden}." in done.stderr
    assert "hint: add the record" in done.stderr and "Traceback" not in done.stderr
    assert orders_at_pebble(lab) == before  # no order was created
    assert not (client.state_dir / "certificates" / "stopped").exists()
    assert list((client.state_dir / "ledger").glob("*.json")) == []


def test_issue_goes_ahead_when_caa_allows_this_ca(lab: Any, client: Client) -> None:
    allowed = unique("caa-allowed")
    add_records(lab, f'{allowed}. 30 CAA 0 issuewild "other-ca.example"')
    add_records(lab, f'{allowed}. 30 CAA 0 issue "{PEBBLE_CAA}"')
    result = client.issue("allowed", allowed)
    assert result["domains"] == [allowed]
    # --name checks a stored certificate's names (with the account that now exists).
    code, report, _ = doctor(client, "--name", "allowed")
    assert code == 0, report
    assert f"CAA at {allowed}. allows this CA" in checks(report, allowed, "caa")[0]["message"]


def test_a_nameserver_with_only_an_a_record(lab: Any, client: Client, tmp_path: Path) -> None:
    name = f"x.{secrets.token_hex(3)}.aonly.test"
    code, report, _ = doctor(client, "-d", name)
    assert code == 0  # all-reachable: a warning, the other nameserver answers
    ns4 = [c for c in checks(report, name, "nameserver") if "ns4.aonly.test" in c["message"]]
    assert ns4[0]["status"] == "warn"
    assert "ns4.aonly.test [192.0.2.53] (aonly.test.): IPv4 only and no NAT64" in ns4[0]["message"]

    strict = client_with(lab, tmp_path / "strict", top='propagation_policy = "strict"')
    code, report, _ = doctor(strict, "-d", name)
    assert code == 13
    assert [c["status"] for c in checks(report, name, "nameserver") if "ns4" in c["message"]] == [
        "fail"
    ]

    # Behind DNS64 the prefix is found (RFC 7050) and ns4 is asked through the NAT64.
    dns64 = client_with(lab, tmp_path / "dns64", resolver=lab.client_resolver_nat64)
    code, report, _ = doctor(dns64, "-d", name)
    assert code == 0
    (nat64,) = checks(report, "host", "nat64")
    assert nat64["message"] == f"NAT64 prefix {lab.nat64_prefix} (DNS64, found via RFC 7050)"
    ns4 = [c for c in checks(report, name, "nameserver") if "ns4.aonly.test" in c["message"]]
    assert ns4[0]["status"] == "ok" and "through NAT64" in ns4[0]["message"]


def test_preflight_catches_a_key_that_cannot_write_the_cname_target(
    lab: Any, tmp_path: Path
) -> None:
    limited = client_with(lab, tmp_path, key_file=lab.limited_key_file)
    # The preflight proves the key where the values will go, at the end of the CNAME
    # (challenges.test, where limited-key may not write), without writing anything.
    code, report, _ = doctor(limited, "-d", f"cname.{ZONE}")
    assert code == 13
    (refused,) = checks(report, "provider", "preflight")
    assert refused["status"] == "fail"
    assert "cname.challenges.test. in zone challenges.test." in refused["message"]
    assert "REFUSED" in refused["message"] and "limited-key" in refused["message"]
    assert lab.txt_at(lab.ns3_addr, "cname.challenges.test.") == set()

    code, report, _ = doctor(limited, "-d", f"www.{ZONE}", "--write-test")
    assert code == 0, report
    (written,) = checks(report, f"www.{ZONE}", "write test")
    assert written["status"] == "ok" and "removed" in written["message"]
    assert lab.txt_at(lab.primary_addr, f"_acme-challenge.www.{ZONE}.") == set()
    assert lab.txt_at(lab.ns3_addr, "cname.challenges.test.") == set()
    # The ledger never lies (#13): the refused canary was never published, so it is not
    # recorded, and cleanup --stale has nothing to (fail to) remove.
    assert list((limited.state_dir / "ledger").glob("*.json")) == []
    cleanup = limited.run("cleanup", "--stale")
    assert cleanup.returncode == 0 and "removed 0 stale TXT value(s)" in cleanup.stdout


def test_user_mistakes(client: Client) -> None:
    done = client.run("doctor", "-d", "*.*.example.org")
    assert done.returncode == 3 and "wildcard may only be" in done.stderr
    done = client.run("doctor", "--name", "never-issued")
    assert done.returncode == 3 and "no certificate named 'never-issued'" in done.stderr
    assert "Traceback" not in done.stderr
    assert not client.state_dir.exists()  # nothing written
