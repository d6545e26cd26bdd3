"""acme_client.network: retries, Retry-After, nonces and signing, against a scripted HTTPS server.

The server speaks just enough ACME on [::1]: every response carries a new
Replay-Nonce, HEAD gives one, and each request consumes the next scripted step
(a status with headers and body, or a dropped connection). Time is a FakeClock,
so the retry delays are asserted exactly and never waited for.
"""

from __future__ import annotations

import base64
import email.utils
import http.server
import itertools
import json
import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from josepy.jwk import JWKEC

from certv6.acme_client.network import Network
from certv6.acme_client.reply import Problem
from certv6.errors import CaUnreachable
from fakes.clock import FakeClock
from fakes.tls import TlsFiles, make_tls

PROBLEM = "application/problem+json"


@dataclass
class Step:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False  # close the connection without answering


def problem(kind: str, status: int, **headers: str) -> Step:
    body = {"type": f"urn:ietf:params:acme:error:{kind}", "detail": kind}
    return Step(status, body, {"Content-Type": PROBLEM, **headers})


class ScriptedServer:
    def __init__(self, tls: TlsFiles) -> None:
        self.script: list[Step] = []
        self.nonces_used: list[str] = []  # the JWS nonce of every POST, in order
        self.protected: list[dict[str, Any]] = []  # every POST's protected header
        self.payloads: list[str] = []  # every POST's payload, base64url
        self.heads = 0
        self.answered: list[str] = []  # the path of every GET and POST, in order
        self._counter = itertools.count(1)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(tls.cert, tls.key)
        self._server = _Server(("::1", 0), _handler(self))
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self.url = f"https://[::1]:{self._server.server_address[1]}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()

    def nonce(self) -> str:
        return (
            base64.urlsafe_b64encode(f"nonce-{next(self._counter)}".encode()).decode().rstrip("=")
        )

    def next_step(self) -> Step:
        return self.script.pop(0) if self.script else Step(200, {"status": "valid"})

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


class _Server(http.server.ThreadingHTTPServer):
    address_family = socket.AF_INET6
    daemon_threads = True


