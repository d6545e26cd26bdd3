"""The gandi provider against a LiveDNS stand-in over HTTPS on [::1]: merging, errors, routes."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from certv6.errors import ConfigError, ProviderAuthError, ProviderError, ProviderUnreachable
from certv6.model import TxtRecord
from certv6.providers import ProviderContext
from certv6.providers.gandi import GandiProvider
from fakes.connect_proxy import ConnectProxy
from fakes.https import HttpsServer, Reply, Request
from fakes.livedns import BASE, LiveDns
from fakes.resolver import ZoneResolver
from fakes.tls import TlsFiles, make_tls

ZONE = "example.test"
OWNER = f"_acme-challenge.www.{ZONE}."
TOKEN = "pat-0123456789abcdef"  # noqa: S105 (a made-up token the stand-in accepts)
WRONG_TOKEN = "pat-wrong-wrong-wrong"  # noqa: S105 (one the stand-in refuses)
IPV4_API = "192.0.2.10"  # TEST-NET-1: nothing answers there; only the proxy "reaches" it


@dataclass
class Setup:
    livedns: LiveDns
    server: HttpsServer
    tls: TlsFiles
    resolver: ZoneResolver
    tmp_path: Path

    def provider(self, token: str = TOKEN, **options: object) -> GandiProvider:
        token_file = self.tmp_path / "gandi.token"
        token_file.write_text(token + "\n")
        token_file.chmod(0o600)
        defaults = {
            "token_file": token_file,
            "api_url": self.server.url + BASE,
            "ca_bundle": str(self.tls.ca_bundle),
        }
        context = ProviderContext(
            name="gandi",
            options={**defaults, **options},
            dns=self.resolver.dns(),
            state_dir=self.tmp_path,
        )
        return GandiProvider(context)


@pytest.fixture
def setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Setup]:
    for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    tls = make_tls(tmp_path, ips=("::1", IPV4_API))
    livedns = LiveDns(TOKEN, [ZONE, "other.test"], allowed=[ZONE])
    with HttpsServer(livedns, tls) as server, ZoneResolver([ZONE, "other.test"]) as resolver:
        yield Setup(livedns, server, tls, resolver, tmp_path)


def test_present_keeps_other_values_and_sends_them_quoted(setup: Setup) -> None:
    setup.livedns.records[(ZONE, "_acme-challenge.www", "TXT")] = (300, ['"someone-else"'])
    provider = setup.provider()
    provider.present([TxtRecord(OWNER, "v1"), TxtRecord(OWNER, "v2")])
    ttl, values = setup.livedns.records[(ZONE, "_acme-challenge.www", "TXT")]
    assert sorted(values) == ['"someone-else"', '"v1"', '"v2"'] and ttl == 300
    provider.cleanup([TxtRecord(OWNER, "v1"), TxtRecord(OWNER, "v2")])
    assert setup.livedns.txt(ZONE, "_acme-challenge.www") == {"someone-else"}


def test_last_value_gone_deletes_the_rrset(setup: Setup) -> None:
    provider = setup.provider()
    provider.present([TxtRecord(OWNER, "v1")])
    provider.cleanup([TxtRecord(OWNER, "v1")])
    assert (ZONE, "_acme-challenge.www", "TXT") not in setup.livedns.records
    assert [r.method for r in setup.server.requests][-2:] == ["GET", "DELETE"]


def test_apex_owner_is_at(setup: Setup) -> None:
    provider = setup.provider()
    provider.present([TxtRecord(f"{ZONE}.", "v1")])
    assert setup.livedns.txt(ZONE, "@") == {"v1"}


def test_token_goes_in_the_authorization_header_only(setup: Setup) -> None:
    setup.provider().present([TxtRecord(OWNER, "v1")])
    request = setup.server.requests[0]
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert TOKEN not in request.path


def test_wrong_token_is_a_clear_401(setup: Setup) -> None:
    provider = setup.provider(token=WRONG_TOKEN)
    with pytest.raises(ProviderAuthError) as raised:
        provider.present([TxtRecord(OWNER, "v1")])
    error = raised.value
    assert error.message.startswith(f'gandi present of {OWNER} TXT "v1": ')
    assert "HTTP 401" in error.message and "token_file" in error.hint
    assert (error.provider, error.operation, error.record) == (
        "gandi",
        "present",
        f'{OWNER} TXT "v1"',
    )
    assert "pat-wrong" not in error.message + error.hint


def test_token_without_rights_on_the_domain_is_403(setup: Setup) -> None:
    with pytest.raises(ProviderAuthError, match="HTTP 403"):
        setup.provider().present([TxtRecord("_acme-challenge.other.test.", "v1")])


def test_preflight_reads_with_the_token(setup: Setup) -> None:
    setup.provider().preflight()
    with pytest.raises(ProviderAuthError, match=r"gandi preflight: .*HTTP 401"):
        setup.provider(token=WRONG_TOKEN).preflight()


def test_api_host_without_ipv6_fails_in_preflight_before_any_request(setup: Setup) -> None:
    provider = setup.provider(api_url=f"https://{IPV4_API}/v5/livedns")
    with pytest.raises(ProviderUnreachable) as raised:
        provider.preflight()
    assert f"the API host {IPV4_API} has no IPv6 address" in raised.value.message
    assert "HTTPS_PROXY" in raised.value.hint
    assert setup.server.requests == []


def test_https_proxy_tunnels_to_an_ipv4_only_api(
    setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The proxy "reaches" the IPv4 address by tunnelling to the stand-in at [::1].
    api_url = f"https://{IPV4_API}:{setup.server.port}{BASE}"
    with contextlib.closing(ConnectProxy(mapping={IPV4_API: "::1"})) as proxy:
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        provider = setup.provider(api_url=api_url)
        provider.preflight()  # the proxy reaches IPv4, so the route is fine
        provider.present([TxtRecord(OWNER, "v1")])
    assert proxy.tunnels == [f"{IPV4_API}:{setup.server.port}"]  # one CONNECT, then keep-alive
    assert setup.livedns.txt(ZONE, "_acme-challenge.www") == {"v1"}


def test_no_proxy_goes_direct(setup: Setup, monkeypatch: pytest.MonkeyPatch) -> None:
    with contextlib.closing(ConnectProxy(deny={"::1"})) as proxy:
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        monkeypatch.setenv("NO_PROXY", "::1")
        setup.provider().present([TxtRecord(OWNER, "v1")])
    assert proxy.tunnels == []


def test_proxy_refusing_the_tunnel_is_explained(
    setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    with contextlib.closing(ConnectProxy(deny={"::1"})) as proxy:
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        with pytest.raises(ProviderUnreachable, match="would not CONNECT") as raised:
            setup.provider().present([TxtRecord(OWNER, "v1")])
    assert raised.value.operation == "present"


def test_untrusted_certificate(setup: Setup, tmp_path: Path) -> None:
    (tmp_path / "other").mkdir()
    other = make_tls(tmp_path / "other")  # a CA that did not sign the stand-in's certificate
    with pytest.raises(ProviderUnreachable, match="TLS to") as raised:
        setup.provider(ca_bundle=str(other.ca_bundle)).present([TxtRecord(OWNER, "v1")])
    assert "ca_bundle" in raised.value.hint


def test_redirects_are_not_followed(tmp_path: Path) -> None:
    tls = make_tls(tmp_path)

    def app(request: Request) -> Reply:
        return Reply(301, {}, {"Location": "http://[::1]:1/v5/livedns/domains"})

    with HttpsServer(app, tls) as server, ZoneResolver([ZONE]) as resolver:
        setup = Setup(LiveDns(TOKEN, [ZONE]), server, tls, resolver, tmp_path)
        with pytest.raises(ProviderError, match="does not follow redirects"):
            setup.provider().present([TxtRecord(OWNER, "v1")])
        assert len(server.requests) == 1


def test_answer_that_is_not_json(tmp_path: Path) -> None:
    tls = make_tls(tmp_path)
    with (
        HttpsServer(lambda request: Reply(200, b"<html>portal</html>"), tls) as server,
        ZoneResolver([ZONE]) as resolver,
    ):
        setup = Setup(LiveDns(TOKEN, [ZONE]), server, tls, resolver, tmp_path)
        with pytest.raises(ProviderError, match="not JSON"):
            setup.provider().present([TxtRecord(OWNER, "v1")])


def test_plain_http_api_is_refused(setup: Setup) -> None:
    with pytest.raises(ConfigError, match="not an https:// URL"):
        setup.provider(api_url="http://[::1]:1/v5/livedns")


def test_token_file_readable_by_others_is_refused(setup: Setup) -> None:
    token_file = setup.tmp_path / "open.token"
    token_file.write_text(TOKEN)
    token_file.chmod(0o644)
    with pytest.raises(ConfigError, match="readable by other users") as raised:
        setup.provider(token_file=token_file)
    assert TOKEN not in raised.value.message


def test_ttl_below_the_livedns_minimum(setup: Setup) -> None:
    with pytest.raises(ConfigError, match="ttl must be a whole number of seconds >= 300"):
        setup.provider(ttl=60)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"ca_bundle": "/nonexistent/ca.pem"}, "is not a file"),
        ({"ttl": "sixty"}, "ttl must be a whole number"),
        ({"timeout": [1]}, "timeout must be a positive number"),
    ],
)
def test_bad_options(setup: Setup, options: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        setup.provider(TOKEN, **options)
