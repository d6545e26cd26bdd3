"""``certv6 aaaa``'s failures where unattended users look: ``list``, ``list --check``, check-store.

The record (store/aaaa_health.py) and its verdict (service/status.py) are tested as
values; the CLI runs as the timer runs it, on this host's real addresses: with
``aaaa_interface = "lo"`` no address is fit for an AAAA record (exit 15), a failure
that needs neither a DNS server nor a lab. A run whose change was refused after it
read the zone (names left pointing elsewhere: CRITICAL) is in test_aaaa_lab.py.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from certv6.service.status import CRITICAL, OK, WARNING, assess_aaaa
from certv6.store import AaaaHealth, Store
from jsonschemas import error_of, validated

CERTV6 = str(Path(sys.executable).parent / "certv6")
NOW = dt.datetime(2026, 12, 3, 10, 0, tzinfo=dt.UTC)
HOUR = dt.timedelta(hours=1)
KEY = 'key "k" { algorithm hmac-sha256; secret "c2VjcmV0c2VjcmV0c2VjcmV0"; };\n'


def test_the_record_counts_failures_in_a_row_and_keeps_the_last_good_run() -> None:
    good = AaaaHealth().succeeded(NOW, address="2001:db8::5", names=("www.example.org.",))
    once = good.failed(NOW + HOUR, error="REFUSED", hint="fix it", exit_code=8)
    twice = once.failed(
        NOW + 2 * HOUR, error="REFUSED", hint="fix it", exit_code=8, behind=("www.example.org.",)
    )
    assert (twice.failures, twice.failing_since, twice.last_ok) == (2, NOW + HOUR, NOW)
    assert twice.address == "2001:db8::5" and twice.behind == ("www.example.org.",)
    assert AaaaHealth.from_json(json.loads(json.dumps(twice.to_json()))) == twice
    again = twice.succeeded(NOW + 3 * HOUR, address="2001:db8::6", names=good.names)
    assert (again.ok, again.failures, again.failing_since, again.behind) == (True, 0, None, ())


def test_a_record_that_is_not_one_is_damaged_not_an_exception() -> None:
    assert AaaaHealth.from_json({"at": "yesterday", "ok": True}).damaged
    assert AaaaHealth.from_json(["a list"]).damaged
    assert AaaaHealth.from_json({"at": None, "ok": True, "names": "www"}).damaged


@pytest.mark.parametrize(
    ("health", "level", "says"),
    [
        (None, WARNING, "has not run yet"),
        (AaaaHealth().succeeded(NOW, address="2001:db8::5", names=("a.example.",)), OK, ""),
        (
            AaaaHealth().failed(NOW, error="no IPv6 address fits", hint="h", exit_code=15),
            WARNING,
            "certv6 aaaa failing since 2026-12-03 10:00 UTC (1 run(s)): no IPv6 address fits",
        ),
        # It read the names and could not change them: they point elsewhere now.
        (
            AaaaHealth().failed(
                NOW, error="REFUSED", hint="h", exit_code=8, behind=("a.example.", "b.example.")
            ),
            CRITICAL,
            "a.example, b.example not pointing here",
        ),
        (AaaaHealth(damaged="not JSON"), WARNING, "aaaa.json not JSON"),
    ],
)
def test_the_verdict(health: AaaaHealth | None, level: int, says: str) -> None:
    verdict = assess_aaaa(health, configured=True)
    assert verdict is not None and verdict.level == level
    assert says in verdict.text
    assert assess_aaaa(health, configured=False) is None  # no AAAA names configured: no line


class Host:
    """certv6 with a config naming AAAA records, as the timer runs it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.state = root / "state"
        key = root / "tsig.key"
        key.write_text(KEY)
        key.chmod(0o600)
        self.provider = f'[provider.rfc2136]\nkey_file = "{key}"\n'
        self.configure('aaaa_names = ["www.example.test"]\naaaa_interface = "lo"\n')

    def configure(self, top: str) -> None:
        head = f'state_dir = "{self.state}"\nresolvers = ["[::1]:9"]\n'
        (self.root / "certv6.toml").write_text(head + top + self.provider)

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CERTV6_")}
        argv = [CERTV6, "--config", str(self.root / "certv6.toml"), *args]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60, env=env)
        assert "Traceback" not in done.stderr, done.stderr
        return done

    def check(self) -> tuple[int, dict[str, object] | None]:
        done = self.run("list", "--check", "--json")
        return done.returncode, validated("list-check", done.stdout)["aaaa"]

    def recorded(self) -> AaaaHealth | None:
        return Store(self.state).aaaa_health.read()


