"""Which names certv6 aaaa follows: flags, aaaa_names, [certificate.NAME] aaaa; the settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from certv6.errors import ConfigError
from certv6.service.aaaa_names import (
    FollowedName,
    aaaa_command,
    followed_names,
    follows_aaaa,
)
from certv6.settings import Settings, load_settings
from certv6.store import Store


def settings_from(tmp_path: Path, text: str) -> Settings:
    config = tmp_path / "certv6.toml"
    config.write_text(f'state_dir = "{tmp_path / "state"}"\n' + text)
    return load_settings(config, {})


def issued(settings: Settings, name: str, domains: list[str], provider: str) -> Store:
    store = Store(settings.state_dir).ensure()
    lineage = store.lineages.get(name)
    lineage.save_config({"domains": domains, "provider": provider})
    (lineage.directory / "versions" / "0001").mkdir(parents=True)
    lineage.current_link.symlink_to("versions/0001")  # what an issued certificate has
    return store


PROVIDERS = '[provider.rfc2136]\nkey_file = "k"\n[provider.gandi]\ntoken_file = "t"\n'


def test_host_names_and_a_certificates_names(tmp_path: Path) -> None:
    settings = settings_from(
        tmp_path,
        'aaaa_names = ["Home.Example.org."]\naaaa_provider = "rfc2136"\n'
        + PROVIDERS
        + "[certificate.www]\naaaa = true\n",
    )
    store = issued(settings, "www", ["www.example.net", "*.example.net"], "gandi")
    found = followed_names(settings, store)
    # Its names but the wildcard; aaaa_provider wins over the certificate's own provider.
    assert found == (
        FollowedName("home.example.org.", "rfc2136"),
        FollowedName("www.example.net.", "rfc2136"),
    )
    only_www = followed_names(settings, store, certificate="www", provider="gandi")
    assert only_www == (FollowedName("www.example.net.", "gandi"),)
    assert follows_aaaa(settings)


def test_a_certificate_lists_its_names_and_keeps_its_provider(tmp_path: Path) -> None:
    settings = settings_from(
        tmp_path, PROVIDERS + '[certificate.mail]\naaaa = ["mx.example.net"]\n'
    )
    store = issued(settings, "mail", ["mail.example.net"], "gandi")
    assert followed_names(settings, store) == (FollowedName("mx.example.net.", "gandi"),)


@pytest.mark.parametrize(
    ("names", "message"),
    [
        (("*.example.org",), "not wildcards"),
        (("bad..name",), "label is empty"),
        (("2001:db8::1",), "IP address"),
    ],
)
def test_names_that_cannot_have_a_followed_aaaa(
    tmp_path: Path, names: tuple[str, ...], message: str
) -> None:
    settings = settings_from(tmp_path, PROVIDERS)
    with pytest.raises(ConfigError, match=message):
        followed_names(settings, Store(settings.state_dir), names=names, provider="rfc2136")


def test_certificate_mistakes(tmp_path: Path) -> None:
    settings = settings_from(tmp_path, PROVIDERS + "[certificate.www]\naaaa = 5\n")
    store = Store(settings.state_dir)
    with pytest.raises(ConfigError, match="no certificate named 'nope'"):
        followed_names(settings, store, certificate="nope")
    with pytest.raises(ConfigError, match="must be true or a list"):
        followed_names(settings, store, certificate="www")
    plain = settings_from(tmp_path, PROVIDERS + '[certificate.web]\nprofile = "x"\n')
    with pytest.raises(ConfigError, match="names no AAAA records"):
        followed_names(plain, store, certificate="web")
    assert not follows_aaaa(plain)


def test_nothing_configured_is_nothing_to_follow(tmp_path: Path) -> None:
    settings = settings_from(tmp_path, PROVIDERS)
    assert followed_names(settings, Store(settings.state_dir)) == ()


def test_settings_from_file_and_environment(tmp_path: Path) -> None:
    config = tmp_path / "certv6.toml"
    config.write_text('aaaa_ttl = 600\naaaa_interface = "eth0"\naaaa_min_interval = 5\n')
    env = {"CERTV6_AAAA_NAMES": "a.example.org, b.example.org", "CERTV6_AAAA_TOKEN": "::53"}
    settings = load_settings(config, env)
    assert settings.aaaa_names == ("a.example.org", "b.example.org")
    assert (settings.aaaa_ttl, settings.aaaa_interface, settings.aaaa_token) == (
        600,
        "eth0",
        "::53",
    )
    assert settings.aaaa_min_interval == 5.0
    for bad in ("aaaa_ttl = 0", "aaaa_ttl = 1.5", 'aaaa_ttl = "x"'):
        config.write_text(bad + "\n")
        with pytest.raises(ConfigError, match="aaaa_ttl"):
            load_settings(config, {})


def test_the_fix_command_names_a_non_default_config(tmp_path: Path) -> None:
    settings = settings_from(tmp_path, "")
    assert aaaa_command(settings, "www.example.org.") == (
        f"certv6 --config {tmp_path / 'certv6.toml'} aaaa -d www.example.org"
    )
    assert aaaa_command(Settings(), "www.example.org") == "certv6 aaaa -d www.example.org"
