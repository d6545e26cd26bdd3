"""dns-persist-01 end to end against the upstream Pebble build: no DNS credentials at all.

The administrator adds the standing record once (``lab.nsupdate`` with the admin key,
as someone with the zone's own credentials would); certv6 then issues and renews with
no provider configured. Every bad record is found before the order is answered:
upstream Pebble's log shows no challenge POST for it.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
from certv6_run import Client, make_client

from certv6.dnsquery import Dns, DnsSettings
from certv6.model import TxtRecord
from certv6.providers import ProviderContext, load_provider
from jsonschemas import validated
from lab.netns import NamespaceThreads

pytestmark = [pytest.mark.lab, pytest.mark.upstream_pebble]

ZONE = "certv6.test"
ISSUER = "pebble.letsencrypt.org"  # what upstream Pebble names in issuer-domain-names


def no_provider(lab: Any, upstream_pebble: str, directory: Path, extra: str = "") -> Client:
    return make_client(lab, directory, extra, server=upstream_pebble, provider=False)


def persist(client: Client, *domains: str) -> tuple[int, dict[str, Any], str]:
    argv = ["persist", "--json"]
    for domain in domains:
        argv += ["-d", domain]
    done = client.run(*argv)
    return done.returncode, validated("persist", done.stdout), done.stderr


def add_record(lab: Any, owner: str, value: str) -> None:
    """The administrator's one-time change, with credentials certv6 never sees."""
    strings = " ".join(f'"{value[i : i + 255]}"' for i in range(0, len(value), 255))
    lab.nsupdate(f"update add {owner} 30 TXT {strings}", key_file=lab.admin_key_file)
    lab.sync_secondary()


def standing(
    lab: Any, upstream_pebble: str, tmp_path: Path, name: str, value: str = "{record}"
) -> tuple[Client, dict[str, Any]]:
    """A client without provider and its account's record for ``name``, added as ``value``
    (``{record}``: the record persist printed; ``{issuer}``, ``{uri}``, ``{until}``)."""
    client = no_provider(lab, upstream_pebble, tmp_path)
    _, shown, _ = persist(client, name)
    record = shown["records"][0]
    until = int(time.time()) + 30 * 86400
    text = value.format(
        record=record["value"], issuer=ISSUER, uri=shown["account_uri"], until=until
    )
    add_record(lab, record["owner"], text)
    return client, record


def challenge_posts(lab: Any) -> int:
    """Challenge answers upstream Pebble received so far (its request log)."""
    log = (lab.workdir / "pebble-upstream.log").read_text(errors="replace")
    return len(re.findall(r"POST /chalZ/", log))


def issue(client: Client, name: str, *domains: str, extra: tuple[str, ...] = ()) -> Any:
    # Upstream Pebble picks one of its profiles at random when an order names none;
    # the 90-day one keeps these tests about the record, not about the lifetime.
    argv = ["issue", "--json", "--name", name, "--challenge", "dns-persist-01", *extra]
    argv += ["--profile", "default"]
    for domain in domains:
        argv += ["-d", domain]
    return client.run(*argv)


def test_persist_prints_the_record_then_issue_and_renew_need_no_provider(
    lab: Any, upstream_pebble: str, tmp_path: Path
) -> None:
    client = no_provider(lab, upstream_pebble, tmp_path)
    name = f"persist1.{ZONE}"
    code, shown, stderr = persist(client, name)
    # Nothing is there yet: the record is printed, and the command says it is missing.
    assert code == 6, stderr
    (record,) = shown["records"]
    assert shown["issuer_domain_names"] == [ISSUER]
    assert record["owner"] == f"_validation-persist.{name}."
    assert record["value"] == f"{ISSUER}; accounturi={shown['account_uri']}"
    assert record["problem"] == "missing"
    assert "must be:" in stderr
    # The authorization made only to read the challenge was deactivated at once.
    assert "POST /authZ/" in (lab.workdir / "pebble-upstream.log").read_text()

    add_record(lab, record["owner"], record["value"])
    code, shown, stderr = persist(client, name)
    assert code == 0, stderr
    assert all(server["problem"] is None for server in shown["records"][0]["servers"])
    assert len(shown["records"][0]["servers"]) == 2  # ns1 and ns2, both asked

    done = issue(client, "persist1", name)
    assert done.returncode == 0, done.stderr
    assert "dns-persist-01 for 1 name(s)" in done.stderr
    issued = validated("issue", done.stdout)
    assert issued["challenges"] == ["dns-persist-01"]
    assert issued["answered"] == [{"name": name, "challenge": "dns-persist-01"}]
    lineage = json.loads((client.state_dir / "certificates/persist1/lineage.json").read_text())
    assert lineage["challenge"] == ["dns-persist-01"]
    assert lineage["provider"] is None

    renewed = client.run("renew", "--force", "--name", "persist1", "--json")
    assert renewed.returncode == 0, renewed.stderr
    assert validated("renew", renewed.stdout)["certificates"][0]["status"] == "renewed"
    assert "dns-persist-01 for 1 name(s)" in renewed.stderr


