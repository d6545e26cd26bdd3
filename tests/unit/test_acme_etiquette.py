"""Etiquette towards one CA when many threads share its session (issue #19).

``certv6 renew`` renews lineages side by side over one session per CA: however
many threads, at most IN_FLIGHT requests are at the CA at once, and a Retry-After
the CA sends with a 429 or 503 holds back every request of the session, not only
the one that got it. Against scripted HTTPS servers on [::1].
"""

from __future__ import annotations

import datetime
import http.server
import socket
import ssl
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from josepy.jwk import JWKEC
from test_httpnet_retry import ScriptedServer, problem

from certv6.acme_client.network import IN_FLIGHT, Network
from fakes.clock import FakeClock
from fakes.tls import TlsFiles, make_tls


class ManualClock:
    """Time moves only when the test says so; a sleeping thread waits for it."""

    def __init__(self) -> None:
        self._now = 1000.0
        self._moved = threading.Condition()
        self.sleeping: list[float] = []

    def monotonic(self) -> float:
        return self._now

    def now(self) -> datetime.datetime:
        return datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC) + datetime.timedelta(
            seconds=self._now
        )

    def sleep(self, seconds: float) -> None:
        with self._moved:
            self.sleeping.append(seconds)
            self._moved.notify_all()
            until = self._now + seconds
            assert self._moved.wait_for(lambda: self._now >= until, timeout=30)

    async def asleep(self, seconds: float) -> None:
        raise AssertionError("not used here")

    def advance(self, seconds: float) -> None:
        with self._moved:
            self._now += seconds
            self._moved.notify_all()

    def wait_for_sleepers(self, count: int) -> None:
        with self._moved:
            assert self._moved.wait_for(lambda: len(self.sleeping) >= count, timeout=30)


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_tls(tmp_path_factory.mktemp("tls"))


def network(tls: TlsFiles, clock: Any) -> Network:
    key = JWKEC(key=ec.generate_private_key(ec.SECP256R1()))
    return Network(key, ca_bundle=str(tls.ca_bundle), clock=clock, retry_budget=60)


def test_a_retry_after_holds_every_request_of_the_session(tls: TlsFiles) -> None:
    server = ScriptedServer(tls)
    clock = ManualClock()
    net = network(tls, clock)
    server.script = [problem("rateLimited", 429, **{"Retry-After": "3"})]
    try:
        with ThreadPoolExecutor(max_workers=2) as pool:
            first = pool.submit(net.get, server.url + "/busy")
            clock.wait_for_sleepers(1)  # the first request got its 429 and waits
            second = pool.submit(net.get, server.url + "/other")
            clock.wait_for_sleepers(2)  # the second waits too, before sending anything
            assert len(server.answered) == 1
            clock.advance(3)
            assert first.result(timeout=30).status == 200
            assert second.result(timeout=30).status == 200
    finally:
        server.close()
    assert clock.sleeping == [3.0, 3.0]
    assert sorted(server.answered) == ["/busy", "/busy", "/other"]


class SlowServer:
    """Answers every GET after a moment, and counts how many it holds at once."""

    def __init__(self, tls: TlsFiles, hold: float = 0.2) -> None:
        self.most = 0
        self._now = 0
        self._lock = threading.Lock()
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                with owner._lock:
                    owner._now += 1
                    owner.most = max(owner.most, owner._now)
                threading.Event().wait(hold)
                with owner._lock:
                    owner._now -= 1
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        class Server(http.server.ThreadingHTTPServer):
            address_family = socket.AF_INET6
            daemon_threads = True

        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(tls.cert, tls.key)
        self._server = Server(("::1", 0), Handler)
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self.url = f"https://[::1]:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def slow(tls: TlsFiles) -> Iterator[SlowServer]:
    server = SlowServer(tls)
    yield server
    server.close()


def test_no_more_requests_in_flight_than_the_bound(tls: TlsFiles, slow: SlowServer) -> None:
    net = network(tls, FakeClock())
    with ThreadPoolExecutor(max_workers=3 * IN_FLIGHT) as pool:
        replies = list(pool.map(lambda _: net.get(slow.url + "/dir"), range(3 * IN_FLIGHT)))
    assert [reply.status for reply in replies] == [200] * (3 * IN_FLIGHT)
    assert slow.most <= IN_FLIGHT
