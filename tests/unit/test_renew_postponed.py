"""A renewal the CA asked to wait for (issue #19): postponed, not failed, and never hidden.

The lineages here are due, and their health says the CA rate-limited them until a
moment still ahead: ``certv6 renew`` does not ask the CA (it is closed: any request
would fail the test), reports them as postponed and exits 16; ``list`` warns and the
metrics carry the time. Rate limits from a real CA are in tests/integration.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import pytest
from test_renewal_service import DAY, NOW, make_lineage, run_cli

from certv6 import renewal
from certv6.acme_client.convert import problem_to_error
from certv6.acme_client.reply import Problem, Reply
from certv6.errors import RenewPostponed
from certv6.renewal import parse_time
from certv6.service.renew import RenewRequest, renew
from certv6.service.renew.report import POSTPONED
from certv6.settings import Settings
from certv6.store import Health, Store
from fakes import certv6_at
from fakes.clock import FakeClock
from jsonschemas import validated

LATER = NOW + 60 * DAY  # make_lineage's certificates are due then (25 days left)
UNTIL = LATER + dt.timedelta(hours=3)
REASON = "the CA rate-limited it (creating the order: too many new orders recently)"


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "state").ensure()


def postpone(store: Store, name: str, until: dt.datetime = UNTIL) -> None:
    """The CA rate-limited it at LATER; it also said then that it offers no renewal info."""
    lineage = store.lineages.get(name)
    lineage.record(lambda health: health.postponed_until(until, REASON, LATER))
    meta = lineage.current().meta
    certificate = renewal.Certificate(
        str(meta["serial"]), parse_time(meta["not_before"]), parse_time(meta["not_after"])
    )
    lineage.save_ari_state(renewal.not_offered(certificate, now=LATER).to_json())


def test_a_postponed_lineage_is_reported_and_the_ca_is_not_asked(store: Store) -> None:
    make_lineage(store, "limited")
    postpone(store, "limited")
    settings = Settings(server="https://[::1]:9/dir", state_dir=store.root)
    report = renew(settings, RenewRequest(), clock=FakeClock(LATER))
    (limited,) = report.outcomes
    assert limited.status == POSTPONED and limited.ok
    assert limited.when == UNTIL
    assert f"postponed until {UNTIL:%Y-%m-%d %H:%M} UTC" in limited.detail
    assert report.ok and not report.complete and report.postponed == ("limited",)
    assert report.summary() == "0 renewed, 0 skipped, 0 failed, 1 postponed"


def test_cli_exits_16_and_says_why_even_with_quiet(store: Store) -> None:
    make_lineage(store, "limited")
    postpone(store, "limited")
    done = run_cli(store, now=LATER)
    assert done.returncode == 16, done.stderr
    assert "postponed limited  postponed until" in done.stdout
    assert "certv6: error: 1 certificate(s) postponed at the CA's request: limited" in done.stderr
    quiet = certv6(store, "--quiet", "renew")
    assert quiet.returncode == 16
    assert "postponed limited" in quiet.stdout and "1 postponed" in quiet.stdout


def certv6(store: Store, *argv: str) -> subprocess.CompletedProcess[str]:
    """certv6 at LATER, with global options first (``--quiet``), then the command."""
    command = [*certv6_at.command(sys.executable, LATER), *argv, "--state-dir", str(store.root)]
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


def test_a_failure_beside_a_postponement_exits_12(store: Store) -> None:
    make_lineage(store, "limited")
    make_lineage(store, "broken", meta=False)
    postpone(store, "limited")
    done = run_cli(store, "--json", now=LATER)
    assert done.returncode == 12
    report = validated("renew", done.stdout)
    assert report["counts"]["postponed"] == 1 and report["counts"]["failed"] == 1
    assert report["ok"] is False and report["complete"] is False


def test_once_the_time_has_passed_it_is_due_again(store: Store) -> None:
    make_lineage(store, "limited")
    postpone(store, "limited")
    # After UNTIL it is due: the run goes to the CA, which is closed here: a failure.
    done = run_cli(store, now=UNTIL + dt.timedelta(minutes=1))
    assert done.returncode == 12
    assert "failed   limited" in done.stdout
    health = Store(store.root).lineages.get("limited").health()
    assert health.postponed is None  # the attempt that failed is the news now
    assert health.failures == 1


def test_list_warns_and_the_metrics_carry_the_time(store: Store, tmp_path: Path) -> None:
    make_lineage(store, "limited")
    postpone(store, "limited")
    metrics = tmp_path / "certv6.prom"
    run_cli(store, "--metrics-file", str(metrics), now=LATER)
    text = metrics.read_text()
    line = 'certv6_certificate_postponed_until_timestamp_seconds{name="limited"} '
    assert f"{line}{UNTIL.timestamp():.0f}" in text
    assert "certv6_renew_last_run_success 0" in text
    assert 'certv6_renew_certificates{status="postponed"} 1' in text
    assert 'certv6_certificate_status{name="limited"} 1' in text
    listing = certv6(store, "list", "--json")
    assert listing.returncode == 0, listing.stderr
    (summary,) = validated("list", listing.stdout)["certificates"]
    assert summary["health"]["postponed"]["until"] == UNTIL.isoformat(timespec="seconds")
    assert summary["status"] == "warning"
    assert summary["next_renewal"] == UNTIL.isoformat(timespec="seconds")
    assert "renewal postponed until" in summary["summary"]


def test_health_keeps_the_postponement_across_reads(store: Store) -> None:
    health = Health().postponed_until(UNTIL, REASON, LATER)
    again = Health.from_json(json.loads(json.dumps(health.to_json())))
    assert again.postponed == health.postponed
    assert again.postponed_at(LATER) is not None and again.postponed_at(UNTIL) is None
    assert again.attempted(LATER).postponed is None
    # A file written before postponements existed reads as none.
    old = {key: value for key, value in health.to_json().items() if key != "postponed"}
    assert Health.from_json(old).postponed is None


def test_a_rate_limit_keeps_the_cas_retry_after() -> None:
    body = json.dumps(
        {"type": "urn:ietf:params:acme:error:rateLimited", "detail": "too many new orders"}
    ).encode()
    reply = Reply.of(429, {"Retry-After": "7200"}, body, "https://ca.example/new-order")
    error = problem_to_error("creating the order", Problem(reply))
    assert error.code == "rateLimited"
    assert error.retry_after == dt.timedelta(hours=2)
    assert error.exit_code == 4 and RenewPostponed("x").exit_code == 16
