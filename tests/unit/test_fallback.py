"""Which errors move an order on to the next CA of the list, and what happens when all fail.

In ``certv6 renew`` too: when a renewal is postponed rather than failed, and the run's
rate-limit streak, which is kept per CA.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pytest

from certv6.doctor.caa import CaaForbidden
from certv6.errors import (
    AccountError,
    AcmeError,
    AcmeTimeout,
    CaUnreachable,
    CertV6Error,
    ConfigError,
    NoCaCouldIssue,
    OrderError,
    PropagationTimeout,
    ProviderError,
    ValidationFailed,
)
from certv6.service.fallback import cannot_issue_now, through_cas
from certv6.service.renew.sessions import (
    DEFAULT_POSTPONE,
    RATE_LIMIT_STREAK,
    CaSessions,
    asked_to_wait,
    held_back,
    postpone_for,
)
from certv6.settings import Settings
from certv6.store import Store
from fakes.clock import FakeClock

MOVES_ON = [
    CaUnreachable("refused"),
    AcmeTimeout("the CA did not finish issuance within 120 s"),
    OrderError("slow down", code="rateLimited", status=429),
    AcmeError("HTTP 429 without a problem document", status=429),
    OrderError("oops", code="serverInternal", status=500),
    AcmeError("the CA answered HTTP 503 without a problem document", status=503),
    OrderError("CAA record forbids", code="caa", status=403),
    CaaForbidden("CAA forbids www.example.org"),
    AccountError("the account was deactivated"),
    AccountError("accept the new terms", code="userActionRequired", status=403),
    AccountError("the CA requires external account binding"),
]
STOPS = [
    ValidationFailed("the CA could not validate www.example.org"),
    OrderError("no", code="rejectedIdentifier", status=400),
    OrderError("no", code="unsupportedIdentifier", status=400),
    OrderError("bad CSR", code="badCSR", status=400),
    OrderError("malformed", code="malformed", status=400),
    AccountError("bad address", code="invalidContact", status=400),
    ConfigError("bad config"),
    ProviderError("TSIG refused"),
    PropagationTimeout("ns2 lags"),
]


@pytest.mark.parametrize("error", MOVES_ON, ids=lambda e: f"{type(e).__name__}:{e}")
def test_the_cas_own_trouble_moves_on(error: CertV6Error) -> None:
    assert cannot_issue_now(error)


@pytest.mark.parametrize("error", STOPS, ids=lambda e: f"{type(e).__name__}:{e}")
def test_what_every_ca_would_repeat_stops(error: CertV6Error) -> None:
    assert not cannot_issue_now(error)


def attempts(outcomes: dict[str, CertV6Error | str]) -> tuple[list[str], Callable[[str], str]]:
    asked: list[str] = []

    def attempt(ca: str) -> str:
        asked.append(ca)
        outcome = outcomes[ca]
        if isinstance(outcome, CertV6Error):
            raise outcome
        return outcome

    return asked, attempt


def test_the_first_ca_that_works_issues_and_the_skipped_are_named() -> None:
    asked, attempt = attempts({"a": CaUnreachable("refused"), "b": "cert", "c": "never"})
    result, skipped = through_cas(["a", "b", "c"], attempt)
    assert result == "cert" and asked == ["a", "b"]
    assert [str(s) for s in skipped] == ["a: refused"]


def test_an_error_every_ca_would_repeat_is_raised_as_it_is() -> None:
    failed = ValidationFailed("not seen")
    asked, attempt = attempts({"a": CaUnreachable("refused"), "b": failed, "c": "never"})
    with pytest.raises(ValidationFailed) as raised:
        through_cas(["a", "b", "c"], attempt)
    assert raised.value is failed and asked == ["a", "b"]


def test_every_ca_in_trouble_names_each_one() -> None:
    limit = OrderError("too many", code="rateLimited", status=429, hint="wait")
    _asked, attempt = attempts({"a": CaUnreachable("refused"), "b": limit})
    with pytest.raises(NoCaCouldIssue) as raised:
        through_cas(["a", "b"], attempt)
    assert str(raised.value) == "no CA of the list could issue: a: refused; b: too many"
    assert raised.value.hint == "wait" and raised.value.exit_code == 4


def test_a_single_ca_raises_its_own_error() -> None:
    down = CaUnreachable("refused")
    _asked, attempt = attempts({"a": down})
    with pytest.raises(CaUnreachable) as raised:
        through_cas(["a"], attempt)
    assert raised.value is down


# --- inside `certv6 renew` (issue #19's rate-limit holds with #14's list of CAs) -----------

HOUR = dt.timedelta(hours=1)
NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)


def limited(retry_after: dt.timedelta | None) -> OrderError:
    return OrderError("too many", code="rateLimited", status=429, retry_after=retry_after)


def every_ca_failed(*errors: CertV6Error) -> NoCaCouldIssue:
    names = "abcdefgh"
    _asked, attempt = attempts({names[i]: error for i, error in enumerate(errors)})
    with pytest.raises(NoCaCouldIssue) as raised:
        through_cas(list(names[: len(errors)]), attempt)
    return raised.value


def test_every_ca_is_kept_in_the_error_in_the_order_of_the_list() -> None:
    first, second = CaUnreachable("refused"), limited(HOUR)
    assert every_ca_failed(first, second).errors == (first, second)


def test_one_ca_asking_to_wait_postpones_until_the_first_that_takes_orders_again() -> None:
    both = every_ca_failed(limited(3 * HOUR), limited(HOUR / 2))
    assert postpone_for(both) == HOUR / 2
    # The other CA down: still no CA of the list could issue, and one asked to wait.
    assert postpone_for(every_ca_failed(CaUnreachable("refused"), limited(HOUR))) == HOUR
    # A rate limit without Retry-After (RFC 8555 6.6 says to send one).
    assert postpone_for(limited(None)) == DEFAULT_POSTPONE


def test_no_ca_asking_to_wait_is_a_failure() -> None:
    down = every_ca_failed(CaUnreachable("refused"), AcmeTimeout("slow"))
    assert postpone_for(down) is None
    assert postpone_for(ValidationFailed("not seen")) is None


def test_a_ca_held_back_in_the_run_moves_the_order_on_without_asking_it() -> None:
    error = held_back("https://ca.example/dir", NOW + HOUR, NOW)
    assert cannot_issue_now(error) and asked_to_wait(error)
    assert error.retry_after == HOUR and "not asked again before" in str(error)
    asked, attempt = attempts({"a": error, "b": "cert"})
    assert through_cas(["a", "b"], attempt)[0] == "cert" and asked == ["a", "b"]


def test_the_streak_is_counted_per_ca_url(tmp_path: Path) -> None:
    sessions = CaSessions(Settings(state_dir=tmp_path), Store(tmp_path), FakeClock(NOW))
    for _ in range(RATE_LIMIT_STREAK - 1):
        sessions.rate_limited("https://a.example/dir", NOW + HOUR)
    sessions.rate_limited("https://b.example/dir", NOW + HOUR)
    assert sessions.held_back("https://a.example/dir") is None
    sessions.rate_limited("https://a.example/dir", NOW + 2 * HOUR)
    assert sessions.held_back("https://a.example/dir") == NOW + 2 * HOUR
    assert sessions.held_back("https://b.example/dir") is None
    sessions.answered("https://a.example/dir")  # an order went through: the streak ends
    assert sessions.held_back("https://a.example/dir") is None
