"""When a certificate is due for renewal: pure decisions, no I/O, time and chance injected.

The CA's word comes first. When it offers ARI (RFC 9773), it suggests a window;
we pick a uniform random moment inside it (section 4.2) so that a CA's clients
do not all come at once, and renew when that moment is before our next
wake-up. ARI is asked again only after its Retry-After (section 4.3), clamped
to between a minute and a day; without a usable answer, six hours later
(section 4.3.3).

Without ARI, the fallback: renew when a third of the lifetime is left, or half
of it for certificates that live under ten days (short-lived profiles), as
Let's Encrypt recommends. Either way, an expired certificate is due at once.
"""

from __future__ import annotations

import datetime
import random
from dataclasses import dataclass, replace
from typing import Any

SHORT_LIVED = datetime.timedelta(days=10)
ARI_RETRY_DEFAULT = datetime.timedelta(hours=6)  # RFC 9773 4.3.3
ARI_RETRY_MIN = datetime.timedelta(minutes=1)  # RFC 9773 4.3: "reasonable limits"
ARI_RETRY_MAX = datetime.timedelta(days=1)
# A CA without renewalInfo rarely starts offering it: look at its directory weekly,
# so a run with nothing due stays free of network traffic.
NO_ARI_RECHECK = datetime.timedelta(days=7)
# How often the systemd timer runs `certv6 renew` (twice a day).
WAKE_INTERVAL = datetime.timedelta(hours=12)


@dataclass(frozen=True, slots=True)
class Certificate:
    """The facts of the current certificate that decide its renewal (from meta.json)."""

    serial: str
    not_before: datetime.datetime
    not_after: datetime.datetime

    @property
    def short_lived(self) -> bool:
        return self.not_after - self.not_before < SHORT_LIVED


@dataclass(frozen=True, slots=True)
class Window:
    """The CA's suggested renewal window (RFC 9773 4.2), both ends aware UTC."""

    start: datetime.datetime
    end: datetime.datetime

    @property
    def valid(self) -> bool:
        # RFC 9773 4.2: end at or before start is invalid and counts as no answer.
        return self.end > self.start


@dataclass(frozen=True, slots=True)
class AriState:
    """What the CA last said about one certificate; kept in the lineage's ari.json."""

    serial: str  # the certificate this is about; another serial makes it stale
    offered: bool  # False: the CA's directory has no renewalInfo
    next_check: datetime.datetime
    cert_id: str = ""  # RFC 9773 4.1; also the value of `replaces`
    window: Window | None = None
    renew_at: datetime.datetime | None = None  # our random moment inside the window
    explanation_url: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "serial": self.serial,
            "offered": self.offered,
            "next_check": _iso(self.next_check),
            "cert_id": self.cert_id,
            "window": [_iso(self.window.start), _iso(self.window.end)] if self.window else None,
            "renew_at": _iso(self.renew_at) if self.renew_at else None,
            "explanation_url": self.explanation_url,
        }

    @classmethod
    def from_json(cls, data: Any) -> AriState | None:
        """The state, or None for a file that is not one (it is then asked again)."""
        try:
            window = data.get("window")
            renew_at = data.get("renew_at")
            return cls(
                serial=str(data["serial"]),
                offered=bool(data["offered"]),
                next_check=parse_time(data["next_check"]),
                cert_id=str(data.get("cert_id") or ""),
                window=Window(parse_time(window[0]), parse_time(window[1])) if window else None,
                renew_at=parse_time(renew_at) if renew_at else None,
                explanation_url=data.get("explanation_url") or None,
            )
        except (AttributeError, KeyError, IndexError, TypeError, ValueError):
            return None


@dataclass(frozen=True, slots=True)
class Decision:
    due: bool
    renew_at: datetime.datetime
    reason: str
    check_ari: bool  # the CA should be asked (again) before deciding for good


def default_renewal_time(
    not_before: datetime.datetime, not_after: datetime.datetime
) -> datetime.datetime:
    lifetime = not_after - not_before
    remaining_share = 2 if lifetime < SHORT_LIVED else 3
    return not_after - lifetime / remaining_share


