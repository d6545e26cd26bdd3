"""The certificate's life cycle without a CA (issue #13): owed installs retried, health,
``list --check``, metrics, ``issue`` kept when not due, ``delete``, the ledger's ``--forget``.

The CLI runs as a user runs it (a subprocess, a config file), at a moment chosen
with tests/fakes/certv6_at.py. Renewals themselves need Pebble: they are in
tests/integration/test_life_lab.py.
"""

from __future__ import annotations

import datetime as dt
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from install_support import make_material, pair_tag

from certv6.errors import ConfigError
from certv6.model import TxtRecord
from certv6.service.issue_policy import Existing, Reissue, check_existing
from certv6.store import Store
from fakes import certv6_at
from fakes.lineages import CLOSED_CA, DAY, make_lineage
from jsonschemas import validated

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
CERTV6 = str(Path(sys.executable).parent / "certv6")
KEEP = Reissue()
KEY = 'key "k" { algorithm hmac-sha256; secret "c2VjcmV0c2VjcmV0c2VjcmV0"; };\n'


class User:
    """certv6 with a config file and a state directory, as on a host."""

    def __init__(self, root: Path, extra: str = "") -> None:
        self.root = root
        self.store = Store(root / "state").ensure()
        key = root / "tsig.key"
        key.write_text(KEY)
        key.chmod(0o600)
        self.head = (
            f'server = "{CLOSED_CA}"\nstate_dir = "{self.store.root}"\nresolvers = ["[::1]:9"]\n'
        )
        self.provider = f'[provider.rfc2136]\nkey_file = "{key}"\n'
        self.configure(extra)

    def configure(self, tables: str = "", top: str = "") -> None:
        (self.root / "certv6.toml").write_text(self.head + top + self.provider + tables)

    def run(self, *args: str, now: dt.datetime | None = None) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CERTV6_")}
        certv6 = certv6_at.command(sys.executable, now) if now else [CERTV6]
        argv = [*certv6, "--config", str(self.root / "certv6.toml"), *args]
        return subprocess.run(argv, capture_output=True, text=True, timeout=60, env=env)


@pytest.fixture
def user(tmp_path: Path) -> User:
    return User(tmp_path)


def files_of(tag: str, domains: tuple[str, ...]) -> dict[str, bytes]:
    material = make_material(tag, domains)
    return {
        "privkey.pem": material.privkey,
        "cert.pem": material.cert,
        "chain.pem": material.chain,
        "fullchain.pem": material.fullchain,
    }


def files_table(root: Path, name: str = "www") -> str:
    return (
        f"[[certificate.{name}.install]]\n"
        'target = "files"\n'
        f'directory = "{root}/deploy/{name}"\n'
        f'cert = "{root}/app/{name}.crt"\n'
        f'key = "{root}/app/{name}.key"\n'
    )


# --- an install that fails is owed, reported and retried ------------------------------------------


def test_a_failed_install_is_retried_by_every_renew_until_it_works(user: User) -> None:
    domains = ("www.example",)
    make_lineage(user.store, "www", now=NOW, installed=False, files=files_of("v1", domains))
    user.configure(files_table(user.root))
    blocker = user.root / "deploy"
    blocker.write_text("a file where the install directory should be")

    first = user.run("renew", "--json")
    assert first.returncode == 12, first.stderr
    (www,) = validated("renew", first.stdout)["certificates"]
    assert www["status"] == "failed" and www["step"] == "install" and not www["renewed"]
    assert "installing failed" in www["problem"]
    listed = user.run("list")
    assert "install failed: files:" in listed.stdout or "install failed" in listed.stdout
    assert user.run("list", "--check").returncode == 1  # WARNING
    again = user.run("renew")  # still broken: still reported, still exit 12
    assert again.returncode == 12 and "failed   www  install of versions/0001" in again.stdout

    blocker.unlink()
    fixed = user.run("renew")
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert "installed www  installed versions/0001 (owed since" in fixed.stdout
    assert "0 renewed, 1 installed, 0 skipped, 0 failed" in fixed.stdout
    app = user.root / "app"
    assert pair_tag((app / "www.key").read_bytes(), (app / "www.crt").read_bytes()) == "v1"
    health = user.store.lineages.get("www").health()
    assert not health.install_owed
    assert health.install.targets[f"files {user.root}/deploy/www"].state == "done"  # type: ignore[union-attr]
    quiet = user.run("renew")  # nothing owed any more: nothing to do
    assert quiet.returncode == 0 and "0 renewed, 0 skipped" in quiet.stdout.replace(
        "1 skipped", "0 skipped"
    )
    assert user.run("list", "--check").returncode == 0


