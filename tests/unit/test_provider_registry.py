"""The provider registry, the shared helpers and TSIG key files."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

import pytest

from certv6.dnsquery import Dns, DnsSettings
from certv6.errors import ConfigError
from certv6.model import TxtRecord
from certv6.providers import BUILTIN, ENTRY_POINT_GROUP, ProviderContext, available, load_provider
from certv6.providers.common import hints_from, owners_of, redact, relative_name
from certv6.providers.tsig import generate_key, parse_key_file, render_key_file

SHIPPED = {"rfc2136", "exec", "acme-dns", "standalone", "gandi", "lexicon"}


def context(name: str, tmp_path: Path, **options: object) -> ProviderContext:
    return ProviderContext(
        name=name, options=options, dns=Dns(DnsSettings(resolvers=("[::1]:9",))), state_dir=tmp_path
    )


def test_every_shipped_provider_is_registered_both_ways() -> None:
    assert set(BUILTIN) == SHIPPED
    installed = {e.name: e.value for e in metadata.entry_points(group=ENTRY_POINT_GROUP)}
    assert {name: installed[name] for name in SHIPPED} == BUILTIN
    assert set(available()) >= SHIPPED


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_unknown_options_are_refused(name: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown option") as raised:
        load_provider(context(name, tmp_path, no_such_option=1))
    assert raised.value.hint.startswith("known: ")
    assert "[provider." in raised.value.message


def test_hint_options_override_and_are_checked(tmp_path: Path) -> None:
    hints = hints_from(context("x", tmp_path, propagation_timeout=30), timeout=120, poll_interval=1)
    assert (hints.propagation_timeout, hints.poll_interval) == (30.0, 1.0)
    with pytest.raises(ConfigError, match="positive number of seconds"):
        hints_from(context("x", tmp_path, poll_interval="soon"), timeout=1, poll_interval=1)


def test_redact_and_names() -> None:
    assert redact("token abcd1234 and abcd1234x", ["abcd1234", "ab"]) == (
        "token <redacted> and <redacted>x"
    )
    assert (
        relative_name("_acme-challenge.WWW.example.org.", "example.org.") == "_acme-challenge.www"
    )
    assert relative_name("example.org.", "example.org.") == "@"
    records = [TxtRecord("_acme-challenge.b.", "1"), TxtRecord("_acme-challenge.a.", "2")]
    assert owners_of(records) == "_acme-challenge.a. (+1 more)"


@pytest.mark.parametrize("algorithm", ["hmac-sha224", "hmac-sha256", "hmac-sha384", "hmac-sha512"])
def test_generated_keys_round_trip(algorithm: str) -> None:
    key = generate_key("certv6.acme.example.net.", algorithm)
    assert parse_key_file(render_key_file(key), "f") == key
    assert key.secret not in repr(key)


def test_sha1_is_selectable_and_md5_only_by_name() -> None:
    text = 'key "k" {\n\talgorithm hmac-sha1;\n\tsecret "c2VjcmV0c2VjcmV0";\n};\n'
    assert parse_key_file(text, "f").algorithm == "hmac-sha1"
    md5 = text.replace("hmac-sha1", "hmac-md5")
    with pytest.raises(ConfigError, match="only when asked by name"):
        parse_key_file(md5, "f")
    assert parse_key_file(md5, "f", "hmac-md5").algorithm == "hmac-md5"


def test_secret_that_is_not_base64() -> None:
    with pytest.raises(ConfigError, match="not base64") as raised:
        parse_key_file('key "k" { secret "not base64!"; };', "f")
    assert "not base64!" not in raised.value.message


def test_rfc2136_names_the_provider_in_key_file_errors(tmp_path: Path) -> None:
    key_file = tmp_path / "k.key"
    key_file.write_text('key "k" { algorithm hmac-foo; secret "c2VjcmV0"; };\n')
    key_file.chmod(0o600)
    with pytest.raises(ConfigError, match=r"rfc2136 key_file .*unknown TSIG algorithm 'hmac-foo'"):
        load_provider(context("rfc2136", tmp_path, key_file=str(key_file)))
    with pytest.raises(ConfigError, match="is an IPv4 address"):
        key_file.write_text('key "k" { secret "c2VjcmV0"; };\n')
        load_provider(context("rfc2136", tmp_path, key_file=str(key_file), server="192.0.2.1"))
