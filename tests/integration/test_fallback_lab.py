"""CA fallback (``server = [...]``) end to end: two real Pebbles with different roots.

The lab's Pebble and a second one (``lab.start_second_ca()``: same host, its own
accounts and issuing root). A CA that cannot issue now is either the real
second Pebble stopped (connections refused), or the ACME stand-in of
tests/fakes/ari_ca.py in front of the first Pebble answering what a CA under
load or rate limits answers (503 ``serverInternal``, 429 ``rateLimited``, as
problem documents) while Pebble does every real step of the rest.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from certv6_run import CERTV6

from certv6.acme_client import certificate_id
from certv6.service.renew.sessions import RATE_LIMIT_STREAK
from fakes import certv6_at
from fakes.ari_ca import AriCa, Fault
from jsonschemas import validated
from lab import verify_chain
from lab.netns import NamespaceThreads

pytestmark = pytest.mark.lab

ZONE = "certv6.test"
FRONT_PORTS = (14003, 14004)  # the stand-ins in front of the first and the second Pebble
RATE_LIMITED = Fault(429, "rateLimited", "too many certificates for this name", "3600")
OVERLOADED = Fault(503, "serverInternal", "the CA is overloaded", "1")


@dataclass
class Host:
    """certv6 on the lab's client, with a config naming a list of CAs."""

    lab: Any
    root: Path
    cas: list[str]

    @property
    def config(self) -> Path:
        return self.root / "certv6.toml"

    @property
    def state(self) -> Path:
        return self.root / "state"

    def write(self) -> None:
        self.lab.write_certv6_config(self.config, state_dir=self.state)
        listed = ", ".join(json.dumps(ca) for ca in self.cas)
        text = self.config.read_text()
        self.config.write_text(
            text.replace(f"server = {json.dumps(self.lab.ca_directory)}", f"server = [{listed}]")
        )

    def run(self, *args: str, now: dt.datetime | None = None) -> subprocess.CompletedProcess[str]:
        certv6 = certv6_at.command(sys.executable, now) if now else [CERTV6]
        return self.lab.run_in_client([*certv6, "--config", str(self.config), *args], timeout=240)

    def issue(self, name: str) -> tuple[dict[str, Any], str]:
        done = self.run("issue", "--json", "--name", name, "-d", f"{name}.{ZONE}")
        assert done.returncode == 0, f"exit {done.returncode}\n{done.stderr}"
        return validated("issue", done.stdout), done.stderr

    def lineage(self, name: str) -> Path:
        return self.state / "certificates" / name

    def lineage_json(self, name: str) -> dict[str, Any]:
        return dict(json.loads((self.lineage(name) / "lineage.json").read_text()))

    def health(self, name: str) -> dict[str, Any]:
        return dict(json.loads((self.lineage(name) / "health.json").read_text()))


def roots(lab: Any, tmp: Path) -> tuple[Path, Path]:
    """Each CA's issuing root, from its management port, as files for openssl."""
    first, second = tmp / "root1.pem", tmp / "root2.pem"
    first.write_text(lab.pebble_roots()[0])
    second.write_text(lab.pebble_roots(second=True)[0])
    assert first.read_text() != second.read_text()
    return first, second


def chains_to(live: Path, root: Path) -> bool:
    return verify_chain(live, root).returncode == 0


def txt_left(lab: Any, name: str) -> set[str]:
    lab.sync_secondary()
    owner = f"_acme-challenge.{name}."
    return set(lab.txt_at(lab.primary_addr, owner) | lab.txt_at(lab.secondary_addr, owner))


@pytest.fixture
def second_ca(lab: Any) -> Any:
    return lab.start_second_ca()


@pytest.fixture
def fronts(second_ca: Any) -> Iterator[tuple[AriCa, AriCa]]:
    """A stand-in in front of each Pebble, in the CA's namespace."""
    lab = second_ca
    listener = lab.workdir / "ca"
    threads = NamespaceThreads(lab.netns("ca"), workers=4)
    started = []
    try:
        for port, upstream in zip(FRONT_PORTS, (14000, 14002), strict=True):
            front = AriCa(
                lab.ca_addr,
                port,
                cert=listener / "listener.pem",
                key=listener / "listener.key",
                upstream=(lab.ca_addr, upstream),
                upstream_ca=lab.ca_bundle,
            )
            threads.call(front.bind)
            started.append((front, threads.submit(front.serve_forever)))
        yield started[0][0], started[1][0]
    finally:
        for front, serving in started:
            front.shutdown()
            serving.result(timeout=10)
        threads.close()


def faulted_then_second(lab: Any, first: AriCa, where: str, fault: Fault, tmp: Path) -> Host:
    """A host whose list is [the stand-in before the first Pebble, the second Pebble]."""
    first.script.faults[where] = fault
    host = Host(lab, tmp, [first.directory_url, lab.ca2_directory])
    host.write()
    return host