def test_install_name_finishes_what_is_owed(user: User) -> None:
    make_lineage(
        user.store, "www", now=NOW, installed=False, files=files_of("v1", ("www.example",))
    )
    user.configure(files_table(user.root))
    done = user.run("install", "--name", "www")
    assert done.returncode == 0, done.stderr
    assert not user.store.lineages.get("www").health().install_owed


# --- list --check: the monitoring plugin ---------------------------------------------------------


def check(user: User, *args: str, now: dt.datetime) -> tuple[int, str]:
    done = user.run("list", "--check", *args, now=now)
    return done.returncode, done.stdout


def test_check_follows_the_nagios_convention(user: User) -> None:
    make_lineage(user.store, "www", now=NOW)  # issued 5 days ago, 90 days valid
    code, out = check(user, now=NOW)
    assert code == 0 and out.startswith("CERTV6 OK - 1 certificate(s) ok |"), out
    code, out = check(user, now=NOW + 73 * DAY)  # 12 days left
    assert code == 1 and out.startswith("CERTV6 WARNING - www: expires in 12 days"), out
    code, out = check(user, now=NOW + 80 * DAY)  # 5 days left
    assert code == 2 and out.startswith("CERTV6 CRITICAL - www: expires in 5 days"), out
    code, out = check(user, now=NOW + 86 * DAY)
    assert code == 2 and "www: expired on" in out, out
    code, _ = check(user, "--warn-days", "30", now=NOW + 60 * DAY)  # 25 days left
    assert code == 1
    code, _ = check(user, "--warn-days", "3", "--critical-days", "1", now=NOW + 80 * DAY)
    assert code == 0


def test_check_scales_to_short_lived_certificates(user: User) -> None:
    make_lineage(user.store, "short", now=NOW, age=DAY, lifetime=6 * DAY)
    assert check(user, now=NOW)[0] == 0  # 5 days of 6 left: fine, not "within 14 days"
    assert check(user, now=NOW + 4 * DAY)[0] == 1  # a day left: renewal is 2 days late


def test_check_reports_revocation_failures_and_owed_installs(user: User) -> None:
    lineage = make_lineage(user.store, "www", now=NOW)
    serial = lineage.current().meta["serial"]
    lineage.update_health(lambda h: h.attempted(NOW, "rfc2136 present: REFUSED", 8))
    code, out = check(user, now=NOW)
    assert code == 1 and "renewal failing since" in out and "REFUSED" in out
    lineage.update_health(lambda h: h.revoked_now(serial, "keyCompromise", NOW))
    code, out = check(user, "--json", now=NOW)
    report = validated("list-check", out)
    assert code == 2 and report["status"] == "critical" and report["code"] == 2
    (www,) = report["certificates"]
    assert www["summary"].startswith("revoked (keyCompromise)")
    assert www["health"]["revoked"]["serial"] == serial


def test_check_is_unknown_when_certv6_itself_fails(user: User) -> None:
    (user.root / "certv6.toml").write_text("server = 42\n")
    done = user.run("list", "--check")
    assert done.returncode == 3 and done.stdout.startswith("CERTV6 UNKNOWN - "), done.stdout
    as_json = user.run("list", "--check", "--json")
    report = validated("list-check", as_json.stdout)  # the plugin's document, not an error
    assert as_json.returncode == report["code"] == 3 and report["status"] == "unknown"
    assert "server" in report["summary"] and report["certificates"] == []


