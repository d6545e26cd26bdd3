"""What issue says about a standing dns-persist-01 record (service/standing.py), no DNS."""

from __future__ import annotations

import datetime as dt

import pytest

from certv6 import dnspersist
from certv6.dnspersist import Expectation
from certv6.service.standing import (
    ServerView,
    StandingCheck,
    StandingRecordError,
    ending_before,
    require,
)

ACCOUNT = "https://ca.example/acct/1"
EXPECTED = Expectation(("ca.example",), ACCOUNT, wildcard=True)
NOW = dt.datetime(2026, 12, 3, tzinfo=dt.UTC)
OWNER = "_validation-persist.example.org."


def judged(*per_server: list[str] | None) -> StandingCheck:
    views = []
    for index, texts in enumerate(per_server):
        verdict = None if texts is None else dnspersist.judge(texts, EXPECTED, now=NOW)
        views.append(
            ServerView(
                f"ns{index + 1}.example.org [2001:db8::{index + 1}]",
                None if texts is None else tuple(texts),
                verdict,
            )
        )
    answered = [v for v in views if v.verdict is not None]
    failing = [v for v in answered if v.verdict is not None and not v.verdict.ok]
    first = (failing or answered)[0].verdict
    assert first is not None
    where = "" if len(failing) in (0, len(views)) else ", ".join(v.label for v in failing)
    return StandingCheck(OWNER, OWNER, EXPECTED, first, tuple(views), where)


def test_the_error_shows_the_record_as_it_is_and_as_it_must_be() -> None:
    bad = f"ca.example; accounturi={ACCOUNT}"
    with pytest.raises(StandingRecordError) as raised:
        require([judged([bad], [bad])], strict=False)
    error = raised.value
    assert error.exit_code == 6
    assert str(error) == (
        "_validation-persist.example.org: the standing dns-persist-01 record is no wildcard "
        "policy: a wildcard certificate needs policy=wildcard in it\n"
        f'  is:      "{bad}"\n'
        f'  must be: "ca.example; accounturi={ACCOUNT}; policy=wildcard"'
    )
    assert "certv6 never writes it" in error.hint


def test_one_server_without_the_record_is_enough_to_stop() -> None:
    good = f"ca.example; accounturi={ACCOUNT}; policy=wildcard"
    with pytest.raises(StandingRecordError, match=r"is missing at ns2.example.org \[2001:db8::2\]"):
        require([judged([good], [])], strict=False)


def test_a_server_that_did_not_answer_is_a_warning_or_under_strict_an_error() -> None:
    good = f"ca.example; accounturi={ACCOUNT}; policy=wildcard"
    (warning,) = require([judged([good], None)], strict=False)
    assert "not checked at ns2.example.org [2001:db8::2] (no answer)" in warning
    with pytest.raises(StandingRecordError, match="not checked"):
        require([judged([good], None)], strict=True)


def test_a_persist_until_before_the_certificates_end_is_a_warning() -> None:
    until = int(dt.datetime(2027, 1, 1, tzinfo=dt.UTC).timestamp())
    check = judged([f"ca.example; accounturi={ACCOUNT}; policy=wildcard; persistUntil={until}"])
    assert require([check], strict=False) == ()
    (note,) = ending_before([check], dt.datetime(2027, 3, 1, tzinfo=dt.UTC))
    assert "stops authorizing at 2027-01-01 00:00 UTC (persistUntil)" in note
    assert ending_before([check], dt.datetime(2026, 12, 30, tzinfo=dt.UTC)) == ()
