"""certv6 renew without a CA: what is due, the run lock, broken lineages, exit codes.

Everything here stays off the network: the lineages are not due and their
renewal info is not due for a check, or the run stops before any CA is asked.
Renewals themselves are tested against Pebble in tests/integration/test_renew_lab.py.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pytest

from certv6.errors import ConfigError, LockBusy
from certv6.service.renew import LOCK_WAIT, RenewRequest, renew
from certv6.settings import Settings
from certv6.store import Store, hold_lock
from fakes import certv6_at, lineages
from fakes.clock import FakeClock
from jsonschemas import validated

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
DAY = dt.timedelta(days=1)
CERTV6 = str(Path(sys.executable).parent / "certv6")
CLOSED_CA = lineages.CLOSED_CA


def make_lineage(
    store: Store, name: str, *, age: dt.timedelta = 5 * DAY, ari: bool = True, meta: bool = True
) -> None:
    lineages.make_lineage(store, name, now=NOW, age=age, ari=ari, meta=meta)


def tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() if p.is_file() else b"<dir>"
        for p in sorted(root.rglob("*"))
    }


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "state").ensure()


def settings_for(store: Store, **extra: object) -> Settings:
    return Settings(server=CLOSED_CA, state_dir=store.root, **extra)  # type: ignore[arg-type]


def test_nothing_due_skips_everything_and_writes_nothing(store: Store) -> None:
    for name in ("a", "b", "c"):
        make_lineage(store, name)
    before = tree(store.root / "certificates")
    report = renew(settings_for(store), RenewRequest(), clock=FakeClock(NOW))
    assert [o.status for o in report.outcomes] == ["skipped"] * 3
    assert report.ok and report.summary() == "0 renewed, 3 skipped, 0 failed"
    assert "a third of the lifetime left" in report.outcomes[0].detail
    assert tree(store.root / "certificates") == before


def test_nothing_due_imports_no_acme_and_no_network_stack(store: Store) -> None:
    make_lineage(store, "quiet")
    script = (
        "import sys; from pathlib import Path\n"
        "from certv6.service.renew import RenewRequest, renew\n"
        "from certv6.settings import Settings\n"
        f"report = renew(Settings(state_dir=Path({str(store.root)!r})), RenewRequest())\n"
        "heavy = [m for m in ('acme', 'josepy', 'requests', 'cryptography') if m in sys.modules]\n"
        "print(report.summary(), heavy)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "0 renewed, 1 skipped, 0 failed []"


def test_a_second_run_waits_briefly_then_gives_up(store: Store) -> None:
    make_lineage(store, "busy")
    clock = FakeClock(NOW)
    with (
        hold_lock(store.lock_path("renew"), wait=0, clock=clock, what="test"),
        pytest.raises(LockBusy, match="certv6 renew is locked by another certv6 run"),
    ):
        renew(settings_for(store), RenewRequest(), clock=clock)
    assert sum(clock.sleeps) >= LOCK_WAIT


def test_unknown_name_is_a_config_error(store: Store) -> None:
    make_lineage(store, "known")
    with pytest.raises(ConfigError, match="no certificate named 'unknown'"):
        renew(settings_for(store), RenewRequest(names=("unknown",)), clock=FakeClock(NOW))


def test_name_selects_one_certificate(store: Store) -> None:
    make_lineage(store, "one")
    make_lineage(store, "two")
    report = renew(settings_for(store), RenewRequest(names=("two",)), clock=FakeClock(NOW))
    assert [o.name for o in report.outcomes] == ["two"]


def test_an_unreadable_lineage_fails_alone(store: Store) -> None:
    make_lineage(store, "good")
    make_lineage(store, "broken", meta=False)  # no meta.json facts and cert.pem is no PEM
    report = renew(settings_for(store), RenewRequest(), clock=FakeClock(NOW))
    by_name = {o.name: o for o in report.outcomes}
    assert by_name["good"].status == "skipped"
    assert by_name["broken"].status == "failed"
    assert "not a PEM certificate" in by_name["broken"].detail
    assert not report.ok and report.failed_names == ("broken",)


def test_dry_run_without_a_known_staging_ca_fails_and_leaves_the_store_alone(
    store: Store,
) -> None:
    make_lineage(store, "dry")
    before = tree(store.root)
    report = renew(settings_for(store), RenewRequest(dry_run=True), clock=FakeClock(NOW))
    (outcome,) = report.outcomes
    assert outcome.status == "failed" and "staging" in outcome.detail
    assert "staging_server" in outcome.hint
    assert report.dry_run and tree(store.root) == before


# --- the command line: exit codes and output ---------------------------------------------------


def run_cli(
    store: Store, *args: str, env: dict[str, str] | None = None, now: dt.datetime | None = None
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("CERTV6_")}
    certv6 = certv6_at.command(sys.executable, now) if now else [CERTV6]
    argv = [*certv6, "renew", "--state-dir", str(store.root), *args]
    return subprocess.run(
        argv, capture_output=True, text=True, timeout=60, env={**base, **(env or {})}
    )


def test_cli_nothing_due_exits_0_with_a_summary(store: Store) -> None:
    make_lineage(store, "www")
    done = run_cli(store)
    assert done.returncode == 0, done.stderr
    assert "skipped  www  due " in done.stdout
    assert done.stdout.strip().endswith("certv6 renew: 0 renewed, 1 skipped, 0 failed")


def test_cli_json_report(store: Store) -> None:
    make_lineage(store, "www")
    done = run_cli(store, "--json")
    assert done.returncode == 0, done.stderr
    report = validated("renew", done.stdout)
    assert report["ok"] is True
    assert report["certificates"][0]["status"] == "skipped"


def test_cli_failure_exits_12_and_names_it(store: Store) -> None:
    make_lineage(store, "good")
    make_lineage(store, "broken", meta=False)
    done = run_cli(store)
    assert done.returncode == 12
    assert "failed   broken" in done.stdout
    assert "certv6: error: 1 certificate(s) failed: broken" in done.stderr
    assert "Traceback" not in done.stderr


def test_cli_unknown_name_exits_3(store: Store) -> None:
    done = run_cli(store, "--name", "nope")
    assert done.returncode == 3
    assert "no certificate named 'nope'" in done.stderr and "hint:" in done.stderr


def test_cli_second_run_exits_11(store: Store) -> None:
    make_lineage(store, "www")
    clock = FakeClock(NOW)
    with hold_lock(store.lock_path("renew"), wait=0, clock=clock, what="test"):
        done = run_cli(store)
    assert done.returncode == 11
    assert "another certv6 run" in done.stderr and "Traceback" not in done.stderr


def test_cli_injected_clock_makes_a_certificate_due(store: Store) -> None:
    make_lineage(store, "www")
    # Due (expired at that time), so the run goes to the CA -- which is closed: it fails.
    done = run_cli(store, now=NOW + 100 * DAY)
    assert done.returncode == 12
    assert "failed   www" in done.stdout


def test_cli_reads_no_time_from_the_environment(store: Store) -> None:
    # The old test-only switch must not come back: "now" is injected, never read from env.
    make_lineage(store, "www")
    later = (NOW + 100 * DAY).isoformat()
    done = run_cli(store, env={"CERTV6_TEST_NOW": later, "CERTV6_NOW": later})
    assert done.returncode == 0, done.stderr
    assert "skipped  www" in done.stdout