def test_revoked_is_due_at_once(user: User) -> None:
    lineage = make_lineage(user.store, "www", now=NOW)
    serial = lineage.current().meta["serial"]
    lineage.update_health(lambda h: h.revoked_now(serial, "superseded", NOW))
    (www,) = validated("list", user.run("list", "--json").stdout)["certificates"]
    assert www["renewal_reason"] == "revoked (superseded)"
    assert www["next_renewal"] == NOW.isoformat()
    done = user.run("renew")  # due: it goes to the CA, which is closed here
    assert done.returncode == 12 and "failed   www" in done.stdout
    health = user.store.lineages.get("www").health()
    assert health.failures == 1 and health.attempt is not None and health.attempt.exit_code == 4


# --- metrics --------------------------------------------------------------------------------------


def test_renew_writes_prometheus_metrics_atomically(user: User) -> None:
    lineage = make_lineage(user.store, "www", now=NOW)
    lineage.update_health(lambda h: h.attempted(NOW, "no", 8).attempted(NOW, "no", 8))
    metrics = user.root / "textfile" / "certv6.prom"
    metrics.parent.mkdir()
    done = user.run("renew", "--metrics-file", str(metrics))
    assert done.returncode == 0, done.stderr
    text = metrics.read_text()
    not_after = dt.datetime.fromisoformat(lineage.current().meta["not_after"])
    assert (
        f'certv6_certificate_expiry_timestamp_seconds{{name="www"}} {not_after.timestamp():.0f}'
        in text
    )
    assert 'certv6_certificate_consecutive_failures{name="www"} 2' in text
    assert 'certv6_certificate_status{name="www"} 1' in text
    assert "certv6_renew_last_run_success 1" in text
    assert 'certv6_renew_certificates{status="skipped"} 1' in text
    assert stat.S_IMODE(metrics.stat().st_mode) == 0o644
    assert [p.name for p in metrics.parent.iterdir()] == ["certv6.prom"]  # no temp file left
    for line in text.splitlines():  # the exposition format: comments or "name{labels} value"
        assert line.startswith("# ") or float(line.rsplit(" ", 1)[1]) >= 0, line


def test_metrics_file_setting_and_a_failure_to_write_it(user: User) -> None:
    make_lineage(user.store, "www", now=NOW)
    user.configure(top=f'metrics_file = "{user.root}/absent/certv6.prom"\n')
    done = user.run("renew")
    assert done.returncode == 12
    assert "cannot write the metrics file" in done.stderr


# --- issue: kept when not due, names guarded ------------------------------------------------------


def test_issue_again_keeps_a_certificate_that_is_not_due(user: User) -> None:
    make_lineage(user.store, "www", now=NOW, domains=["www.example"])
    done = user.run("issue", "--name", "www", "-d", "www.example")
    assert done.returncode == 0, done.stderr
    assert "www: not due until" in done.stdout and "keeping it (--force to reissue)" in done.stdout
    assert [p.name for p in user.store.lineages.get("www").versions()] == ["0001"]
    as_json = validated(
        "issue", user.run("issue", "--json", "--name", "www", "-d", "www.example").stdout
    )
    assert as_json["kept"] is True and as_json["detail"].startswith("not due until")


def test_issue_names_are_guarded(user: User) -> None:
    make_lineage(user.store, "www", now=NOW, domains=["www.example"])
    changed = user.run("issue", "--name", "www", "-d", "www.example", "-d", "new.example")
    assert changed.returncode == 3
    assert "certificate 'www' has www.example; this request adds new.example" in changed.stderr
    assert "--expand" in changed.stderr
    twice = user.run("issue", "--name", "other", "-d", "www.example")
    assert twice.returncode == 3
    assert "certificate 'www' already has these names" in twice.stderr
    assert "--name www" in twice.stderr