def decide(
    certificate: Certificate,
    ari: AriState | None,
    *,
    now: datetime.datetime,
    wake: datetime.timedelta = WAKE_INTERVAL,
) -> Decision:
    """Is ``certificate`` due now, and should the CA's renewal info be fetched first?"""
    if now >= certificate.not_after:
        # RFC 9773 4.3: never ask about an expired certificate; just renew it.
        return Decision(True, certificate.not_after, "expired", check_ari=False)
    state = ari if ari is not None and ari.serial == certificate.serial else None
    check = state is None or (now >= state.next_check)
    if state is not None and state.renew_at is not None:
        # RFC 9773 4.2 step 5: a moment before our next wake-up means now.
        return Decision(state.renew_at <= now + wake, state.renew_at, "ARI window", check)
    at = default_renewal_time(certificate.not_before, certificate.not_after)
    share = "half" if certificate.short_lived else "a third"
    return Decision(at <= now, at, f"{share} of the lifetime left", check)


def revoked(at: datetime.datetime, reason: str) -> Decision:
    """A certificate revoked through certv6 is due at once (issue #13): replace it."""
    return Decision(True, at, f"revoked ({reason})", check_ari=False)


def postponed(decision: Decision, until: datetime.datetime, reason: str) -> Decision:
    """Due, but the CA asked to wait (a rate limit's Retry-After): not before ``until``."""
    return replace(decision, due=False, renew_at=until, reason=f"postponed by the CA: {reason}")


def retry_interval(retry_after: datetime.timedelta | None) -> datetime.timedelta:
    """When to ask again: the CA's Retry-After within [1 min, 1 day], else 6 hours."""
    if retry_after is None:
        return ARI_RETRY_DEFAULT
    return min(max(retry_after, ARI_RETRY_MIN), ARI_RETRY_MAX)


def pick_moment(window: Window, rng: random.Random) -> datetime.datetime:
    """A uniformly random moment inside the window (RFC 9773 4.2 step 2)."""
    span = (window.end - window.start).total_seconds()
    return window.start + datetime.timedelta(seconds=rng.uniform(0.0, span))


def after_answer(
    previous: AriState | None,
    certificate: Certificate,
    *,
    cert_id: str,
    window: Window | None,
    retry_after: datetime.timedelta | None,
    explanation_url: str | None,
    now: datetime.datetime,
    rng: random.Random,
) -> AriState:
    """The state after the CA answered with a RenewalInfo object."""
    if window is None or not window.valid:
        return after_failure(previous, certificate, cert_id=cert_id, now=now)
    known = previous if previous is not None and previous.serial == certificate.serial else None
    # The same window again keeps the moment already chosen: re-rolling at every
    # check would pull renewals towards the window's start.
    if known is not None and known.window == window and known.renew_at is not None:
        renew_at = known.renew_at
    else:
        renew_at = pick_moment(window, rng)
    return AriState(
        serial=certificate.serial,
        offered=True,
        next_check=now + retry_interval(retry_after),
        cert_id=cert_id,
        window=window,
        renew_at=renew_at,
        explanation_url=explanation_url,
    )


def after_failure(
    previous: AriState | None,
    certificate: Certificate,
    *,
    cert_id: str,
    now: datetime.datetime,
    retry_after: datetime.timedelta | None = None,
) -> AriState:
    """The state after asking failed: keep what was known, ask again later (RFC 9773 4.3.2)."""
    next_check = now + retry_interval(retry_after)
    if previous is not None and previous.serial == certificate.serial and previous.offered:
        return replace(previous, next_check=next_check, cert_id=cert_id or previous.cert_id)
    return AriState(certificate.serial, offered=True, next_check=next_check, cert_id=cert_id)


def not_offered(certificate: Certificate, *, now: datetime.datetime) -> AriState:
    """The CA's directory has no renewalInfo: use the fallback, look again in a week."""
    return AriState(certificate.serial, offered=False, next_check=now + NO_ARI_RECHECK)


def parse_time(text: Any) -> datetime.datetime:
    """An ISO 8601 / RFC 3339 time as aware UTC (a naive one is taken as UTC)."""
    moment = datetime.datetime.fromisoformat(str(text))
    return aware_utc(moment)


def aware_utc(moment: datetime.datetime) -> datetime.datetime:
    if moment.tzinfo is None:
        return moment.replace(tzinfo=datetime.UTC)
    return moment.astimezone(datetime.UTC)


def _iso(moment: datetime.datetime) -> str:
    # Full precision: a window read back must compare equal to the same window fetched again.
    return moment.isoformat()
