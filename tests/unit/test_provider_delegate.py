"""certv6 delegate without the network (--no-verify): aliases, the key, the configuration."""

from __future__ import annotations

import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from certv6.errors import ConfigError
from certv6.providers.tsig import parse_key_file
from certv6.service.delegate import Delegation, DelegationRequest, delegate
from certv6.settings import Settings
from jsonschemas import validated


def run(settings: Settings, *domains: str, **kwargs: Any) -> Delegation:
    return delegate(
        settings,
        DelegationRequest(domains=domains, zone="acme.example.net", verify=False, **kwargs),
    )


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(state_dir=tmp_path / "state")


def test_aliases_share_an_owner_for_a_name_and_its_wildcard(settings: Settings) -> None:
    result = run(settings, "example.org", "*.example.org", "www.example.org")
    assert [alias.record for alias in result.aliases] == [
        "_acme-challenge.example.org. CNAME example.org.acme.example.net.",
        "_acme-challenge.www.example.org. CNAME www.example.org.acme.example.net.",
    ]
    assert result.aliases[0].names == ("example.org", "*.example.org")


def test_key_is_made_once_private_and_reused(settings: Settings) -> None:
    first = run(settings, "example.org")
    key_file = settings.state_dir / "keys" / "certv6.acme.example.net.key"
    assert first.key_file == key_file and first.key_created
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    knot = key_file.with_suffix(".knot.conf")
    assert stat.S_IMODE(knot.stat().st_mode) == 0o600
    key = parse_key_file(key_file.read_text(), "test")
    assert key.algorithm == "hmac-sha256" and len(key.secret) == 44  # 32 bytes, base64
    assert f"secret: {key.secret}" in knot.read_text()
    again = run(settings, "example.org", "other.example.org")
    assert not again.key_created
    assert parse_key_file(key_file.read_text(), "test") == key


def test_existing_key_file_of_another_key_is_refused(settings: Settings, tmp_path: Path) -> None:
    run(settings, "example.org", key_name="one.acme.example.net")
    path = settings.state_dir / "keys" / "one.acme.example.net.key"
    with pytest.raises(ConfigError, match=r"holds key 'one\.acme\.example\.net'"):
        run(settings, "example.org", key_name="two.acme.example.net", key_file=path)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"algorithm": "hmac-md5"}, "does not generate"),
        ({"key_name": "bad key"}, "invalid TSIG key name"),
    ],
)
def test_bad_key_requests(settings: Settings, kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        run(settings, "example.org", **kwargs)
    assert not (settings.state_dir / "keys").exists() or not any(
        (settings.state_dir / "keys").iterdir()
    )


def test_zone_must_be_a_plain_name(settings: Settings) -> None:
    with pytest.raises(ConfigError, match="cannot be a wildcard"):
        delegate(settings, DelegationRequest(("example.org",), "*.acme.example.net", verify=False))


def certv6(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "certv6", *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )


def test_cli_prints_everything_but_the_secret(tmp_path: Path) -> None:
    args = ("delegate", "example.org", "--to", "acme.example.net", "--state-dir", "state")
    done = certv6(tmp_path, *args, "--no-verify")
    assert done.returncode == 0, done.stderr
    secret = parse_key_file(
        (tmp_path / "state/keys/certv6.acme.example.net.key").read_text(), "t"
    ).secret
    assert "_acme-challenge.example.org. CNAME example.org.acme.example.net." in done.stdout
    assert "grant certv6.acme.example.net name example.org.acme.example.net. TXT;" in done.stdout
    assert "update-type: [TXT]" in done.stdout
    as_json = certv6(tmp_path, *args, "--no-verify", "--json")
    assert as_json.returncode == 0, as_json.stderr
    assert validated("delegate", as_json.stdout)["key"]["created"] is False
    for output in (done.stdout, done.stderr, as_json.stdout, as_json.stderr):
        assert secret not in output


def test_cli_bad_name_is_exit_3(tmp_path: Path) -> None:
    done = certv6(tmp_path, "delegate", "exa mple.org", "--to", "acme.example.net", "--no-verify")
    assert done.returncode == 3 and "Traceback" not in done.stderr


@pytest.mark.skipif(shutil.which("named-checkconf") is None, reason="bind9 is not installed")
def test_bind_configuration_is_accepted_by_named_checkconf(tmp_path: Path) -> None:
    args = ("delegate", "example.org", "www.example.org", "--to", "acme.example.net")
    done = certv6(tmp_path, *args, "--state-dir", "state", "--no-verify", "--json")
    named_conf = tmp_path / "named.conf"
    named_conf.write_text(validated("delegate", done.stdout)["bind"])
    checked = subprocess.run(["named-checkconf", str(named_conf)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
