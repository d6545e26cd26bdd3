"""httpnet against real sockets on [::1]: TLS, plain-HTTP refusal, CONNECT proxies, errors."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from certv6 import httpnet
from fakes.connect_proxy import ConnectProxy, without_proxy_variables
from fakes.https import HttpsServer, Reply, Request
from fakes.tls import TlsFiles, make_tls

DIRECTORY = {"newNonce": "https://ca.example/nonce", "meta": {}}


def app(request: Request) -> Reply:
    if request.path == "/redirect":
        return Reply(302, b"", {"Location": "http://[::1]:1/dir"})
    if request.path == "/broken":
        return Reply(500, b"oops")
    return Reply(200, DIRECTORY)


@pytest.fixture(autouse=True)
def clean_proxy_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    return without_proxy_variables(monkeypatch)


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_tls(tmp_path_factory.mktemp("tls"), names=["ca.example"])


@pytest.fixture(scope="module")
def server(tls: TlsFiles) -> Iterator[HttpsServer]:
    with HttpsServer(app, tls) as running:
        yield running


@pytest.fixture
def proxy() -> Iterator[ConnectProxy]:
    running = ConnectProxy(("::1", 0), deny={"forbidden.example"})
    try:
        yield running
    finally:
        running.close()


def get(url: str, tls: TlsFiles) -> httpnet.HttpProbe:
    return httpnet.probe_json(url, ca_bundle=str(tls.ca_bundle), allow_ipv4=False, timeout=5)


def test_direct_over_ipv6_with_a_private_ca(server: HttpsServer, tls: TlsFiles) -> None:
    found = get(server.url + "/dir", tls)
    assert found.body == DIRECTORY and found.proxy is None and not found.problem


def test_the_configured_bundle_wins_over_requests_ca_bundle(
    server: HttpsServer, tls: TlsFiles, clean_proxy_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    other = make_tls(tmp_path, names=["other.example"])
    clean_proxy_env.setenv("REQUESTS_CA_BUNDLE", str(other.ca_bundle))
    assert get(server.url + "/dir", tls).body == DIRECTORY


def test_tls_is_always_verified(server: HttpsServer, tmp_path: Path) -> None:
    stranger = make_tls(tmp_path)
    found = get(server.url + "/dir", stranger)
    assert found.body is None
    assert found.problem == (
        "TLS to ::1 failed: certificate verify failed: unable to get local issuer certificate"
    )
    assert found.hint is not None and "ca_bundle" in found.hint


def test_a_certificate_for_another_name_is_named_as_such(tmp_path: Path) -> None:
    elsewhere = make_tls(tmp_path, ips=(), names=["elsewhere.example"])
    with HttpsServer(app, elsewhere) as server:
        found = get(server.url + "/dir", elsewhere)
    assert found.problem == (
        "TLS to ::1 failed: certificate verify failed:"
        " IP address mismatch, certificate is not valid for '::1'"
    )
    assert found.hint == "use a URL with a name the certificate lists, not ::1"


def test_an_expired_certificate_is_named_as_such(tmp_path: Path) -> None:
    expired = make_tls(tmp_path, lifetime=-dt.timedelta(minutes=1))
    with HttpsServer(app, expired) as server:
        found = get(server.url + "/dir", expired)
    assert found.problem == "TLS to ::1 failed: certificate verify failed: certificate has expired"
    assert found.hint is not None and "renew" in found.hint


def test_plain_http_is_refused_also_after_a_redirect(server: HttpsServer, tls: TlsFiles) -> None:
    assert "refusing plain HTTP" in get("http://[::1]:1/dir", tls).problem
    before = len(server.requests)
    found = get(server.url + "/redirect", tls)
    assert found.problem == "refusing plain HTTP to http://[::1]:1/dir"
    assert len(server.requests) == before + 1  # nothing was sent over plain HTTP


def test_an_http_error_is_reported(server: HttpsServer, tls: TlsFiles) -> None:
    found = get(server.url + "/broken", tls)
    assert (found.status, found.problem) == (500, f"HTTP 500 from {server.url}/broken (not JSON)")


def test_an_ipv4_only_host_fails_at_once_with_the_reason(tls: TlsFiles) -> None:
    found = get("https://192.0.2.1/dir", tls)  # never sent: no IPv6 source fits
    assert found.problem == "192.0.2.1 has no IPv6 address (only 192.0.2.1)"
    assert found.hint is not None and "HTTPS_PROXY" in found.hint


def test_connection_refused_names_the_server(tls: TlsFiles) -> None:
    found = get("https://[::1]:1/dir", tls)
    assert found.problem == "the server at [::1] refused the connection: nothing listens there"
    # The network works (it was refused over IPv6): the hint is about the server, not IPv6.
    assert found.hint is not None and "is down" in found.hint and "IPv6" not in found.hint


def test_through_a_connect_proxy_on_an_ipv6_address(
    server: HttpsServer, tls: TlsFiles, proxy: ConnectProxy, clean_proxy_env: pytest.MonkeyPatch
) -> None:
    clean_proxy_env.setenv("HTTPS_PROXY", proxy.url)
    found = get(server.url + "/dir", tls)
    assert found.body == DIRECTORY
    assert found.proxy == proxy.url
    assert proxy.tunnels == [f"[::1]:{server.port}"]  # TLS went through the tunnel


def test_no_proxy_bypasses_it(
    server: HttpsServer, tls: TlsFiles, proxy: ConnectProxy, clean_proxy_env: pytest.MonkeyPatch
) -> None:
    clean_proxy_env.setenv("HTTPS_PROXY", proxy.url)
    clean_proxy_env.setenv("NO_PROXY", "::1")
    found = get(server.url + "/dir", tls)
    assert found.body == DIRECTORY and found.proxy is None
    assert proxy.tunnels == []


def test_the_environment_is_read_once_per_origin_and_still_obeyed(
    server: HttpsServer,
    tls: TlsFiles,
    proxy: ConnectProxy,
    clean_proxy_env: pytest.MonkeyPatch,
) -> None:
    clean_proxy_env.setenv("HTTPS_PROXY", proxy.url)
    clean_proxy_env.setenv("NO_PROXY", "localhost")  # ipv4-ok: a NO_PROXY name, nothing connects
    looked = []
    real = requests.utils.get_environ_proxies  # what requests.sessions calls by this name

    def counting(url: str, no_proxy: str | None = None) -> dict[str, str]:
        looked.append(url)
        return dict(real(url, no_proxy=no_proxy))

    clean_proxy_env.setattr(requests.sessions, "get_environ_proxies", counting)
    session = httpnet.new_session(ca_bundle=str(tls.ca_bundle))
    before = len(server.requests)
    for _ in range(3):
        assert session.get(server.url + "/dir", timeout=5).json() == DIRECTORY
    assert len(looked) == 1
    assert len(server.requests) == before + 3
    assert proxy.tunnels == [f"[::1]:{server.port}"]  # all three through the proxy's tunnel
    # Another origin is looked up on its own: NO_PROXY exempts localhost from the proxy.
    other = session.merge_environment_settings("https://localhost:1/", {}, None, None, None)
    assert other["proxies"] == {}
    assert len(looked) == 2


def test_a_proxy_that_refuses_the_destination(
    tls: TlsFiles, proxy: ConnectProxy, clean_proxy_env: pytest.MonkeyPatch
) -> None:
    clean_proxy_env.setenv("HTTPS_PROXY", proxy.url)
    found = get("https://forbidden.example/dir", tls)
    assert found.problem == (
        f"the proxy {proxy.url} would not CONNECT to forbidden.example: 403 Forbidden"
    )


def test_a_proxy_that_is_not_there(tls: TlsFiles, clean_proxy_env: pytest.MonkeyPatch) -> None:
    clean_proxy_env.setenv("HTTPS_PROXY", "http://user:pw@[::1]:1")
    found = get("https://ca.example/dir", tls)
    assert found.problem == (
        "cannot reach the proxy http://user:***@[::1]:1: [Errno 111] Connection refused"
    )
    assert found.hint is not None and "IPv6 address" in found.hint


def test_proxy_for_and_redact(clean_proxy_env: pytest.MonkeyPatch) -> None:
    assert httpnet.proxy_for("https://ca.example/dir") is None
    clean_proxy_env.setenv("https_proxy", "http://[2001:db8::3128]:3128")
    clean_proxy_env.setenv("no_proxy", ".internal.example")
    assert httpnet.proxy_for("https://ca.example/dir") == "http://[2001:db8::3128]:3128"
    assert httpnet.proxy_for("https://ca.internal.example/dir") is None
    assert httpnet.redact("http://u:p@[2001:db8::1]:3128") == "http://u:***@[2001:db8::1]:3128"
    assert httpnet.redact("http://[2001:db8::1]:3128") == "http://[2001:db8::1]:3128"


def test_host_addresses_of_literals() -> None:
    assert httpnet.host_addresses("::1") == httpnet.HostAddresses(("::1",), ())
    assert httpnet.host_addresses("192.0.2.1") == httpnet.HostAddresses((), ("192.0.2.1",))


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (requests.exceptions.ConnectionError("[Errno 111] Connection refused"), True),
        (requests.exceptions.ReadTimeout("read timed out"), True),
        (requests.exceptions.ConnectionError("[Errno -9] Address family not supported"), False),
        (requests.exceptions.ProxyError("Tunnel connection failed: 403 Forbidden"), False),
        (requests.exceptions.SSLError("CERTIFICATE_VERIFY_FAILED"), False),
        (requests.exceptions.InvalidSchema("refusing plain HTTP"), False),
    ],
)
def test_is_transient(error: requests.exceptions.RequestException, transient: bool) -> None:
    assert httpnet.is_transient(error) is transient


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "[Errno -9] Address family for hostname not supported",
            "this host has no usable IPv6 address",
        ),
        ("[Errno 101] Network is unreachable", "no IPv6 route"),
    ],
)
def test_explain_a_host_without_ipv6_connectivity(text: str, message: str) -> None:
    explained, hint = httpnet.explain(
        "https://[2001:db8::1]/dir", requests.exceptions.ConnectionError(text), what="the CA"
    )
    assert explained == f"cannot reach the CA at [2001:db8::1]: {message}"
    assert hint is not None and "certv6 doctor" in hint
