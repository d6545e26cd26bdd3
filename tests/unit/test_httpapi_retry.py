"""providers/httpapi.py: a busy or failing API is asked again, bounded, honouring Retry-After.

A stand-in HTTPS server on [::1] answers each request with the next scripted
reply (429 and 503 first); time is a FakeClock, so the waits are asserted
exactly and never spent.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from certv6.errors import ProviderError, ProviderUnreachable
from certv6.providers.httpapi import ApiClient
from fakes.clock import FakeClock
from fakes.https import HttpsServer, Reply, Request
from fakes.ports import free_port
from fakes.tls import make_tls


class Script:
    def __init__(self) -> None:
        self.replies: list[Reply] = []

    def __call__(self, request: Request) -> Reply:
        return self.replies.pop(0) if self.replies else Reply(200, {"ok": True})


@pytest.fixture
def script() -> Script:
    return Script()


@pytest.fixture
def server(script: Script, tmp_path: Path) -> Iterator[HttpsServer]:
    with HttpsServer(script, make_tls(tmp_path)) as running:
        yield running


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def client(url: str, tmp_path: Path, clock: FakeClock) -> ApiClient:
    return ApiClient("hoster", url, ca_bundle=str(tmp_path / "ca.pem"), clock=clock)


def busy(status: int, retry_after: str | None = None) -> Reply:
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    return Reply(status, {"message": "slow down"}, headers)


def test_a_503_with_retry_after_is_asked_again_after_that_long(
    server: HttpsServer, script: Script, tmp_path: Path, clock: FakeClock
) -> None:
    script.replies = [busy(503, "3")]
    api = client(server.url, tmp_path, clock)
    assert api.request("GET", "/zone", operation="present").status_code == 200
    assert clock.sleeps == [3.0]
    assert len(server.requests) == 2


def test_429_without_retry_after_backs_off_for_any_method(
    server: HttpsServer, script: Script, tmp_path: Path, clock: FakeClock
) -> None:
    # 429 means the request was refused unprocessed (RFC 6585 4): even a POST may go again.
    script.replies = [busy(429), busy(429)]
    api = client(server.url, tmp_path, clock)
    api.request("POST", "/records", operation="present", body={"v": 1})
    assert clock.sleeps == [0.5, 1.0]
    assert [r.method for r in server.requests] == ["POST"] * 3


def test_a_5xx_after_a_post_is_not_retried(
    server: HttpsServer, script: Script, tmp_path: Path, clock: FakeClock
) -> None:
    # The API may have done it before failing: sending it again could do it twice.
    script.replies = [busy(503, "1")]
    api = client(server.url, tmp_path, clock)
    with pytest.raises(ProviderError, match="busy or failing"):
        api.request("POST", "/update", operation="present", body={"v": 1})
    assert clock.sleeps == [] and len(server.requests) == 1


def test_put_and_delete_are_retried_but_not_a_501(
    server: HttpsServer, script: Script, tmp_path: Path, clock: FakeClock
) -> None:
    api = client(server.url, tmp_path, clock)
    script.replies = [busy(502)]
    api.request("PUT", "/r", operation="present", body={})
    script.replies = [busy(504)]
    api.request("DELETE", "/r", operation="cleanup")
    assert clock.sleeps == [0.5, 0.5]
    script.replies = [busy(501)]
    with pytest.raises(ProviderError, match="HTTP 501"):
        api.request("GET", "/r", operation="present")
    assert len(clock.sleeps) == 2


def test_a_retry_after_past_the_budget_fails_at_once_and_says_so(
    server: HttpsServer, script: Script, tmp_path: Path, clock: FakeClock
) -> None:
    script.replies = [busy(429, "3600")]
    api = client(server.url, tmp_path, clock)
    with pytest.raises(ProviderError) as raised:
        api.request("GET", "/r", operation="present", record="_acme-challenge.x. TXT")
    assert clock.sleeps == []  # never earlier than asked, and not an hour either
    assert "(it asks to wait 3600 s)" in raised.value.message
    assert "try again later" in (raised.value.hint or "")


def test_an_api_that_keeps_failing_is_given_up_on_after_a_bounded_number_of_tries(
    server: HttpsServer, script: Script, tmp_path: Path, clock: FakeClock
) -> None:
    script.replies = [busy(500)] * 10
    api = client(server.url, tmp_path, clock)
    with pytest.raises(ProviderError, match="after 6 attempts"):
        api.request("GET", "/r", operation="present")
    assert clock.sleeps == [0.5, 1.0, 2.0, 4.0, 8.0]
    assert len(server.requests) == 6


def test_the_retry_budget_bounds_the_total_wait(
    server: HttpsServer, script: Script, tmp_path: Path, clock: FakeClock
) -> None:
    script.replies = [busy(503, "25")] * 5
    api = ApiClient(
        "hoster", server.url, ca_bundle=str(tmp_path / "ca.pem"), clock=clock, retry_budget=60
    )
    with pytest.raises(ProviderError, match="after 3 attempts"):
        api.request("GET", "/r", operation="present")
    assert clock.sleeps == [25.0, 25.0]  # a third wait would end past 60 s


def test_refused_connections_are_retried_for_idempotent_requests_only(
    tmp_path: Path, clock: FakeClock
) -> None:
    make_tls(tmp_path)
    api = client(f"https://[::1]:{free_port()}", tmp_path, clock)  # nothing listens there
    with pytest.raises(ProviderUnreachable, match=r"gave up after 6 attempts"):
        api.request("GET", "/r", operation="present")
    assert clock.sleeps == [0.5, 1.0, 2.0, 4.0, 8.0]
    with pytest.raises(ProviderUnreachable) as raised:
        api.request("POST", "/r", operation="present", body={})
    assert "attempts" not in raised.value.message
    assert len(clock.sleeps) == 5