def test_check_existing_decides_keep_reissue_or_refuse(tmp_path: Path) -> None:
    store = Store(tmp_path).ensure()
    make_lineage(store, "www", now=NOW, domains=["a.example", "b.example"], key_type="ec256")

    def ask(
        names: list[str],
        allowed: Reissue = KEEP,
        name: str = "www",
        key: str = "ec256",
        now: dt.datetime = NOW,
    ) -> Existing:
        return check_existing(store, name, names, key, allowed, now=now)

    assert ask(["b.example", "a.example"]).keep.startswith("not due until")
    assert ask(["a.example", "b.example"], Reissue(force=True)).keep == ""
    assert ask(["a.example", "b.example"], now=NOW + 70 * DAY).keep == ""  # due
    assert ask(["a.example", "b.example", "c.example"], Reissue(expand=True)).keep == ""
    with pytest.raises(ConfigError, match=r"drops b\.example"):
        ask(["a.example"], Reissue(expand=True))
    assert ask(["a.example"], Reissue(replace_names=True)).keep == ""
    assert ask(["a.example", "b.example"], name="rsa", key="rsa2048").current is None
    with pytest.raises(ConfigError, match="'www' already has these names"):
        ask(["a.example", "b.example"], name="other")
    assert ask(["new.example"], name="new").current is None


# --- delete ---------------------------------------------------------------------------------------


def test_delete_needs_yes_off_a_terminal_and_leaves_installed_files(user: User) -> None:
    make_lineage(user.store, "www", now=NOW)
    user.configure(files_table(user.root))
    refused = user.run("delete", "--name", "www")
    assert refused.returncode == 2 and "--yes" in refused.stderr
    assert user.store.lineages.get("www").directory.exists()
    done = user.run("delete", "--name", "www", "--yes")
    assert done.returncode == 0, done.stderr
    assert f"www: left in place: {user.root}/deploy/www" in done.stdout
    assert not user.store.lineages.get("www").directory.exists()
    assert "no certificates yet" in user.run("list").stdout
    missing = user.run("delete", "--name", "www", "--yes")
    assert missing.returncode == 3 and "no certificate named 'www'" in missing.stderr
    make_lineage(user.store, "api", now=NOW)
    as_json = user.run("delete", "--cert-name", "api", "--yes", "--json")  # certbot's spelling
    deleted = validated("delete", as_json.stdout)
    assert as_json.returncode == 0 and deleted["name"] == "api"
    assert deleted["directory"] == str(user.store.lineages.get("api").directory)
    assert not user.store.lineages.get("api").directory.exists()


# --- the ledger: --forget ------------------------------------------------------------------------


def stale_entry(store: Store, *values: str) -> None:
    records = [TxtRecord("_acme-challenge.www.example.", value) for value in values]
    with store.ledger.recording("rfc2136", "www", records):
        pass  # the run that held it is gone: stale from now on


def test_cleanup_forget_drops_values_removed_by_hand(user: User) -> None:
    stale_entry(user.store, "removed-by-hand", "also-by-hand")
    stale_entry(user.store, "third")
    one = user.run("cleanup", "--stale", "--forget", "removed-by-hand", "--forget", "also-by-hand")
    # "third" is still there, and no nameserver answers here: it stays, and says where.
    assert one.returncode == 8, one.stdout + one.stderr
    assert "dropped 2 from the ledger" in one.stdout
    assert (
        "not removed: 1 value(s) at _acme-challenge.www.example. (provider rfc2136)" in one.stdout
    )
    everything = user.run("cleanup", "--stale", "--all", "--json")
    assert everything.returncode == 0, everything.stderr
    assert validated("cleanup", everything.stdout) == {
        "version": 1,
        "ok": True,
        "removed": 0,
        "failed": 0,
        "forgotten": 1,
        "left": [],
    }
    assert list((user.store.root / "ledger").glob("*.json")) == []
