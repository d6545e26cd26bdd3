"""The lexicon adapter: its own logic with a lexicon-like client, then the real dns-lexicon.

dns-lexicon is an optional extra for users and part of the test extra, so the
last tests always run: lexicon's powerdns provider, through certv6's adapter,
against a real PowerDNS Authoritative HTTP API behind TLS (tests/servers/powerdns.py),
with what DNS serves read back over DNS.
"""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dns.resolver
import pytest
import urllib3.util.connection

from certv6.dnsquery import Dns, DnsSettings
from certv6.errors import ConfigError, ProviderError
from certv6.model import TxtRecord
from certv6.providers import ProviderContext
from certv6.providers.lexicon import LexiconProvider
from fakes.lexicon_fake import FakeLexicon
from fakes.resolver import ZoneResolver
from servers.powerdns import PowerDns

OWNER = "_acme-challenge.www.example.test."


@pytest.fixture
def resolver() -> Iterator[ZoneResolver]:
    with ZoneResolver(["example.test"]) as running:
        yield running


def credentials(tmp_path: Path, text: str, mode: int = 0o600) -> Path:
    path = tmp_path / "lexicon.toml"
    path.write_text(text)
    path.chmod(mode)
    return path


def make(
    resolver: ZoneResolver,
    tmp_path: Path,
    fake: object,
    allow_ipv4: bool = False,
    **options: object,
) -> LexiconProvider:
    context = ProviderContext(
        name="lexicon",
        options={"provider": "fakehoster", **options},
        dns=resolver.dns(),
        state_dir=tmp_path,
        allow_ipv4=allow_ipv4,
    )
    return LexiconProvider(context, client_factory=fake)  # type: ignore[arg-type]


def test_config_per_zone_with_credentials_under_the_provider(
    resolver: ZoneResolver, tmp_path: Path
) -> None:
    fake = FakeLexicon()
    path = credentials(tmp_path, f'auth_token = "{fake.token}"\n')
    provider = make(
        resolver, tmp_path, fake, credentials_file=path, settings={"zone_id": "z1"}, ttl=90
    )
    provider.present([TxtRecord(OWNER, "v1"), TxtRecord(OWNER, "v2")])
    assert fake.txt(OWNER) == {"v1", "v2"}
    (config,) = fake.configs  # one client for the zone, both values through it
    assert config == {
        "provider_name": "fakehoster",
        "domain": "example.test",
        "resolve_zone_name": True,
        "ttl": 90,
        "fakehoster": {"zone_id": "z1", "auth_token": fake.token},
    }


def test_errors_name_the_record_and_hide_the_credentials(
    resolver: ZoneResolver, tmp_path: Path
) -> None:
    fake = FakeLexicon()
    path = credentials(tmp_path, 'auth_token = "wrong-token-123456"\n')
    provider = make(resolver, tmp_path, fake, credentials_file=path)
    with pytest.raises(ProviderError) as raised:
        provider.present([TxtRecord(OWNER, "v1")])
    error = raised.value
    assert error.message.startswith(f'lexicon (fakehoster) present of {OWNER} TXT "v1": ')
    assert "AuthenticationError" in error.message
    assert "wrong-token-123456" not in error.message and "<redacted>" in error.message
    assert (error.provider, error.operation) == ("lexicon", "present")


def test_urllib3_resolves_only_ipv6_while_lexicon_runs(
    resolver: ZoneResolver, tmp_path: Path
) -> None:
    seen: list[socket.AddressFamily] = []

    @contextmanager
    def client(config: object) -> Iterator[object]:
        seen.append(urllib3.util.connection.allowed_gai_family())
        yield FakeLexicon.Operations(FakeLexicon(), "example.test")

    before = urllib3.util.connection.allowed_gai_family
    make(resolver, tmp_path, client).present([TxtRecord(OWNER, "v1")])
    make(resolver, tmp_path, client, allow_ipv4=True).present([TxtRecord(OWNER, "v1")])
    assert seen[0] == socket.AF_INET6 and seen[1] != socket.AF_INET6
    assert urllib3.util.connection.allowed_gai_family is before


