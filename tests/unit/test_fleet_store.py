"""The fleet store's pure parts: sealing, endpoint rules, etcd key ranges, [store] settings.

The etcd backend itself runs against a real etcd cluster in tests/integration/test_fleet_lab.py.
"""

from __future__ import annotations

import base64
import secrets
from pathlib import Path

import pytest

from certv6 import etcdnet
from certv6.errors import ConfigError, StoreError
from certv6.settings import load_settings
from certv6.store.sealing import Sealer


def _key_file(tmp_path: Path, name: str = "fleet.key", mode: int = 0o600) -> Path:
    path = tmp_path / name
    path.write_text(base64.b64encode(secrets.token_bytes(32)).decode() + "\n")
    path.chmod(mode)
    return path


def test_a_sealed_key_opens_only_in_its_place_and_with_its_fleet_key(tmp_path: Path) -> None:
    sealer = Sealer.from_file(_key_file(tmp_path), encrypt=True, allow_insecure=False)
    box = sealer.seal(b"-----BEGIN PRIVATE KEY-----", "/certv6/versions/www/0001/privkey.pem")
    assert b"PRIVATE" not in base64.b64decode(box["data"])
    assert sealer.open(box, "/certv6/versions/www/0001/privkey.pem").startswith(b"-----BEGIN")
    with pytest.raises(StoreError, match="does not open"):
        sealer.open(box, "/certv6/versions/mail/0001/privkey.pem")  # moved to another lineage
    other = Sealer.from_file(_key_file(tmp_path, "other.key"), encrypt=True, allow_insecure=False)
    with pytest.raises(ConfigError, match="sealed with fleet key") as refused:
        other.open(box, "/certv6/versions/www/0001/privkey.pem")
    assert sealer.kid in refused.value.message and other.kid in refused.value.message


def test_the_fleet_key_file_is_checked_like_every_secret(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="readable by other users"):
        Sealer.from_file(_key_file(tmp_path, mode=0o644), encrypt=True, allow_insecure=False)
    short = tmp_path / "short.key"
    short.write_text(base64.b64encode(b"x" * 16).decode())
    short.chmod(0o600)
    with pytest.raises(ConfigError, match="32 bytes"):
        Sealer.from_file(short, encrypt=True, allow_insecure=False)
    with pytest.raises(ConfigError, match="fleet_key_file is not set") as missing:
        Sealer.from_file(None, encrypt=True, allow_insecure=False)
    assert "urandom" in missing.value.hint
    plain = Sealer.from_file(None, encrypt=False, allow_insecure=False)
    assert plain.open(plain.seal(b"key", "p"), "p") == b"key"


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("http://[2001:db8::1]:2379", "not https"),
        ("https://192.0.2.1:2379", "IPv4 address"),  # ipv4-ok: the refused input itself
        ("https://:2379", "names no host"),
    ],
)
def test_etcd_endpoints_are_https_and_ipv6(url: str, words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        etcdnet.check_endpoint(url, allow_ipv4=False)


def test_endpoint_rules_allow_what_they_should() -> None:
    assert etcdnet.check_endpoint("https://[2001:db8::1]:2379/", allow_ipv4=False).endswith("2379")
    assert etcdnet.check_endpoint("https://etcd.example:2379", allow_ipv4=False)
    assert etcdnet.check_endpoint("https://192.0.2.1:2379", allow_ipv4=True)  # ipv4-ok


def test_prefix_end_covers_exactly_the_prefix() -> None:
    assert etcdnet.prefix_end(b"/certv6/") == b"/certv60"
    assert etcdnet.prefix_end(b"a\xff") == b"b"
    assert etcdnet.prefix_end(b"\xff") == b"\0"


def test_store_tables_are_checked_with_did_you_mean(tmp_path: Path) -> None:
    config = tmp_path / "certv6.toml"
    config.write_text(
        '[store]\nbackend = "etcd"\n[store.etcd]\nendpoint = ["https://[::1]:2379"]\n'
    )
    with pytest.raises(ConfigError, match="unknown key 'endpoint'") as refused:
        load_settings(config, {})
    assert "endpoints" in refused.value.hint
    config.write_text('[store]\nbackend = "zookeeper"\n')
    with pytest.raises(ConfigError, match="zookeeper"):
        load_settings(config, {})
    config.write_text('[store.etcd]\nca_file = "ca.pem"\n')
    env = {"CERTV6_STORE_BACKEND": "etcd", "CERTV6_STORE_ETCD_ENDPOINTS": "https://[::1]:2379"}
    settings = load_settings(config, env)
    assert settings.store.backend == "etcd"
    assert settings.store.etcd.endpoints == ("https://[::1]:2379",)
    assert settings.store.etcd.ca_file == tmp_path / "ca.pem"
