"""A certificate's whole life, unattended (issue #13): issuance, install into five real
servers, three renewals, an install that fails and recovers, a revocation and its
replacement -- with ``list``, ``list --check``, the metrics file and ``renew``'s
summary checked at every step.

Everything is real: Pebble, BIND9, and nginx, Apache, HAProxy, Postfix (SMTP
STARTTLS) and Dovecot (IMAP STARTTLS) from Debian in the IPv6-only client
namespace. certv6 runs at moments chosen with tests/fakes/certv6_at.py (its
clock only; the servers and the CA live in real time).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from nginx_lab import HAProxy, Nginx, Server, leaf_der, snakeoil
from servers_lab import Apache, Dovecot, Postfix

from fakes import certv6_at
from jsonschemas import validated

pytestmark = pytest.mark.lab

NAME = "life"
DOMAIN = f"{NAME}.certv6.test"


@dataclass
class Life:
    """certv6 with five servers configured for one certificate."""

    lab: Any
    root: Path
    servers: dict[str, Server] = field(default_factory=dict)

    @property
    def config(self) -> Path:
        return self.root / "certv6.toml"

    @property
    def state(self) -> Path:
        return self.root / "state"

    @property
    def metrics(self) -> Path:
        return self.root / "metrics" / "certv6.prom"

    @property
    def deployed(self) -> Path:
        return self.root / "deploy-hook.log"

    def directory(self, target: str) -> Path:
        return self.root / "tls" / target

    def configure(self, *, commands: bool) -> None:
        """Install tables for the five servers; ``commands`` False: write the files only."""
        tables = [
            f'metrics_file = "{self.metrics}"',
            f"deploy_hook = {json.dumps(f'echo $RENEWED_LINEAGE >> {self.deployed}')}",
            "",
        ]
        starttls = {"postfix": "smtp", "dovecot": "imap"}
        for target, server in self.servers.items():
            tables += [f"[[certificate.{NAME}.install]]", f'target = "{target}"']
            tables.append(f'directory = "{self.directory(target)}"')
            if not commands:
                tables += ["config_test = false", "reload = false", ""]
                continue
            tables.append(f"config_test = {json.dumps(server.config_test)}")
            tables.append(f"reload = {json.dumps(server.reload)}")
            tables.append(f'verify = "{server.endpoint}"')
            tables.append("verify_timeout = 10")
            if target in starttls:
                tables.append(f'starttls = "{starttls[target]}"')
            tables.append("")
        top, rest = "\n".join(tables[:3]), "\n".join(tables[3:])
        self.lab.write_certv6_config(self.config, state_dir=self.state, extra="")
        text = self.config.read_text().replace("[provider.rfc2136]", f"{top}\n[provider.rfc2136]")
        self.config.write_text(text + "\n" + rest)

    def run(self, *args: str, now: dt.datetime) -> subprocess.CompletedProcess[str]:
        argv = [*certv6_at.command(sys.executable, now), "--config", str(self.config), *args]
        return self.lab.run_in_client(argv, timeout=300)

    def meta(self) -> dict[str, Any]:
        current = self.state / "certificates" / NAME / "current" / "meta.json"
        return dict(json.loads(current.read_text()))

    def leaf(self) -> bytes:
        return leaf_der((self.state / "certificates" / NAME / "current" / "cert.pem").read_bytes())

    def renew_at(self) -> dt.datetime:
        """When certv6 renews the current certificate (a third of its lifetime left).

        Pebble issues in real time, so each new certificate comes due a few real
        seconds after the one it replaced: a renewal runs just after this moment,
        and a step that must find nothing due runs just before the new one's.
        """
        meta = self.meta()
        start = dt.datetime.fromisoformat(meta["not_before"])
        end = dt.datetime.fromisoformat(meta["not_after"])
        return end - (end - start) / 3

    def due(self) -> dt.datetime:
        return self.renew_at() + dt.timedelta(seconds=1)

    def not_due(self) -> dt.datetime:
        return self.renew_at() - dt.timedelta(seconds=1)

    def served(self) -> dict[str, bytes]:
        return {target: server.served_der(DOMAIN) for target, server in self.servers.items()}

    def list_health(self, now: dt.datetime) -> dict[str, Any]:
        done = self.run("list", "--json", now=now)
        assert done.returncode == 0, done.stderr
        (entry,) = validated("list", done.stdout)["certificates"]
        return dict(entry)

    def check(self, now: dt.datetime) -> tuple[int, str]:
        done = self.run("list", "--check", now=now)
        return done.returncode, done.stdout

    def metric(self, name: str) -> float:
        for line in self.metrics.read_text().splitlines():
            if line.startswith(name) and not line.startswith("#"):
                return float(line.rsplit(" ", 1)[1])
        raise AssertionError(f"{name} not in {self.metrics}")

    def renew(self, now: dt.datetime, summary: str, code: int = 0) -> dict[str, Any]:
        done = self.run("renew", "--json", now=now)
        assert done.returncode == code, done.stdout + done.stderr
        report = validated("renew", done.stdout)
        assert report["summary"] == summary, report
        assert "Traceback" not in done.stderr
        return report


@pytest.fixture
def life(lab: Any, tmp_path: Path) -> Iterator[Life]:
    state = Life(lab, tmp_path)
    state.metrics.parent.mkdir()
    nginx = Nginx(lab, tmp_path / "nginx")
    cert, key = snakeoil(nginx.directory)
    nginx.write_site(
        "server {\n"
        f"    {nginx.listen().replace(' ssl;', ' ssl default_server;')}\n"
        f"    ssl_certificate {cert};\n    ssl_certificate_key {key};\n"
        "    return 200 'default';\n}\n"
        "server {\n"
        f"    {nginx.listen()}\n    server_name {DOMAIN};\n"
        f"    include {state.directory('nginx')}/nginx.conf;\n"
        "    return 200 'ok';\n}\n"
    )
    tls = state.directory
    state.servers = {
        "nginx": nginx,
        "apache": Apache(lab, tmp_path / "apache", DOMAIN, tls("apache") / "apache.conf"),
        "haproxy": HAProxy(lab, tmp_path / "haproxy", crt=tls("haproxy") / "live/combined.pem"),
        "postfix": Postfix(lab, tmp_path / "postfix", tls("postfix") / "live"),
        "dovecot": Dovecot(lab, tmp_path / "dovecot", tls("dovecot") / "dovecot.conf"),
    }
    try:
        yield state
    finally:
        for server in state.servers.values():
            server.stop()


def test_a_certificate_lives_and_nothing_fails_silently(life: Life) -> None:
    t0 = dt.datetime.now(dt.UTC)
    # --- issuance: the files first, then the servers are started on them -----------------------
    life.configure(commands=False)
    issued = life.run("issue", "--name", NAME, "-d", DOMAIN, now=t0)
    assert issued.returncode == 0, issued.stderr
    for server in life.servers.values():
        server.run()  # type: ignore[attr-defined]
    life.configure(commands=True)
    installed = life.run("install", "--name", NAME, "--json", now=t0)
    assert installed.returncode == 0, installed.stderr
    targets = validated("install", installed.stdout)["targets"]
    assert sorted(t["target"] for t in targets) == sorted(life.servers)
    assert all(t["verified"] for t in targets), targets
    first = life.leaf()
    assert set(life.served().values()) == {first}
    report = life.renew(t0, "0 renewed, 1 skipped, 0 failed")
    assert report["certificates"][0]["status"] == "skipped"
    assert life.list_health(t0)["status"] == "ok"
    assert life.check(t0)[0] == 0
    assert life.metric("certv6_certificate_status") == 0
    assert life.metric("certv6_certificate_expiry_timestamp_seconds") == pytest.approx(
        dt.datetime.fromisoformat(life.meta()["not_after"]).timestamp(), abs=1
    )

    # --- renewal 1: every server gets the new certificate; the deploy hook runs once ----------
    t1 = life.due()
    report = life.renew(t1, "1 renewed, 0 skipped, 0 failed")
    second = life.leaf()
    assert second != first
    assert {t: d == second for t, d in life.served().items()} == dict.fromkeys(life.servers, True)
    assert life.deployed.read_text().splitlines() == [f"{life.state}/certificates/{NAME}/current"]
    t1 = life.not_due()
    assert life.list_health(t1)["summary"] == "ok" and life.check(t1)[0] == 0
    assert life.metric("certv6_renew_last_run_success") == 1
    assert life.metric("certv6_certificate_last_success_timestamp_seconds") == pytest.approx(
        t1.timestamp(), abs=300
    )

    # --- renewal 2: nginx's config is broken; its install fails, the others go ahead ----------
    nginx = life.servers["nginx"]
    assert isinstance(nginx, Nginx)
    site = nginx.site.read_text()
    nginx.write_site(site.replace("return 200 'ok';", "include /nonexistent/broken.conf;"))
    t2 = life.due()
    report = life.renew(t2, "0 renewed, 0 skipped, 1 failed", code=12)
    (outcome,) = report["certificates"]
    assert outcome["status"] == "failed" and outcome["renewed"] is True
    assert outcome["step"] == "install" and "nginx" in outcome["problem"], outcome
    third = life.leaf()
    served = life.served()
    assert served["nginx"] == second  # rolled back, still serving the previous one
    assert {served[t] for t in ("apache", "haproxy", "postfix", "dovecot")} == {third}
    health = life.list_health(t2)
    assert health["status"] == "warning" and "install failed: nginx" in health["summary"]
    code, out = life.check(t2)
    assert code == 1 and out.startswith("CERTV6 WARNING - life: install failed: nginx"), out
    assert life.metric("certv6_certificate_install_owed") == 1
    assert life.metric("certv6_renew_last_run_success") == 0
    assert len(life.deployed.read_text().splitlines()) == 1  # owed, not run

    # ... the config is fixed; the next run installs what is owed, and runs the deploy hook
    nginx.write_site(site)
    t2b = life.not_due()
    report = life.renew(t2b, "0 renewed, 1 installed, 0 skipped, 0 failed")
    assert report["certificates"][0]["status"] == "installed"
    assert set(life.served().values()) == {third}
    assert len(life.deployed.read_text().splitlines()) == 2
    assert life.list_health(t2b)["status"] == "ok" and life.check(t2b)[0] == 0
    assert life.metric("certv6_certificate_install_owed") == 0
    assert life.metric("certv6_renew_last_run_success") == 1

    # --- renewal 3 -----------------------------------------------------------------------------
    t3 = life.due()
    life.renew(t3, "1 renewed, 0 skipped, 0 failed")
    fourth = life.leaf()
    assert set(life.served().values()) == {fourth} and fourth != third
    assert life.metric("certv6_renew_last_run_success") == 1
    assert life.metric("certv6_certificate_consecutive_failures") == 0

    # --- revocation: recorded, loud, and replaced by the next run ------------------------------
    t4 = life.not_due() - dt.timedelta(seconds=1)
    revoked = life.run("revoke", "--name", NAME, "--reason", "superseded", now=t4)
    assert revoked.returncode == 0, revoked.stderr
    assert "the next certv6 renew replaces it" in revoked.stdout
    health = life.list_health(t4)
    assert health["status"] == "critical" and health["renewal_reason"] == "revoked (superseded)"
    code, out = life.check(t4)
    assert code == 2 and "life: revoked (superseded)" in out
    t5 = life.not_due()  # not due but for the revocation
    report = life.renew(t5, "1 renewed, 0 skipped, 0 failed")
    fifth = life.leaf()
    assert fifth != fourth and set(life.served().values()) == {fifth}
    assert life.list_health(t5)["status"] == "ok" and life.check(t5)[0] == 0
    assert life.metric("certv6_certificate_revoked") == 0
    assert len(life.deployed.read_text().splitlines()) == 4
    versions = sorted(p.name for p in (life.state / "certificates" / NAME / "versions").iterdir())
    assert versions == ["0001", "0002", "0003", "0004", "0005"]
    assert not os.listdir(life.state / "ledger")  # every TXT value removed
