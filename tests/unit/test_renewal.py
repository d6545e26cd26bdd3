"""certv6.renewal: when a certificate is due, from its validity and the CA's ARI answers."""

from __future__ import annotations

import datetime as dt
import random

import pytest

from certv6 import renewal
from certv6.renewal import AriState, Certificate, Window, decide

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
HOUR = dt.timedelta(hours=1)


def seeded(seed: int) -> random.Random:
    return random.Random(seed)  # noqa: S311 (a repeatable draw is the point, not secrecy)


def cert(days: float = 90, serial: str = "abc") -> Certificate:
    return Certificate(serial, T0, T0 + dt.timedelta(days=days))


def answered(
    certificate: Certificate,
    window: Window | None,
    *,
    now: dt.datetime = T0,
    retry: dt.timedelta | None = None,
    previous: AriState | None = None,
    seed: int = 1,
) -> AriState:
    return renewal.after_answer(
        previous,
        certificate,
        cert_id="id",
        window=window,
        retry_after=retry,
        explanation_url=None,
        now=now,
        rng=seeded(seed),
    )


# --- the fallback: thirds and halves ---------------------------------------------------


def test_ninety_days_renews_with_a_third_left() -> None:
    at = renewal.default_renewal_time(T0, T0 + 90 * DAY)
    assert at == T0 + 60 * DAY
    assert not decide(cert(), None, now=at - dt.timedelta(seconds=1)).due
    decision = decide(cert(), None, now=at)
    assert decision.due and decision.reason == "a third of the lifetime left"


def test_short_lived_renews_at_half_its_lifetime() -> None:
    six_days = cert(days=6)
    assert six_days.short_lived
    assert renewal.default_renewal_time(six_days.not_before, six_days.not_after) == T0 + 3 * DAY
    decision = decide(six_days, None, now=T0 + 3 * DAY)
    assert decision.due and decision.reason == "half of the lifetime left"
    assert not decide(six_days, None, now=T0 + 3 * DAY - HOUR).due


def test_ten_days_is_not_short_lived() -> None:
    assert not cert(days=10).short_lived
    assert renewal.default_renewal_time(T0, T0 + 9 * DAY) == T0 + 4.5 * DAY


def test_expired_is_due_and_never_asks_the_ca() -> None:
    decision = decide(cert(), None, now=T0 + 91 * DAY)
    assert decision.due and not decision.check_ari and decision.reason == "expired"


# --- when to ask the CA ------------------------------------------------------------------


def test_unknown_state_asks_the_ca() -> None:
    assert decide(cert(), None, now=T0).check_ari


def test_state_of_another_certificate_is_ignored() -> None:
    old = answered(cert(serial="old"), Window(T0, T0 + HOUR))
    decision = decide(cert(serial="new"), old, now=T0 + 2 * DAY)
    assert decision.check_ari
    assert not decision.due  # the fallback decides, not the old certificate's window


def test_retry_after_is_honoured_and_clamped() -> None:
    window = Window(T0 + 50 * DAY, T0 + 52 * DAY)
    state = answered(cert(), window, retry=dt.timedelta(hours=3))
    assert state.next_check == T0 + 3 * HOUR
    assert not decide(cert(), state, now=T0 + 3 * HOUR - dt.timedelta(seconds=1)).check_ari
    assert decide(cert(), state, now=T0 + 3 * HOUR).check_ari
    # RFC 9773 4.3: under a minute counts as a minute, over a day as a day; none as 6 hours.
    minute = dt.timedelta(minutes=1)
    assert answered(cert(), window, retry=dt.timedelta(seconds=5)).next_check == T0 + minute
    assert answered(cert(), window, retry=9 * DAY).next_check == T0 + DAY
    assert answered(cert(), window, retry=None).next_check == T0 + 6 * HOUR


