"""Which errors move an order on to the next CA of the list, and what happens when all fail."""

from __future__ import annotations

from collections.abc import Callable

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
