"""The hooks in hooks/ inside real ACME clients (Debian's certbot, lego, dehydrated, uacme).

Each client gets a wildcard plus base name certificate from Pebble while the
secondary nameserver lags: Pebble's resolver asks either nameserver, so
validation passes reliably only because the hook waited for both. The hook
logs its propagation summary (CERTV6_HOOK_VERBOSE), and "N rounds" with N >= 2
shows the first look found the secondary behind. Afterwards no TXT value is
left on either server and no hook journal is left in the state directory.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

pytestmark = pytest.mark.lab

ZONE = "certv6.test"
LAG = 3.0
HOOKS = Path(__file__).resolve().parents[2] / "hooks"
CERTV6 = str(Path(sys.executable).parent / "certv6")
SUMMARY = re.compile(
    r"(\d+)/(\d+) addresses of \d+ zones? serve (\d+) values; [\d.]+ s, (\d+) rounds"
)


@dataclass
class Setup:
    lab: Any
    directory: Path
    env: dict[str, str]

    @property
    def state(self) -> Path:
        return self.directory / "state"

    def run(
        self, argv: Sequence[str], env: Mapping[str, str] | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        done = self.lab.run_in_client(argv, env={**self.env, **(env or {})}, timeout=timeout)
        assert done.returncode == 0, (
            f"{argv[0]} exit {done.returncode}\n{done.stdout}\n{done.stderr}"
        )
        return done


@pytest.fixture
def setup(lab, tmp_path: Path) -> Setup:  # type: ignore[no-untyped-def]
    config = lab.write_certv6_config(tmp_path / "certv6.toml", state_dir=tmp_path / "state")
    env = {"CERTV6_CONFIG": str(config), "CERTV6_BIN": CERTV6, "CERTV6_HOOK_VERBOSE": "1"}
    return Setup(lab, tmp_path, env)


def check_outcome(setup: Setup, name: str, cert: Path, log: str) -> None:
    assert sans(cert) == {name, f"*.{name}"}
    waits = [tuple(map(int, found)) for found in SUMMARY.findall(log)]
    assert waits, f"no propagation summary from the hook in:\n{log[-3000:]}"
    # The hook came back with every address serving, after seeing the secondary behind.
    assert all(seen == total for seen, total, _, _ in waits), waits
    assert max(rounds for *_, rounds in waits) >= 2, waits
    assert txt_left(setup.lab, name) == set()
    assert list((setup.state / "ledger").glob("*.hookrun")) == []


def sans(cert: Path) -> set[str]:
    loaded = x509.load_pem_x509_certificate(cert.read_bytes())
    ext = loaded.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return set(ext.get_values_for_type(x509.DNSName))


def txt_left(lab, name: str) -> set[str]:  # type: ignore[no-untyped-def]
    lab.sync_secondary()
    owner = f"_acme-challenge.{name}."
    return lab.txt_at(lab.primary_addr, owner) | lab.txt_at(lab.secondary_addr, owner)


def certbot(lab, work: Path, name: str) -> list[str]:  # type: ignore[no-untyped-def]
    return [
        "certbot", "certonly", "--non-interactive", "--agree-tos",
        "--register-unsafely-without-email", "--server", lab.ca_directory,
        "--config-dir", str(work / "config"), "--work-dir", str(work / "work"),
        "--logs-dir", str(work / "logs"), "--key-type", "ecdsa",
        "--manual", "--preferred-challenges", "dns",
        "--manual-auth-hook", str(HOOKS / "certv6-certbot-auth"),
        "--manual-cleanup-hook", str(HOOKS / "certv6-certbot-cleanup"),
        "-d", name, "-d", f"*.{name}",
    ]  # fmt: skip


def test_certbot_publishes_once_and_waits_once(setup: Setup) -> None:
    lab, work, name = setup.lab, setup.directory / "certbot", f"certbot.{ZONE}"
    with lab.lagging(LAG):
        setup.run(certbot(lab, work, name), env={"REQUESTS_CA_BUNDLE": str(lab.ca_bundle)})
    log = (work / "logs" / "letsencrypt.log").read_text()
    check_outcome(setup, name, work / "config" / "live" / name / "cert.pem", log)
    # Both values went out in the last auth call, so exactly one wait covered both.
    assert [int(values) for *_, values, _ in SUMMARY.findall(log)] == [2]


def wait_for_published(state: Path, proc: subprocess.Popen[str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any('"publish"' in path.read_text() for path in (state / "ledger").glob("*.hookrun")):
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.1)
    raise AssertionError("the hook never published anything")


def test_a_killed_certbot_run_is_left_alone_while_alive_and_cleaned_by_the_next(
    setup: Setup,
) -> None:
    lab, work, name = setup.lab, setup.directory / "killed", f"killed.{ZONE}"
    cleanup = [CERTV6, "cleanup", "--stale"]
    with lab.lagging(60.0):  # the last auth hook waits (certbot with it) until killed
        proc = lab.popen_in_client(
            certbot(lab, work, name),
            env={**os.environ, **setup.env, "REQUESTS_CA_BUNDLE": str(lab.ca_bundle)},
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            wait_for_published(setup.state, proc)
            # certbot lives: its journal is not stale, even with no hook process holding it.
            assert "removed 0 stale" in setup.run(cleanup).stdout
            assert len(lab.txt_at(lab.primary_addr, f"_acme-challenge.{name}.")) == 2
        finally:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate(timeout=30)
    assert len(lab.txt_at(lab.primary_addr, f"_acme-challenge.{name}.")) == 2
    # The next certbot run's hook removes what the killed one left, then does its own job.
    bundle = {"REQUESTS_CA_BUNDLE": str(lab.ca_bundle)}
    setup.run(certbot(lab, setup.directory / "next", f"next.{ZONE}"), env=bundle)
    assert txt_left(lab, name) == set()
    assert list((setup.state / "ledger").glob("*.hookrun")) == []


@pytest.mark.parametrize("mode", ["", "RAW"])
def test_lego_exec_provider(setup: Setup, mode: str) -> None:
    lab, work = setup.lab, setup.directory / "lego"
    name = f"lego{mode.lower()}.{ZONE}"
    with lab.lagging(LAG):
        done = setup.run(
            [
                "lego", "--server", lab.ca_directory, "--email", "ops@certv6.test",
                "--accept-tos", "--path", str(work), "--key-type", "ec256",
                "--dns", "exec", "--dns.disable-cp",
                "--dns.resolvers", f"[{lab.client_resolver}]:53",
                "-d", name, "-d", f"*.{name}", "run",
            ],
            env={
                "LEGO_CA_CERTIFICATES": str(lab.ca_bundle),
                "EXEC_PATH": str(HOOKS / "certv6-lego"),
                "EXEC_MODE": mode,
                "EXEC_POLLING_INTERVAL": "1",
                "EXEC_PROPAGATION_TIMEOUT": "60",
                "EXEC_SEQUENCE_INTERVAL": "1",
            },
        )  # fmt: skip
    check_outcome(setup, name, work / "certificates" / f"{name}.crt", done.stdout + done.stderr)


@pytest.mark.parametrize("chain", ["no", "yes"])
def test_dehydrated_hook(setup: Setup, chain: str) -> None:
    lab, work = setup.lab, setup.directory / "dehydrated"
    name = f"dehydrated{'-chain' if chain == 'yes' else ''}.{ZONE}"
    work.mkdir()
    config = work / "config"
    config.write_text(
        f'CA="{lab.ca_directory_by_name}"\n'
        'CHALLENGETYPE="dns-01"\n'
        f'HOOK="{HOOKS / "certv6-dehydrated"}"\n'
        f'HOOK_CHAIN="{chain}"\n'
        f'BASEDIR="{work}"\n'
        'KEY_ALGO="prime256v1"\n'
        f'CURL_OPTS="--cacert {lab.ca_bundle}"\n'
    )
    setup.run(["dehydrated", "--config", str(config), "--register", "--accept-terms"])
    with lab.lagging(LAG):
        done = setup.run(
            ["dehydrated", "--config", str(config), "--cron", "-d", name, "-d", f"*.{name}"]
        )
    check_outcome(setup, name, work / "certs" / name / "cert.pem", done.stdout + done.stderr)


def test_uacme_hook(setup: Setup) -> None:
    lab, work, name = setup.lab, setup.directory / "uacme", f"uacme.{ZONE}"
    # uacme (libcurl-gnutls) has no CA option and reads the system store only: give it a
    # private mount namespace in which the system store is the lab's CA.
    trust = setup.directory / "trust"
    trust.mkdir()
    shutil.copy(lab.ca_bundle, trust / "ca-certificates.crt")
    uacme = [
        "unshare", "--mount", "--propagation", "private", "sh", "-c",
        'mount --bind "$0" /etc/ssl/certs/ca-certificates.crt && exec "$@"',
        str(trust / "ca-certificates.crt"),
        "uacme", "-v", "-a", lab.ca_directory, "-c", str(work), "-t", "EC",
    ]  # fmt: skip
    setup.run([*uacme, "-y", "new"])
    with lab.lagging(LAG):
        done = setup.run([*uacme, "-h", str(HOOKS / "certv6-uacme"), "issue", name, f"*.{name}"])
    check_outcome(setup, name, work / name / "cert.pem", done.stdout + done.stderr)