def test_a_wildcard_needs_policy_wildcard_and_gets_it(
    lab: Any, upstream_pebble: str, tmp_path: Path
) -> None:
    client = no_provider(lab, upstream_pebble, tmp_path)
    name = f"persist2.{ZONE}"
    code, shown, stderr = persist(client, name, f"*.{name}")
    assert code == 6, stderr
    (record,) = shown["records"]  # a name and its wildcard share one record
    assert record["names"] == [name, f"*.{name}"]
    assert record["value"].endswith("; policy=wildcard")
    add_record(lab, record["owner"], record["value"])
    done = issue(client, "persist2", name, f"*.{name}")
    assert done.returncode == 0, done.stderr


BAD = {
    "missing accounturi": "{issuer}; policy=wildcard",
    "duplicate tags": "{issuer}; accounturi={uri}; accounturi={uri}",
    "whitespace in a value": "{issuer}; accounturi={uri}; policy=wild card",
    "another account": "{issuer}; accounturi={uri}0",
    "expired persistUntil": "{issuer}; accounturi={uri}; persistUntil=1700000000",
    "trailing semicolon": "{issuer}; accounturi={uri};",
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_bad_record_is_found_before_the_order_is_answered(
    lab: Any, upstream_pebble: str, tmp_path: Path, case: str
) -> None:
    client = no_provider(lab, upstream_pebble, tmp_path)
    label = re.sub(r"[^a-z]+", "-", case).strip("-")
    name = f"bad-{label}.{ZONE}"
    _, shown, _ = persist(client, name)
    expected = shown["records"][0]["value"]
    bad = BAD[case].format(issuer=ISSUER, uri=shown["account_uri"])
    add_record(lab, shown["records"][0]["owner"], bad)
    before = challenge_posts(lab)
    done = issue(client, "bad", name)
    assert done.returncode == 6, done.stderr
    assert f'is:      "{bad}"' in done.stderr
    assert f'must be: "{expected}"' in done.stderr
    assert challenge_posts(lab) == before  # nothing was answered
    assert not (client.state_dir / "certificates" / "bad").exists()


def test_a_wildcard_without_policy_is_found_before_the_order_is_answered(
    lab: Any, upstream_pebble: str, tmp_path: Path
) -> None:
    client = no_provider(lab, upstream_pebble, tmp_path)
    name = f"nopolicy.{ZONE}"
    _, shown, _ = persist(client, f"*.{name}")
    without = f"{ISSUER}; accounturi={shown['account_uri']}"
    add_record(lab, shown["records"][0]["owner"], without)
    before = challenge_posts(lab)
    done = issue(client, "nopolicy", f"*.{name}")
    assert done.returncode == 6, done.stderr
    assert "no wildcard policy" in done.stderr
    assert f'is:      "{without}"' in done.stderr
    assert f'must be: "{without}; policy=wildcard"' in done.stderr
    assert challenge_posts(lab) == before


def test_a_record_changed_after_issuance_fails_the_renewal_loudly(
    lab: Any, upstream_pebble: str, tmp_path: Path
) -> None:
    name = f"persist3.{ZONE}"
    client, record = standing(lab, upstream_pebble, tmp_path, name)
    assert issue(client, "persist3", name).returncode == 0
    # Someone replaces it with a record for another account: the renewal stops before
    # answering, names the record and the fix, and the exit code says it failed.
    lab.nsupdate(f"update delete {record['owner']} TXT", key_file=lab.admin_key_file)
    add_record(lab, record["owner"], f"{ISSUER}; accounturi=https://elsewhere.example/acct/1")
    before = challenge_posts(lab)
    renewed = client.run("renew", "--force", "--name", "persist3", "--json")
    assert renewed.returncode == 12, renewed.stderr
    outcome = validated("renew", renewed.stdout)["certificates"][0]
    assert outcome["status"] == "failed"
    assert "other account" in outcome["detail"]
    assert challenge_posts(lab) == before


def test_persist_until_soon_is_a_warning_of_the_issue(
    lab: Any, upstream_pebble: str, tmp_path: Path
) -> None:
    # Valid today, but it ends in 30 days, before the 90-day certificate.
    name = f"persist4.{ZONE}"
    client, _ = standing(lab, upstream_pebble, tmp_path, name, "{record}; persistUntil={until}")
    done = issue(client, "persist4", name)
    assert done.returncode == 0, done.stderr
    warnings = validated("issue", done.stdout)["warnings"]
    assert any("persistUntil" in warning for warning in warnings), done.stderr


def doctor(client: Client, *args: str) -> tuple[int, dict[str, dict[str, Any]]]:
    done = client.run("doctor", "--json", "--challenge", "dns-persist-01", *args)
    report = validated("doctor", done.stdout)
    found = {f"{c['section']} {c['check']}": c for c in report["checks"]}
    return done.returncode, found


@pytest.mark.parametrize(
    ("case", "record", "status", "says"),
    [
        ("missing", None, "fail", "missing: there is no TXT record"),
        ("other-ca", "other-ca.example; accounturi={uri}", "fail", "other CA"),
        ("other-account", "{issuer}; accounturi={uri}9", "fail", "other account"),
        (
            "soon",
            "{issuer}; accounturi={uri}; policy=wildcard; persistUntil={soon}",
            "warn",
            "soon",
        ),
        ("wildcard", "{issuer}; accounturi={uri}", "fail", "no wildcard policy"),
        ("fine", "{issuer}; accounturi={uri}; policy=wildcard", "ok", "authorizes this account"),
    ],
)
def test_doctor_reports_the_standing_record_and_the_offered_challenges(
    lab: Any,
    upstream_pebble: str,
    tmp_path: Path,
    case: str,
    record: str | None,
    status: str,
    says: str,
) -> None:
    client = no_provider(lab, upstream_pebble, tmp_path)
    name = f"doctor-{case}.{ZONE}"
    _, shown, _ = persist(client, name)  # makes the account doctor needs to ask the CA
    if record is not None:
        soon = int(time.time()) + 7 * 86400
        value = record.format(issuer=ISSUER, uri=shown["account_uri"], soon=soon)
        add_record(lab, shown["records"][0]["owner"], value)
    code, found = doctor(client, "-d", name, "-d", f"*.{name}")
    finding = found[f"{name} dns-persist-01"]
    assert finding["status"] == status, finding
    assert says in finding["message"], finding
    assert code == (13 if status == "fail" else 0)
    offered = found["ca challenges"]["message"]
    assert {"dns-01", "dns-account-01", "dns-persist-01"} <= set(
        offered.split(": ", 1)[1].split(", ")
    ), found.keys()
    assert "provider setup" not in found  # dns-persist-01 needs no provider


def test_publish_writes_the_record_once_and_nothing_ever_removes_it(
    lab: Any, upstream_pebble: str, tmp_path: Path
) -> None:
    client = make_client(lab, tmp_path, server=upstream_pebble)  # with the rfc2136 provider
    name = f"published.{ZONE}"
    past = client.run("persist", "-d", name, "--until", "2020-01-01")
    assert past.returncode == 3 and "not in the future" in past.stderr
    done = client.run("persist", "--json", "--publish", "--until", "2030-01-01", "-d", name)
    assert done.returncode == 0, done.stderr
    shown = validated("persist", done.stdout)
    (record,) = shown["records"]
    assert shown["published"] == "rfc2136"
    assert record["value"].endswith("; persistUntil=1893456000")
    lab.sync_secondary()
    for server in (lab.primary_addr, lab.secondary_addr):
        assert lab.txt_at(server, record["owner"]) == {record["value"]}
    assert list((client.state_dir / "ledger").glob("*.json")) == []  # it is meant to stay
    assert client.run("cleanup", "--stale").returncode == 0
    done = issue(client, "published", name)
    assert done.returncode == 0, done.stderr
    assert lab.txt_at(lab.primary_addr, record["owner"]) == {record["value"]}


def test_a_record_longer_than_255_octets_is_published_as_one_record(
    lab: Any, tmp_path: Path
) -> None:
    # An account URL can make the record longer than one TXT string: rfc2136 writes one
    # record of several strings, and the checker reads them joined, as the CA does.
    value = f"{ISSUER}; accounturi=https://ca.example/acme/acct/{'7' * 300}; policy=wildcard"
    owner = f"_validation-persist.long.{ZONE}."
    dns = Dns(DnsSettings(resolvers=(f"[{lab.client_resolver}]:53",)))
    context = ProviderContext("rfc2136", {"key_file": str(lab.tsig_key_file)}, dns, tmp_path)
    provider = load_provider(context)
    threads = NamespaceThreads(lab.client_ns, workers=1)
    try:
        threads.call(provider.present, [TxtRecord(owner, value)])
        assert lab.txt_at(lab.primary_addr, owner) == {value}
        threads.call(provider.cleanup, [TxtRecord(owner, value)])
        assert lab.txt_at(lab.primary_addr, owner) == set()
    finally:
        threads.close()
