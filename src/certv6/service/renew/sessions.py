"""The CAs of one ``certv6 renew`` run: a session each, and what they asked us to wait for.

One ACME session per CA directory URL for the whole run, shared by the
lineages renewed side by side (together.py), so the etiquette of
acme_client/network.py (requests in flight, a Retry-After for everyone) holds
per CA; and per CA the run counts the orders it rate-limited in a row
(issue #19). What a rate limit means for one lineage -- the next CA of the
list, or postponed when none can issue -- is ``renew_one``'s (ca.py).
"""

from __future__ import annotations

import datetime
import threading

from certv6.acme_client import AcmeSession
from certv6.clock import Clock
from certv6.errors import AcmeError, CertV6Error, NoCaCouldIssue
from certv6.service.account import connect_account
from certv6.settings import Settings
from certv6.store import Store

# Orders the CA rate-limited in a row, after which a run stops asking it (issue #19).
RATE_LIMIT_STREAK = 3
# A rate limit without Retry-After (RFC 8555 6.6 says to send one): wait this long.
DEFAULT_POSTPONE = datetime.timedelta(hours=1)


class CaSessions:
    """One ACME session per CA directory for the whole run.

    A CA that could not be reached is not tried again for every other
    certificate of the run: its error is kept and raised again. The lineages
    of a run renewed side by side ask from their threads: one connects, the
    others wait for it.

    A CA that rate-limited RATE_LIMIT_STREAK orders in a row is held back:
    the run's other lineages do not ask it again, and go on to the next CA of
    the list, or are postponed when it has none that can issue (``renew_one``).
    """

    def __init__(self, settings: Settings, store: Store, clock: Clock) -> None:
        self._settings = settings
        self._store = store
        self._clock = clock
        self._known: dict[str, AcmeSession | CertV6Error] = {}
        self._limited: dict[str, tuple[int, datetime.datetime]] = {}  # in a row, until
        self._lock = threading.Lock()
        self._connecting: dict[str, threading.Lock] = {}

    def _at(self, server: str) -> Settings:
        # A dry run's settings name the staging CA with its options already.
        return self._settings if server == self._settings.server else self._settings.at_ca(server)

    def get(self, server: str) -> AcmeSession:
        with self._lock:
            connecting = self._connecting.setdefault(server, threading.Lock())
        # One lock per CA: a CA that takes its time to answer (or to fail)
        # holds up only the lineages that wait for that CA, not the fallback.
        with connecting:
            known = self._known.get(server)
            if known is None:
                try:
                    known = connect_account(self._at(server), self._store, self._clock)
                except CertV6Error as error:
                    known = error
                self._known[server] = known
        if isinstance(known, CertV6Error):
            raise known
        return known

    def rate_limited(self, server: str, until: datetime.datetime) -> None:
        with self._lock:
            count, latest = self._limited.get(server, (0, until))
            self._limited[server] = (count + 1, max(latest, until))

    def answered(self, server: str) -> None:
        """An order at ``server`` went through: it is not holding everyone back."""
        with self._lock:
            self._limited.pop(server, None)

    def held_back(self, server: str) -> datetime.datetime | None:
        """Until when not to ask ``server`` at all, after a streak of rate limits."""
        with self._lock:
            count, until = self._limited.get(server, (0, None))
        return until if count >= RATE_LIMIT_STREAK else None


def asked_to_wait(error: AcmeError) -> bool:
    """A rate limit, or the CA's Retry-After longer than a request waits (RFC 8555 6.6)."""
    return error.code == "rateLimited" or error.retry_after is not None


def postpone_for(error: CertV6Error) -> datetime.timedelta | None:
    """How long to postpone a renewal that ``error`` ended, or None: it failed.

    Postponed when the CA asked to wait; with a list of CAs, when none of them
    could issue now and some asked to wait: until the first of them will take
    the order again (a rate-limited CA alone never postpones a lineage another
    CA of the list can issue).
    """
    errors = error.errors if isinstance(error, NoCaCouldIssue) else (error,)
    waits = [
        each.retry_after or DEFAULT_POSTPONE
        for each in errors
        if isinstance(each, AcmeError) and asked_to_wait(each)
    ]
    return min(waits, default=None)


def held_back(ca: str, until: datetime.datetime, now: datetime.datetime) -> AcmeError:
    """What a CA held back in this run answers, without being asked (as a rate limit)."""
    return AcmeError(
        f"{ca} rate-limited {RATE_LIMIT_STREAK} orders of this run in a row; "
        f"not asked again before {until:%Y-%m-%d %H:%M} UTC",
        code="rateLimited",
        status=429,
        retry_after=max(until - now, datetime.timedelta(0)),
    )
