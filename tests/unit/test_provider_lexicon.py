"""The lexicon adapter's own logic, with a lexicon-like client (dns-lexicon is optional).

The real dns-lexicon is exercised only where it is installed (the last test).
"""

from __future__ import annotations

import importlib.util
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import urllib3.util.connection

from certv6.errors import ConfigError, ProviderError
from certv6.model import TxtRecord
from certv6.providers import ProviderContext
from certv6.providers.lexicon import LexiconProvider
from fakes.lexicon_fake import FakeLexicon
from fakes.resolver import ZoneResolver

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
    monkeypatch.setitem(sys.modules, "lexicon", None)  # as if not installed: import fails
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


@pytest.mark.skipif(
    importlib.util.find_spec("lexicon") is None, reason="dns-lexicon is not installed (optional)"
)
def test_real_lexicon_client_accepts_the_config(resolver: ZoneResolver, tmp_path: Path) -> None:
    from lexicon.config import ConfigResolver  # type: ignore[import-not-found]

    provider = make(resolver, tmp_path, FakeLexicon(), credentials_file=None)
    config = ConfigResolver().with_dict(provider.config("example.test."))
    assert config.resolve("lexicon:provider_name") == "fakehoster"
    assert config.resolve("lexicon:domain") == "example.test"
