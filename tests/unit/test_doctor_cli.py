"""`certv6 doctor` and `--allow-ipv4` from the command line, on a host with no network at all.

``unshare --net`` gives the run an empty network namespace (loopback down, no IPv6,
no IPv4): the worst host doctor can meet. Nothing can leave it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from certv6.cli.app import Options
from jsonschemas import validated

UNSHARE = shutil.which("unshare")
needs_netns = pytest.mark.skipif(
    UNSHARE is None or os.geteuid() != 0, reason="needs root and unshare for an empty netns"
)


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    key = tmp_path / "tsig.key"
    key.write_text('key "k" { algorithm hmac-sha256; secret "c2VjcmV0c2VjcmV0"; };\n')
    key.chmod(0o600)
    (tmp_path / "ok.toml").write_text(
        'server = "https://[2001:db8::ca]/dir"\nstate_dir = "state"\n'
        'resolvers = ["[2001:db8::53]:53"]\n[provider.rfc2136]\nkey_file = "tsig.key"\n'
    )
    return tmp_path


def certv6_offline(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    assert UNSHARE is not None
    return subprocess.run(
        [UNSHARE, "--net", "--", sys.executable, "-m", "certv6", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "HOME": str(cwd)},
    )


def test_allow_ipv4_reaches_the_settings(workdir: Path) -> None:
    assert Options(workdir / "ok.toml", False, False).settings().allow_ipv4 is False
    assert Options(workdir / "ok.toml", False, False, True).settings().allow_ipv4 is True


@needs_netns
def test_doctor_on_a_host_without_any_network(workdir: Path) -> None:
    done = certv6_offline("--config", "ok.toml", "doctor", "-d", "www.example.org", cwd=workdir)
    assert done.returncode == 13, done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split() == ["STATUS", "SECTION", "CHECK", "RESULT"]
    assert any(line.startswith("fail") and "no global IPv6 address" in line for line in lines), (
        done.stdout
    )
    assert any("[2001:db8::53]:53 does not answer" in line for line in lines)
    assert any("this host has no usable IPv6 address" in line for line in lines)
    assert lines[-1].startswith("doctor: ") and lines[-1].endswith("problems found")
    assert "certv6: error: " in done.stderr and "check(s) failed" in done.stderr
    assert not (workdir / "state").exists()  # doctor writes nothing


@needs_netns
def test_doctor_json_keeps_stdout_clean(workdir: Path) -> None:
    done = certv6_offline("--config", "ok.toml", "doctor", "--json", cwd=workdir)
    assert done.returncode == 13
    report = validated("doctor", done.stdout)
    assert report["version"] == 1 and report["ok"] is False
    assert report["notes"] == ["no names given: pass -d NAME (or --name CERT) to check them"]


@needs_netns
def test_allow_ipv4_changes_what_is_tried(workdir: Path) -> None:
    config = workdir / "ok.toml"
    config.write_text(config.read_text().replace("[2001:db8::ca]", "192.0.2.1"))
    strict = certv6_offline("--config", "ok.toml", "issue", "-d", "www.example.org", cwd=workdir)
    assert strict.returncode == 4
    assert "certv6: error: 192.0.2.1 has no IPv6 address" in strict.stderr
    allowed = certv6_offline(
        "--allow-ipv4", "--config", "ok.toml", "issue", "-d", "www.example.org", cwd=workdir
    )
    assert allowed.returncode == 4
    assert "has no IPv6 address" not in allowed.stderr  # IPv4 was tried (and found no route)
    assert "192.0.2.1" in allowed.stderr


@needs_netns
def test_doctor_names_a_damaged_account_key(workdir: Path) -> None:
    from certv6.store import Store

    account = Store(workdir / "state").ensure().account("https://[2001:db8::ca]/dir")
    account.write_key(b"-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49")  # truncated
    done = certv6_offline("--config", "ok.toml", "doctor", "--json", cwd=workdir)
    report = validated("doctor", done.stdout)
    (found,) = [f for f in report["checks"] if f["check"] == "account"]
    assert found["status"] == "fail" and "truncated or overwritten" in found["message"]
    assert f"remove {account.directory}" in found["fix"]