def test_credentials_file_checks(resolver: ZoneResolver, tmp_path: Path) -> None:
    fake = FakeLexicon()
    with pytest.raises(ConfigError, match="readable by other users"):
        make(resolver, tmp_path, fake, credentials_file=credentials(tmp_path, "a = 1\n", 0o644))
    broken = credentials(tmp_path, 'auth_token = "s3cret-s3cret\n')
    with pytest.raises(ConfigError, match="is not TOML") as raised:
        make(resolver, tmp_path, fake, credentials_file=broken)
    assert "s3cret" not in raised.value.message


def test_without_dns_lexicon_the_error_says_how_to_install_it(
    resolver: ZoneResolver, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As if not installed: every import of it fails, also after other tests imported it.
    for module in ("lexicon", "lexicon.client", "lexicon.config"):
        monkeypatch.setitem(sys.modules, module, None)
    context = ProviderContext(
        name="lexicon", options={"provider": "x"}, dns=resolver.dns(), state_dir=tmp_path
    )
    with pytest.raises(ConfigError, match="needs dns-lexicon") as raised:
        LexiconProvider(context)
    assert "certv6[lexicon]" in raised.value.hint


def test_provider_name_is_required(resolver: ZoneResolver, tmp_path: Path) -> None:
    context = ProviderContext(name="lexicon", options={}, dns=resolver.dns(), state_dir=tmp_path)
    with pytest.raises(ConfigError, match="needs the option 'provider'"):
        LexiconProvider(context, client_factory=FakeLexicon())


# --- the real dns-lexicon, driving a real PowerDNS API over HTTPS on [::1] ---------------------


@pytest.fixture
def pdns(tmp_path: Path) -> Iterator[PowerDns]:
    with PowerDns(tmp_path / "pdns", zones=["example.test"]) as running:
        yield running


def real(pdns: PowerDns, tmp_path: Path, token: str | None = None) -> LexiconProvider:
    """certv6's lexicon provider with no test seam: lexicon.client.Client does the work."""
    context = ProviderContext(
        name="lexicon",
        options={
            "provider": "powerdns",
            "credentials_file": credentials(tmp_path, f'auth_token = "{token or pdns.api_key}"\n'),
            "settings": {"pdns_server": pdns.api_url},
            "ca_bundle": str(pdns.ca_bundle),
            "ttl": 30,
        },
        # PowerDNS itself answers certv6's look-ups: the zone is nowhere else (not in
        # /etc/resolv.conf's resolvers either, so lexicon must ask these too).
        dns=Dns(DnsSettings(resolvers=(f"[::1]:{pdns.dns_port}",))),
        state_dir=tmp_path,
    )
    return LexiconProvider(context)


def test_real_lexicon_publishes_and_removes_exactly_its_values(
    pdns: PowerDns, tmp_path: Path
) -> None:
    provider = real(pdns, tmp_path)
    before = dns.resolver.default_resolver
    provider.present([TxtRecord(OWNER, "base"), TxtRecord(OWNER, "wild")])
    assert pdns.txt(OWNER) == {"base", "wild"}
    provider.present([TxtRecord(OWNER, "base")])  # idempotent
    provider.cleanup([TxtRecord(OWNER, "base"), TxtRecord(OWNER, "never-there")])
    assert pdns.txt(OWNER) == {"wild"}
    assert dns.resolver.default_resolver is before  # dnspython's default is put back
    assert "REQUESTS_CA_BUNDLE" not in os.environ or os.environ["REQUESTS_CA_BUNDLE"] != str(
        pdns.ca_bundle
    )


def test_real_lexicon_with_a_wrong_key_names_the_refusal_and_hides_the_key(
    pdns: PowerDns, tmp_path: Path
) -> None:
    wrong = "wrong-key-0123456789"
    with pytest.raises(ProviderError) as raised:
        real(pdns, tmp_path, token=wrong).present([TxtRecord(OWNER, "v")])
    error = raised.value
    assert "401" in error.message or "Unauthorized" in error.message, error.message
    assert wrong not in error.message
    assert pdns.txt(OWNER) == set()


def test_plain_http_api_urls_are_refused(resolver: ZoneResolver, tmp_path: Path) -> None:
    context = ProviderContext(
        name="lexicon",
        options={"provider": "powerdns", "settings": {"pdns_server": "http://[::1]:8081"}},
        dns=resolver.dns(),
        state_dir=tmp_path,
    )
    with pytest.raises(ConfigError, match="plain http:// URL") as raised:
        LexiconProvider(context)
    assert "HTTPS only" in (raised.value.hint or "")