def _handler(owner: ScriptedServer) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_HEAD(self) -> None:
            owner.heads += 1
            self.send_response(200)
            self.send_header("Replay-Nonce", owner.nonce())
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            protected = json.loads(base64.urlsafe_b64decode(body["protected"] + "=="))
            owner.nonces_used.append(protected["nonce"])
            owner.protected.append(protected)
            owner.payloads.append(body["payload"])
            owner.answered.append(self.path)
            self._answer(owner.next_step())

        def do_GET(self) -> None:
            owner.answered.append(self.path)
            self._answer(owner.next_step())

        def _answer(self, step: Step) -> None:
            if step.drop:
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            data = json.dumps(step.body).encode() if step.body is not None else b""
            self.send_response(step.status)
            headers = {"Content-Type": "application/json", **step.headers}
            for name, value in {**headers, "Replay-Nonce": owner.nonce()}.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_tls(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def server(tls: TlsFiles) -> Iterator[ScriptedServer]:
    running = ScriptedServer(tls)
    try:
        yield running
    finally:
        running.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def net(tls: TlsFiles, clock: FakeClock) -> Network:
    key = JWKEC(key=ec.generate_private_key(ec.SECP256R1()))
    net = Network(key, ca_bundle=str(tls.ca_bundle), clock=clock, retry_budget=60)
    net.account_url = "https://[::1]/acct/1"
    return net


@pytest.fixture(autouse=True)
def nonce_url(net: Network, server: ScriptedServer) -> None:
    net.new_nonce_url = server.url + "/nonce"


def post(net: Network, server: ScriptedServer) -> Any:
    return net.post(server.url + "/order", None)


def test_bad_nonces_are_retried_with_the_nonce_of_the_error(
    net: Network, server: ScriptedServer, clock: FakeClock
) -> None:
    server.script = [problem("badNonce", 400), problem("badNonce", 400), Step(201, {"ok": 1})]
    assert post(net, server).status == 201
    assert clock.sleeps == [0.0, 0.0]
    assert len(server.nonces_used) == 3 and len(set(server.nonces_used)) == 3  # never replayed
    assert server.heads == 1  # only the first nonce needed a HEAD


def test_503_waits_for_retry_after(net: Network, server: ScriptedServer, clock: FakeClock) -> None:
    server.script = [problem("serverInternal", 503, **{"Retry-After": "3"}), Step(200, {})]
    post(net, server)
    assert clock.sleeps == [3.0]
    assert len(set(server.nonces_used)) == 2


def test_429_with_an_http_date(net: Network, server: ScriptedServer, clock: FakeClock) -> None:
    when = clock.now().timestamp() + 7
    server.script = [
        problem("rateLimited", 429, **{"Retry-After": email.utils.formatdate(when, usegmt=True)}),
        Step(200, {}),
    ]
    post(net, server)
    assert clock.sleeps == [7.0]


def test_a_5xx_without_a_problem_document_backs_off(
    net: Network, server: ScriptedServer, clock: FakeClock
) -> None:
    server.script = [Step(500, None), Step(502, None), Step(200, {})]
    post(net, server)
    assert clock.sleeps == [1.0, 2.0]


def test_get_is_retried_too(net: Network, server: ScriptedServer, clock: FakeClock) -> None:
    server.script = [problem("serverInternal", 503), Step(200, {"newNonce": "x"})]
    assert net.get(server.url + "/dir").json() == {"newNonce": "x"}
    assert clock.sleeps == [1.0]


def test_a_retry_after_beyond_the_deadline_gives_up_at_once(
    net: Network, server: ScriptedServer, clock: FakeClock
) -> None:
    server.script = [problem("rateLimited", 429, **{"Retry-After": "3600"})]
    with pytest.raises(Problem) as raised:
        post(net, server)
    assert raised.value.type == "urn:ietf:params:acme:error:rateLimited"
    assert clock.sleeps == []
    assert raised.value.headers["retry-after"] == "3600"  # kept for the caller (ARI reads it)


def test_client_errors_are_not_retried(
    net: Network, server: ScriptedServer, clock: FakeClock
) -> None:
    server.script = [problem("malformed", 400)]
    with pytest.raises(Problem):
        post(net, server)
    server.script = [problem("alreadyReplaced", 409)]
    with pytest.raises(Problem) as raised:
        post(net, server)
    assert (raised.value.status, raised.value.code) == (409, "alreadyReplaced")  # not dropped
    assert clock.sleeps == []


def test_a_dropped_connection_mid_session_is_retried(
    net: Network, server: ScriptedServer, clock: FakeClock
) -> None:
    net.get(server.url + "/dir")  # the CA has answered once
    server.script = [Step(drop=True), Step(201, {})]
    assert post(net, server).status == 201
    assert clock.sleeps == [1.0]
    assert len(set(server.nonces_used)) == len(server.nonces_used) == 2


def test_a_ca_that_never_answered_fails_at_once(net: Network, clock: FakeClock) -> None:
    with pytest.raises(CaUnreachable) as raised:
        net.get("https://[::1]:1/dir")
    assert raised.value.message == "the CA at [::1] refused the connection: nothing listens there"
    assert "the CA is down" in raised.value.hint
    assert clock.sleeps == []


def test_a_ca_that_keeps_dropping_connections_is_retried_until_the_deadline(
    net: Network, server: ScriptedServer, clock: FakeClock
) -> None:
    net.get(server.url + "/dir")
    server.script = [Step(drop=True)] * 10
    with pytest.raises(CaUnreachable, match=r"gave up after 6 attempts"):
        post(net, server)
    # 1+2+4+8+16 = 31 s; the next pause (30 s) would end past the 60 s budget.
    assert clock.sleeps == [1.0, 2.0, 4.0, 8.0, 16.0]


def test_an_ipv4_only_ca_is_not_retried(
    net: Network, server: ScriptedServer, clock: FakeClock
) -> None:
    net.get(server.url + "/dir")
    with pytest.raises(CaUnreachable, match=r"^192\.0\.2\.1 has no IPv6 address"):
        net.get("https://192.0.2.1/dir")
    assert clock.sleeps == []


def test_parallel_posts_never_share_a_nonce(net: Network, server: ScriptedServer) -> None:
    # An order's authorizations are fetched on several threads at once (session._in_parallel).
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=8) as pool:
        replies = list(pool.map(lambda _: net.post_as_get(server.url + "/authz"), range(64)))
    assert all(reply.status == 200 for reply in replies)
    assert len(server.nonces_used) == 64 and len(set(server.nonces_used)) == 64


def test_signed_requests_carry_kid_url_and_an_empty_payload_for_post_as_get(
    net: Network, server: ScriptedServer
) -> None:
    net.post_as_get(server.url + "/order/1")
    net.post(server.url + "/acct", {"contact": []}, embed_key=True)
    first, second = server.protected
    assert (first["kid"], first["url"], first["alg"]) == (
        "https://[::1]/acct/1",
        server.url + "/order/1",
        "ES256",
    )
    assert "jwk" not in first and server.payloads[0] == ""
    assert "kid" not in second and second["jwk"]["crv"] == "P-256"
    assert json.loads(base64.urlsafe_b64decode(server.payloads[1] + "==")) == {"contact": []}
