"""httpnet.request_once: the CA's requests over kept-alive connections (issue #19), on [::1].

The first request to an origin goes through requests (it says why a server cannot be
reached); the following ones over certv6's own connections, checked like requests
checks them; a proxy keeps everything on requests' path.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import requests

from certv6 import httpnet
from fakes.connect_proxy import ConnectProxy, without_proxy_variables
from fakes.https import HttpsServer, Reply, Request
from fakes.tls import TlsFiles, make_tls

SLOW = "/slow"


def app(request: Request) -> Reply:
    if request.path == SLOW:
        time.sleep(1.0)
    if request.path == "/closing":
        return Reply(200, {"closing": True}, {"Connection": "close"})
    links = (("Link", '<https://[::1]/a>;rel="alternate"'), ("Link", '<https://[::1]/b>;rel="up"'))
    return Reply(201, {"path": request.path, "body": request.body.decode()}, repeated=links)


@pytest.fixture(autouse=True)
def no_proxy_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    return without_proxy_variables(monkeypatch)


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_tls(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def server(tls: TlsFiles) -> Iterator[HttpsServer]:
    with HttpsServer(app, tls) as running:
        yield running


@pytest.fixture
def session(tls: TlsFiles) -> Iterator[requests.Session]:
    made = httpnet.new_session(ca_bundle=str(tls.ca_bundle), user_agent="certv6-test")
    try:
        yield made
    finally:
        made.close()


def send(session: requests.Session, url: str, data: bytes | None = None) -> httpnet.Response:
    headers = {"Content-Type": "application/jose+json"} if data is not None else {}
    method = "POST" if data is not None else "GET"
    return httpnet.request_once(session, method, url, timeout=5, data=data, headers=headers)


def test_after_the_first_answer_requests_share_one_kept_alive_connection(
    server: HttpsServer, session: requests.Session
) -> None:
    answers = [send(session, f"{server.url}/order/{i}", b'{"n": %d}' % i) for i in range(5)]
    assert [a.status for a in answers] == [201] * 5
    assert answers[3].body == b'{"path": "/order/3", "body": "{\\"n\\": 3}"}'
    # The first over requests' pool, the other four over one connection of certv6's own.
    peers = [request.peer for request in server.requests]
    assert len(set(peers[1:])) == 1 and peers[0] != peers[1]
    sent = server.requests[-1].headers
    assert sent["user-agent"] == "certv6-test"
    assert sent["content-type"] == "application/jose+json"
    assert sent["accept-encoding"] == "identity"  # nothing is decoded on this path


def test_a_header_sent_twice_is_joined_and_names_are_case_insensitive(
    server: HttpsServer, session: requests.Session
) -> None:
    send(session, server.url + "/dir")
    answer = send(session, server.url + "/order/1")
    assert answer.headers["link"] == (
        '<https://[::1]/a>;rel="alternate", <https://[::1]/b>;rel="up"'
    )
    assert answer.headers["CONTENT-TYPE"] == "application/json"


def test_a_connection_the_server_closes_is_not_used_again(
    server: HttpsServer, session: requests.Session
) -> None:
    send(session, server.url + "/dir")
    assert send(session, server.url + "/closing").status == 200
    assert send(session, server.url + "/after").status == 201
    peers = [request.peer for request in server.requests]
    assert peers[2] != peers[1]  # "Connection: close" was honoured: a new connection


def test_an_idle_connection_the_server_dropped_is_replaced(
    server: HttpsServer, session: requests.Session
) -> None:
    send(session, server.url + "/dir")
    send(session, server.url + "/one")
    assert session.direct is not None  # type: ignore[attr-defined]  # _Session's own
    pool = session.direct  # type: ignore[attr-defined]
    (idle,) = [c for kept in pool._idle.values() for c in kept]
    idle.sock.shutdown(2)  # what a server's idle timeout looks like from here: EOF
    assert send(session, server.url + "/two").status == 201
    assert server.requests[-1].peer != server.requests[-2].peer


def test_no_answer_in_time_is_a_read_timeout(
    server: HttpsServer, session: requests.Session
) -> None:
    send(session, server.url + "/dir")
    with pytest.raises(requests.exceptions.ReadTimeout):
        httpnet.request_once(session, "GET", server.url + SLOW, timeout=0.2)
    assert send(session, server.url + "/again").status == 201  # the session still works


def test_the_first_request_to_an_unreachable_server_is_explained_by_requests(
    session: requests.Session,
) -> None:
    with pytest.raises(requests.exceptions.ConnectionError) as raised:
        httpnet.request_once(session, "GET", "https://[::1]:9/dir", timeout=2)
    message, _ = httpnet.explain("https://[::1]:9/dir", raised.value, "the CA")
    assert message == "the CA at [::1] refused the connection: nothing listens there"


def test_a_certificate_that_does_not_verify_fails_on_both_paths(
    server: HttpsServer, tmp_path_factory: pytest.TempPathFactory
) -> None:
    other = make_tls(tmp_path_factory.mktemp("other"))  # another CA: the server is untrusted
    session = httpnet.new_session(ca_bundle=str(other.ca_bundle))
    try:
        for _ in range(2):
            with pytest.raises(requests.exceptions.SSLError):
                httpnet.request_once(session, "GET", server.url + "/dir", timeout=5)
    finally:
        session.close()
    assert server.requests == []


def test_through_a_proxy_every_request_takes_requests_path(
    server: HttpsServer,
    session: requests.Session,
    no_proxy_env: pytest.MonkeyPatch,
) -> None:
    proxy = ConnectProxy(("::1", 0))
    try:
        no_proxy_env.setenv("HTTPS_PROXY", proxy.url)
        for i in range(3):
            assert send(session, f"{server.url}/order/{i}").status == 201
    finally:
        proxy.close()
    assert proxy.tunnels == [f"[::1]:{server.port}"]  # one tunnel, kept alive by urllib3
    pool = session.direct  # type: ignore[attr-defined]
    assert not any(pool._idle.values())
