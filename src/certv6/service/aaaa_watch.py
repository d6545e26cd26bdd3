"""``certv6 aaaa --watch``: follow the host's address changes as the kernel reports them.

One run at start; then, whenever netlink reports an IPv6 address change
(RTM_NEWADDR / RTM_DELADDR, RTMGRP_IPV6_IFADDR), another run once the changes
have settled. A run that needs a write before the pacing allows one (a flapping
link) writes nothing and looks again when it may; a failed run is retried
later, backing off; with no news at all the records are checked every hour.
``certv6.aaaa.pacing`` has the numbers.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Protocol

from certv6.aaaa import Pacer, PacingSettings
from certv6.clock import Clock
from certv6.errors import CertV6Error
from certv6.ifaddr import AddressEvents
from certv6.ifaddr.netlink import AddressMessage
from certv6.service.aaaa_report import AaaaOutcome

log = logging.getLogger("certv6")


class Events(Protocol):
    def wait(self, timeout: float) -> list[AddressMessage] | None: ...


class Runs(Protocol):
    """What the loop needs of a ``Follower``."""

    def run(self, *, may_write: Callable[[], bool]) -> AaaaOutcome: ...


EventsFactory = Callable[[], AbstractContextManager[Events]]
Outcome = AaaaOutcome | CertV6Error


def watch(
    follower: Runs,
    pacing: PacingSettings,
    *,
    clock: Clock,
    on_outcome: Callable[[Outcome], None],
    events: EventsFactory = AddressEvents,
    keep_going: Callable[[], bool] = lambda: True,
) -> None:
    """Run until ``keep_going`` says stop (or Ctrl-C / SIGTERM raise KeyboardInterrupt).

    ``on_outcome`` gets every run's outcome, or the error that ended it.
    """
    pacer = Pacer(pacing, due=clock.monotonic())
    with events() as source:
        while keep_going():
            news = source.wait(max(0.0, pacer.due - clock.monotonic()))
            now = clock.monotonic()
            if news is None or news:
                log.debug("aaaa: address change reported (%s)", _describe(news))
                pacer.changed(now)
                continue
            if now >= pacer.due and keep_going():
                on_outcome(_run_once(follower, pacer, clock))


def _run_once(follower: Runs, pacer: Pacer, clock: Clock) -> Outcome:
    started = clock.monotonic()
    allowed_at = pacer.next_write(started)
    try:
        outcome = follower.run(may_write=lambda: clock.monotonic() >= allowed_at)
    except CertV6Error as error:
        delay = pacer.failed(clock.monotonic())
        log.warning("aaaa: %s; trying again in %.0f s", error, delay)
        return error
    now = clock.monotonic()
    if outcome.written:
        pacer.wrote(started)
        pacer.succeeded(now)
    elif outcome.pending:
        pacer.deferred(allowed_at)
        log.info(
            "aaaa: the address changed again soon after a write: writing in %.0f s",
            allowed_at - now,
        )
    else:
        pacer.succeeded(now)
    return outcome


def _describe(news: list[AddressMessage] | None) -> str:
    if news is None:
        return "notifications were lost; reading every address again"
    return ", ".join(
        f"{'+' if message.added else '-'}{message.address.address}" for message in news[:4]
    ) + (f" and {len(news) - 4} more" if len(news) > 4 else "")
