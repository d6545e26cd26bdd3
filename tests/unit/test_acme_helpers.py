import datetime

from certv6.acme_client.retry import MAX_RETRY_AFTER, retry_after_seconds
from fakes.clock import FakeClock

START = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)


def test_retry_after_seconds_form() -> None:
    assert retry_after_seconds({"Retry-After": "3"}, FakeClock(START), default=0.5) == 3.0


def test_retry_after_http_date_form_is_relative_to_the_injected_clock() -> None:
    headers = {"Retry-After": "Thu, 01 Jan 2026 00:00:10 GMT"}
    assert retry_after_seconds(headers, FakeClock(START), default=0.5) == 10.0


def test_retry_after_missing_or_garbage_uses_the_default() -> None:
    clock = FakeClock(START)
    assert retry_after_seconds({}, clock, default=0.25) == 0.25
    assert retry_after_seconds({"Retry-After": "soon"}, clock, default=0.25) == 0.25


def test_retry_after_is_bounded_and_never_negative() -> None:
    clock = FakeClock(START)
    assert retry_after_seconds({"Retry-After": "86400"}, clock, default=1) == MAX_RETRY_AFTER
    past = {"Retry-After": "Wed, 31 Dec 2025 23:59:00 GMT"}
    assert retry_after_seconds(past, clock, default=1) == 0.0