def test_rate_limited_first_ca_the_second_issues_with_its_own_chain(
    second_ca: Any, fronts: tuple[AriCa, AriCa], tmp_path: Path
) -> None:
    lab = second_ca
    first = fronts[0]
    host = faulted_then_second(lab, first, "newOrder", RATE_LIMITED, tmp_path)
    result, stderr = host.issue("fb-rate")
    assert result["ca"] == lab.ca2_directory
    assert len(result["skipped"]) == 1 and result["skipped"][0].startswith(first.directory_url)
    assert "too many certificates" in result["skipped"][0]
    assert f"{first.directory_url} cannot issue now" in stderr and "trying" in stderr
    assert first.seen.faulted  # the first CA really was asked, and said no
    root1, root2 = roots(lab, tmp_path)
    live = host.lineage("fb-rate") / "current"
    assert chains_to(live, root2), verify_chain(live, root2).stdout
    assert not chains_to(live, root1)
    # Recorded: the issuer in lineage.json (what renew starts from), the skipped CA in health.
    assert host.lineage_json("fb-rate")["server"] == lab.ca2_directory
    issued = host.health("fb-rate")["issued"]
    assert issued["ca"] == lab.ca2_directory and len(issued["skipped"]) == 1
    listed = host.run("list", "--json")
    assert listed.returncode == 0, listed.stderr
    (entry,) = validated("list", listed.stdout)["certificates"]
    assert entry["ca"] == lab.ca2_directory
    text = host.run("list")
    assert f"fb-rate: issued by {lab.ca2_directory} after: {first.directory_url}" in text.stdout
    assert txt_left(lab, f"fb-rate.{ZONE}") == set()


def test_first_ca_failing_mid_order_with_503_the_second_issues(
    second_ca: Any, fronts: tuple[AriCa, AriCa], tmp_path: Path
) -> None:
    # The order at the first CA is validated, then finalize meets 503 after every retry.
    lab = second_ca
    first = fronts[0]
    host = faulted_then_second(lab, first, "/finalize-order/", OVERLOADED, tmp_path)
    result, stderr = host.issue("fb-503")
    assert result["ca"] == lab.ca2_directory, stderr
    assert len(first.seen.faulted) > 1  # retried before moving on
    assert "serverInternal" in stderr or "overloaded" in stderr
    _root1, root2 = roots(lab, tmp_path)
    assert chains_to(host.lineage("fb-503") / "current", root2)
    assert txt_left(lab, f"fb-503.{ZONE}") == set()
    assert not list((host.state / "ledger").glob("*.json"))


def test_every_ca_failing_names_each_and_exits_4(
    second_ca: Any, fronts: tuple[AriCa, AriCa], tmp_path: Path
) -> None:
    first, second = fronts
    first.script.faults["newOrder"] = RATE_LIMITED
    second.script.faults["newOrder"] = RATE_LIMITED
    host = Host(second_ca, tmp_path, [first.directory_url, second.directory_url])
    host.write()
    done = host.run("issue", "--name", "fb-none", "-d", f"fb-none.{ZONE}")
    assert done.returncode == 4, done.stderr
    assert "no CA of the list could issue" in done.stderr
    assert first.directory_url in done.stderr and second.directory_url in done.stderr
    assert "Traceback" not in done.stderr
    assert not (host.lineage("fb-none") / "current").exists()


def test_caa_naming_only_the_second_ca_moves_on_to_it(second_ca: Any, tmp_path: Path) -> None:
    # Pebble publishes no caaIdentities: [ca.NAME] tables give each CA its CAA name.
    lab = second_ca
    host = Host(lab, tmp_path, ["one", "two"])
    host.write()
    with host.config.open("a") as config:
        config.write(
            f'\n[ca.one]\nurl = "{lab.ca_directory}"\ncaa_identities = ["one.example"]\n'
            f'\n[ca.two]\nurl = "{lab.ca2_directory}"\ncaa_identities = ["two.example"]\n'
        )
    for name, issuer in (("fb-caa", "two.example"), ("fb-caa-none", "nobody.example")):
        record = f'update add {name}.{ZONE}. 30 CAA 0 issue "{issuer}"'
        lab.nsupdate(record, key_file=lab.admin_key_file)
    result, stderr = host.issue("fb-caa")
    assert result["ca"] == lab.ca2_directory
    assert "CAA forbids" in result["skipped"][0], stderr
    # A name no CA of the list may issue for: each one's check refuses it before any order.
    done = host.run("issue", "--name", "fb-caa-none", "-d", f"fb-caa-none.{ZONE}")
    assert done.returncode == 4, done.stderr
    assert "no CA of the list could issue" in done.stderr
    assert done.stderr.count("CAA forbids") >= 2, done.stderr


def test_an_error_every_ca_would_repeat_does_not_move_on(
    second_ca: Any, fronts: tuple[AriCa, AriCa], tmp_path: Path
) -> None:
    first, second = fronts
    first.script.faults["newOrder"] = Fault(400, "rejectedIdentifier", "no CA issues for it")
    host = Host(second_ca, tmp_path, [first.directory_url, second.directory_url])
    host.write()
    done = host.run("issue", "--name", "fb-reject", "-d", f"fb-reject.{ZONE}")
    assert done.returncode == 4, done.stderr
    assert "no CA issues for it" in done.stderr
    assert "cannot issue now" not in done.stderr
    assert second.seen.orders == []  # never asked


