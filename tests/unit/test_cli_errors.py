"""User mistakes: a clear message, a fixed exit code, no traceback, nothing written."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from jsonschemas import validated


def certv6(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "certv6", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "HOME": str(cwd)},
    )


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    key = tmp_path / "tsig.key"
    key.write_text('key "k" { algorithm hmac-sha256; secret "c2VjcmV0c2VjcmV0"; };\n')
    key.chmod(0o600)
    (tmp_path / "ok.toml").write_text(
        'server = "https://[::1]:1/dir"\nagree_tos = true\nstate_dir = "state"\n'
        'resolvers = ["[::1]:1"]\n[provider.rfc2136]\nkey_file = "tsig.key"\n'
    )
    return tmp_path


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["issue", "-d", "*.*.example.org"], 3, "wildcard may only be"),
        (["issue", "-d", "192.0.2.1"], 3, "IP address"),
        (["issue", "-d", "example.org", "--provider", "nope"], 3, "unknown provider 'nope'"),
        (["issue", "-d", "example.org", "--name", "../evil"], 3, "invalid certificate name"),
        (["issue", "-d", "example.org", "--server", "http://ca.example/dir"], 3, "https://"),
        (["issue", "-d", "example.org"], 4, "the CA at [::1] refused the connection"),
        (["issue", "-d", "example.org", "--key-type", "dsa"], 2, "Invalid value"),
        (["issue"], 2, "Missing option"),
        (["aaaa", "--watch", "--dry-run"], 2, "do not go together"),
        (["aaaa", "-d", "www.example.org", "--token", "2001:db8::1"], 3, "low 64 bits"),
        (["aaaa", "-d", "*.example.org"], 3, "not wildcards"),
        (["aaaa", "-d", "www.example.org", "--provider", "acme-dns"], 3, "needs the option"),
        (["aaaa", "--name", "nope"], 3, "no certificate named 'nope'"),
    ],
)
def test_mistakes(workdir: Path, args: list[str], code: int, message: str) -> None:
    done = certv6("--config", "ok.toml", *args, cwd=workdir)
    assert done.returncode == code, done.stderr
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert not (workdir / "state" / "certificates").exists()


def test_missing_config_file(workdir: Path) -> None:
    done = certv6("--config", "absent.toml", "list", cwd=workdir)
    assert done.returncode == 3 and "cannot read config" in done.stderr
    assert "hint:" in done.stderr


def test_missing_key_file(workdir: Path) -> None:
    (workdir / "tsig.key").unlink()
    done = certv6("--config", "ok.toml", "issue", "-d", "example.org", cwd=workdir)
    assert done.returncode == 3 and "cannot read TSIG key file" in done.stderr


def test_world_readable_key_file_is_refused_without_showing_it(workdir: Path) -> None:
    (workdir / "tsig.key").chmod(0o644)
    done = certv6("--config", "ok.toml", "issue", "-d", "example.org", cwd=workdir)
    assert done.returncode == 3 and "readable by other users" in done.stderr
    assert "c2VjcmV0" not in done.stderr + done.stdout


def test_debug_shows_the_traceback(workdir: Path) -> None:
    done = certv6("--debug", "--config", "ok.toml", "issue", "-d", "example.org", cwd=workdir)
    assert done.returncode == 4 and "Traceback" in done.stderr


def test_list_when_empty(workdir: Path) -> None:
    done = certv6("--config", "ok.toml", "list", "--json", cwd=workdir)
    assert done.returncode == 0 and validated("list", done.stdout)["certificates"] == []


def test_insecure_secrets_flag_accepts_a_world_readable_key_file(workdir: Path) -> None:
    (workdir / "tsig.key").chmod(0o644)
    done = certv6(
        "--insecure-secrets", "--config", "ok.toml", "issue", "-d", "example.org", cwd=workdir
    )
    # Past the key file check: it now fails only because the CA at [::1]:1 is not there.
    assert done.returncode == 4 and "the CA at [::1] refused the connection" in done.stderr


def test_aaaa_with_nothing_to_follow_says_so_and_succeeds(workdir: Path) -> None:
    done = certv6("--config", "ok.toml", "aaaa", cwd=workdir)
    assert done.returncode == 0, done.stderr
    assert "no names to follow: set aaaa_names" in done.stdout
    assert not (workdir / "state").exists()