def test_a_ca_without_ari_is_looked_at_again_in_a_week() -> None:
    state = renewal.not_offered(cert(), now=T0)
    assert not state.offered
    assert not decide(cert(), state, now=T0 + 6 * DAY).check_ari
    assert decide(cert(), state, now=T0 + 7 * DAY).check_ari
    assert decide(cert(), state, now=T0 + 60 * DAY).due  # the fallback applies


# --- the ARI window -------------------------------------------------------------------------


def test_moment_is_uniform_inside_the_window() -> None:
    window = Window(T0 + 40 * DAY, T0 + 42 * DAY)
    rng = seeded(7)
    moments = [renewal.pick_moment(window, rng) for _ in range(2000)]
    assert all(window.start <= moment <= window.end for moment in moments)
    first_half = sum(moment < window.start + DAY for moment in moments)
    assert 900 < first_half < 1100


def test_the_ca_window_wins_over_the_fallback_both_ways() -> None:
    early = answered(cert(), Window(T0 + 10 * DAY, T0 + 10 * DAY + HOUR))  # e.g. revocation
    assert decide(cert(), early, now=T0 + 10 * DAY + HOUR).due
    late = answered(cert(), Window(T0 + 80 * DAY, T0 + 81 * DAY))
    decision = decide(cert(), late, now=T0 + 61 * DAY)
    assert not decision.due and decision.reason == "ARI window"


def test_a_moment_before_the_next_wake_up_means_now() -> None:
    # RFC 9773 4.2 step 5: the timer wakes every 12 hours.
    state = answered(cert(), Window(T0 + 30 * DAY, T0 + 30 * DAY + dt.timedelta(minutes=1)))
    assert state.renew_at is not None
    assert decide(cert(), state, now=state.renew_at - 11 * HOUR).due
    assert not decide(cert(), state, now=state.renew_at - 13 * HOUR).due


def test_same_window_keeps_the_chosen_moment_a_new_one_rolls_again() -> None:
    window = Window(T0 + 40 * DAY, T0 + 50 * DAY)
    first = answered(cert(), window, seed=1)
    again = answered(cert(), window, previous=first, seed=2, now=T0 + DAY)
    assert again.renew_at == first.renew_at
    assert again.next_check == T0 + DAY + 6 * HOUR
    moved = answered(cert(), Window(T0 + 20 * DAY, T0 + 21 * DAY), previous=first, seed=2)
    assert moved.renew_at is not None and moved.renew_at < T0 + 21 * DAY


def test_invalid_window_counts_as_no_answer() -> None:
    # RFC 9773 4.2: end at or before start is invalid.
    state = answered(cert(), Window(T0 + 40 * DAY, T0 + 40 * DAY), retry=dt.timedelta(hours=1))
    assert state.window is None and state.renew_at is None
    assert state.next_check == T0 + 6 * HOUR


def test_a_failed_check_keeps_what_was_known() -> None:
    known = answered(cert(), Window(T0 + 40 * DAY, T0 + 41 * DAY))
    failed = renewal.after_failure(
        known, cert(), cert_id="", now=T0 + DAY, retry_after=dt.timedelta(hours=2)
    )
    assert failed.renew_at == known.renew_at and failed.cert_id == "id"
    assert failed.next_check == T0 + DAY + 2 * HOUR


# --- ari.json --------------------------------------------------------------------------------


def test_state_survives_json_and_nonsense_reads_as_none() -> None:
    state = answered(cert(), Window(T0 + DAY, T0 + 2 * DAY + dt.timedelta(microseconds=5)))
    assert AriState.from_json(state.to_json()) == state
    assert AriState.from_json({"serial": "x"}) is None
    assert AriState.from_json({"serial": "x", "offered": True, "next_check": "soon"}) is None
    assert AriState.from_json([1, 2]) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-01-01T00:00:00Z", T0),
        ("2026-01-01T01:00:00+01:00", T0),
        ("2026-01-01T00:00:00", T0),  # naive means UTC
    ],
)
def test_times_are_aware_utc(text: str, expected: dt.datetime) -> None:
    parsed = renewal.parse_time(text)
    assert parsed == expected and parsed.tzinfo == dt.UTC