def test_first_ca_down_then_renewals_start_with_it_again(second_ca: Any, tmp_path: Path) -> None:
    lab = second_ca
    host = Host(lab, tmp_path, [lab.ca2_directory, lab.ca_directory])
    host.write()
    lab.stop_second_ca()  # the real Pebble is gone: connections are refused
    result, stderr = host.issue("fb-down")
    assert result["ca"] == lab.ca_directory
    assert "refused" in stderr and "cannot issue now" in stderr
    lab.start_second_ca()
    root1, root2 = roots(lab, tmp_path)
    assert chains_to(host.lineage("fb-down") / "current", root1)
    # The next renewal tries the first CA of the list again, which works now.
    done = host.run("renew", "--force", "--name", "fb-down")
    assert done.returncode == 0, done.stderr
    assert host.lineage_json("fb-down")["server"] == lab.ca2_directory
    assert chains_to(host.lineage("fb-down") / "current", root2)
    assert host.health("fb-down")["issued"]["skipped"] == []


def cert_id(host: Host, name: str) -> str:
    return certificate_id((host.lineage(name) / "current" / "cert.pem").read_bytes())


def test_ari_and_replaces_only_ever_go_to_the_issuing_ca(
    second_ca: Any, fronts: tuple[AriCa, AriCa], tmp_path: Path
) -> None:
    first, second = fronts
    now = dt.datetime.now(dt.UTC)
    for front in fronts:  # both offer ARI; the window says "renew now"
        front.script.default_window = (now - dt.timedelta(hours=2), now - dt.timedelta(hours=1))
    host = Host(second_ca, tmp_path, [first.directory_url, second.directory_url])
    host.write()
    host.issue("fb-ari")
    issued_by_first = cert_id(host, "fb-ari")

    first.script.faults["newOrder"] = RATE_LIMITED
    done = host.run("renew")
    assert done.returncode == 0, done.stderr
    assert first.seen.renewal_info == [issued_by_first]  # asked the issuer only
    assert first.seen.orders[-1].get("replaces") == issued_by_first  # refused (429)
    assert second.seen.orders and "replaces" not in second.seen.orders[-1]
    issued_by_second = cert_id(host, "fb-ari")
    assert second.seen.renewal_info == [issued_by_second]  # the new one's, at its issuer

    del first.script.faults["newOrder"]
    orders_at_second = len(second.seen.orders)
    done = host.run("renew", "--force")
    assert done.returncode == 0, done.stderr
    # The first CA again, without replaces: it did not issue the certificate replaced.
    assert "replaces" not in first.seen.orders[-1]
    assert len(second.seen.orders) == orders_at_second
    assert host.lineage_json("fb-ari")["server"] == first.directory_url


def test_renew_side_by_side_moves_on_from_a_rate_limited_ca_and_postpones_only_when_none_can(
    second_ca: Any, fronts: tuple[AriCa, AriCa], tmp_path: Path
) -> None:
    # Issue #19's concurrent renew with #14's list: a CA that rate-limits is a CA that
    # cannot issue now, so each renewal goes on to the next CA inside the shared run; the
    # streak holds the first CA back for the rest of the run (asked three times, not five).
    first, second = fronts
    host = Host(second_ca, tmp_path, [first.directory_url, second.directory_url])
    host.write()
    host.config.write_text("renew_concurrency = 1\n" + host.config.read_text())
    names = [f"fb-many{i}" for i in range(5)]
    for name in names:
        host.issue(name)
    first.script.faults["newOrder"] = RATE_LIMITED
    done = host.run("renew", "--force", "--json")
    assert done.returncode == 0, done.stderr
    report = validated("renew", done.stdout)
    assert report["complete"] and report["counts"]["renewed"] == 5, report["summary"]
    assert len(first.seen.faulted) == RATE_LIMIT_STREAK, first.seen.faulted
    assert "not asked again before" in done.stderr
    for name in names:
        assert host.lineage_json(name)["server"] == second.directory_url
        (skipped,) = host.health(name)["issued"]["skipped"]
        assert skipped.startswith(first.directory_url)
        assert host.health(name)["postponed"] is None

    # Both CAs rate-limited: no CA of the list can issue, so it is postponed (not failed),
    # until the earlier of their Retry-Afters, with both reasons; exit 16.
    second.script.faults["newOrder"] = Fault(429, "rateLimited", "slow down", "600")
    before = dt.datetime.now(dt.UTC)
    done = host.run("renew", "--force", "--json", "--name", names[0])
    assert done.returncode == 16, done.stderr
    (outcome,) = validated("renew", done.stdout)["certificates"]
    assert outcome["status"] == "postponed", outcome
    assert first.directory_url in outcome["detail"] and second.directory_url in outcome["detail"]
    until = dt.datetime.fromisoformat(host.health(names[0])["postponed"]["until"])
    assert before + dt.timedelta(seconds=590) <= until <= before + dt.timedelta(seconds=900)
    assert txt_left(host.lab, f"{names[0]}.{ZONE}") == set()