def test_a_failing_timer_run_shows_in_list_and_list_check(tmp_path: Path) -> None:
    host = Host(tmp_path)
    listed = host.run("list")
    assert listed.returncode == 0 and "AAAA (certv6 aaaa): warning: certv6 aaaa has not run" in (
        listed.stdout
    )
    assert host.check()[0] == 1

    failed = host.run("aaaa", "--json")  # lo has no address fit for an AAAA record
    assert failed.returncode == 15, failed.stderr
    error = error_of(failed.stdout)
    assert (error["code"], error["exit"]) == ("no-host-address", 15)
    recorded = host.recorded()
    assert recorded is not None and not recorded.ok and recorded.exit_code == 15
    listed = host.run("list")
    assert "AAAA (certv6 aaaa): warning: certv6 aaaa failing since" in listed.stdout
    assert "  aaaa: hint: check aaaa_interface: lo has no address" in listed.stdout
    last = validated("list", host.run("list", "--json").stdout)["aaaa"]["last_run"]
    assert (last["ok"], last["exit_code"], last["failures"]) == (False, 15, 1)
    code, aaaa = host.check()
    assert code == 1 and aaaa is not None and aaaa["status"] == "warning"
    plugin = host.run("list", "--check").stdout.splitlines()
    assert plugin[0].startswith("CERTV6 WARNING - AAAA: certv6 aaaa failing since"), plugin
    assert plugin[1].startswith("AAAA: warning: certv6 aaaa failing since"), plugin

    # By hand, for other names, or --dry-run: the timer's record stays as it was.
    assert host.run("aaaa", "-d", "www.example.test").returncode == 15
    assert host.run("aaaa", "--dry-run").returncode == 15
    assert host.recorded() == recorded
    assert host.run("aaaa").returncode == 15  # the timer again
    again = host.recorded()
    assert again is not None and again.failures == 2 and again.failing_since == recorded.at


def test_a_bad_config_name_is_recorded_too(tmp_path: Path) -> None:
    host = Host(tmp_path)
    host.configure('aaaa_names = ["*.example.test"]\n')
    done = host.run("aaaa")
    assert done.returncode == 3, done.stderr
    code, aaaa = host.check()
    assert code == 1 and aaaa is not None and "not wildcards" in str(aaaa["summary"])


def test_a_damaged_record_is_found_and_repaired(tmp_path: Path) -> None:
    host = Host(tmp_path)
    host.state.mkdir()
    (host.state / "aaaa.json").write_text("{half")
    listed = host.run("list")
    assert listed.returncode == 9 and "aaaa.json not JSON" in listed.stdout
    found = host.run("check-store")
    assert found.returncode == 9 and "certv6 aaaa: aaaa.json not JSON" in found.stdout
    repaired = host.run("check-store", "--repair")
    assert "repaired: removed; the next certv6 aaaa writes it again" in repaired.stdout
    assert host.run("check-store").returncode == 0
    assert "has not run yet" in host.run("list").stdout


def test_a_record_from_before_the_config_named_no_aaaa_is_not_shown(tmp_path: Path) -> None:
    host = Host(tmp_path)
    assert host.run("aaaa").returncode == 15
    host.configure("")
    listed = host.run("list")
    assert listed.returncode == 0 and "AAAA" not in listed.stdout
    assert host.check() == (0, None)
    assert validated("list", host.run("list", "--json").stdout)["aaaa"] is None
