"""The due lineages of one ``certv6 renew`` run, renewed side by side (issue #19).

Each lineage still runs the whole issuance recipe (``service/issue.py``) on a
thread of its own, so its failure stays its own; what the lineages share is
handed to ``issue()`` as its ``Sharing``:

- one ACME session per CA for the run (``ca.CaSessions``), whose requests in
  flight are bounded and whose Retry-After holds for everyone (acme_client);
- one resolver, whose answers (zones, nameservers) every lineage reuses;
- the UPDATEs: one call of the provider for the values of every lineage that
  publishes at that moment (``batch.py``);
- the wait: one propagation check for all of them (``propagation.shared``),
  from which each lineage returns as soon as its own values are visible.

``renew_concurrency`` bounds the lineages *worked on* at once (a work slot:
ordering, answering, finalizing, storing). Waiting holds no slot -- for the
DNS, for the CA's validation and issuance polls, for a Retry-After -- so
a hundred lineages wait for a lagging secondary together, not in turns.
At most IN_FLIGHT lineages are between their start and their end at once.

Interrupted (Ctrl-C, SIGTERM in the main thread), the run stops starting
lineages and every running one stops at its next wait, removes what it
published and ends; then the interrupt goes on (exit 130, or 14 when some
lineage could not remove its values).
"""

from __future__ import annotations

import contextlib
import datetime
import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import TypeVar

from certv6 import propagation
from certv6.acme_client import AcmeSession
from certv6.clock import Clock
from certv6.dnsquery import Dns
from certv6.errors import CleanupIncomplete
from certv6.model import TxtRecord
from certv6.propagation.shared import CheckStopped, SharedCheck
from certv6.providers import Provider
from certv6.service.renew.batch import Batcher
from certv6.service.renew.sessions import CaSessions
from certv6.service.runtime import build_dns
from certv6.service.sharing import Progress
from certv6.settings import Settings
from certv6.store import Store

Item = TypeVar("Item")
Result = TypeVar("Result")

IN_FLIGHT = 250
THREAD_PREFIX = "certv6-renew:"
SLEEP_STEP = 0.25  # how soon a sleeping lineage notices an interrupt


class WorkSlots:
    """At most ``size`` threads hold a slot; a thread gives its slot up while it waits."""

    def __init__(self, size: int) -> None:
        self._slots = threading.BoundedSemaphore(size)
        self._mine = threading.local()

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        self._slots.acquire()
        self._mine.held = True
        try:
            yield
        finally:
            self._mine.held = False
            self._slots.release()

    @contextlib.contextmanager
    def released(self) -> Iterator[None]:
        """Give this thread's slot to another lineage for the block (no slot: nothing to do)."""
        if not getattr(self._mine, "held", False):
            yield
            return
        self._mine.held = False
        self._slots.release()
        try:
            yield
        finally:
            self._slots.acquire()
            self._mine.held = True


class RunClock:
    """The run's clock for the lineages: a sleep frees the work slot and ends on interrupt."""

    def __init__(self, base: Clock, slots: WorkSlots, cancelled: threading.Event) -> None:
        self.base = base
        self._slots = slots
        self._cancelled = cancelled

    def monotonic(self) -> float:
        return self.base.monotonic()

    def now(self) -> datetime.datetime:
        return self.base.now()

    def sleep(self, seconds: float) -> None:
        with self._slots.released():
            left = seconds
            while True:
                if self._cancelled.is_set():
                    raise KeyboardInterrupt
                if left <= 0:
                    return
                step = min(left, SLEEP_STEP)
                self.base.sleep(step)
                left -= step

    async def asleep(self, seconds: float) -> None:
        await self.base.asleep(seconds)


class Together:
    """What the lineages of one run share (a ``Sharing`` for ``issue()``), and the threads."""

    warm_up = False  # a shared session answers at once: nothing to overlap with

    def __init__(self, clock: Clock, *, concurrency: int) -> None:
        self.cancelled = threading.Event()
        self.slots = WorkSlots(concurrency)
        self.clock = RunClock(clock, self.slots, self.cancelled)
        self.batcher = Batcher()
        self._base_clock = clock
        self._sessions: dict[Path, CaSessions] = {}
        self._lock = threading.Lock()
        self._resolvers: dict[tuple[tuple[str, ...], bool], Dns] = {}
        self._checks: dict[propagation.PropagationSettings, SharedCheck] = {}

    # --- Sharing ---------------------------------------------------------------------------

    def dns(self, settings: Settings) -> Dns:
        key = (settings.resolvers, settings.allow_ipv4)
        with self._lock:
            if key not in self._resolvers:
                self._resolvers[key] = build_dns(settings)
            return self._resolvers[key]

    def remove_stale(self, settings: Settings, store: Store, dns: Dns, clock: Clock) -> None:
        """Done once, by the run, before any lineage started (recipe.py step 2)."""

    def session(self, settings: Settings, store: Store, clock: Clock) -> AcmeSession:
        return self.sessions(settings, store).get(settings.server)

    def sessions(self, settings: Settings, store: Store) -> CaSessions:
        """The run's sessions with the CAs of ``store``'s accounts (live, or a dry run's)."""
        with self._lock:
            if store.root not in self._sessions:
                self._sessions[store.root] = CaSessions(settings, store, self.clock)
            return self._sessions[store.root]

    def provider(self, provider: Provider) -> Provider:
        return self.batcher.provider(provider)

    def wait_until_visible(
        self,
        records: Sequence[TxtRecord],
        settings: propagation.PropagationSettings,
        *,
        dns: Dns,
        clock: Clock,
        progress: Progress | None,
    ) -> propagation.Report:
        check = self._check(settings)
        with self.slots.released():
            try:
                return check.wait(records, dns=dns, progress=progress)
            except CheckStopped:
                if self.cancelled.is_set():
                    raise KeyboardInterrupt from None
                raise

    # --- the threads -------------------------------------------------------------------------

    def each(
        self,
        work: Callable[[Item], Result],
        items: Sequence[Item],
        done: Callable[[Item, Result], None],
        label: Callable[[Item], str],
    ) -> None:
        """``work`` on every item side by side, each in a work slot; ``done`` as each ends.

        ``label`` names an item in the log lines of its thread (they interleave).

        ``done`` runs in the calling thread, in the order the items end. ``work``
        must turn its failures into results: what it raises ends the run.

        Raises:
            KeyboardInterrupt: interrupted; every running item stopped and cleaned up.
            CleanupIncomplete: interrupted, and some item could not remove its values.
        """
        if not items:
            return
        workers = min(len(items), IN_FLIGHT)
        with (
            _lineage_names(),
            ThreadPoolExecutor(max_workers=workers, thread_name_prefix="certv6-renew") as pool,
        ):
            started = {pool.submit(self._held, work, item, label(item)): item for item in items}
            try:
                for future in as_completed(started):
                    done(started[future], future.result())
            except BaseException:
                self.cancel()
                pool.shutdown(wait=True, cancel_futures=True)
                raise _interrupted(started) from None

    def cancel(self) -> None:
        """Stop: no lineage starts, every wait and sleep ends with KeyboardInterrupt."""
        self.cancelled.set()
        self._close(KeyboardInterrupt())

    def close(self) -> None:
        self._close(None)

    def _held(self, work: Callable[[Item], Result], item: Item, label: str) -> Result:
        if self.cancelled.is_set():
            raise KeyboardInterrupt
        threading.current_thread().name = f"{THREAD_PREFIX}{label}"
        with self.slots.held():
            return work(item)

    def _check(self, settings: propagation.PropagationSettings) -> SharedCheck:
        with self._lock:
            if settings not in self._checks:
                self._checks[settings] = SharedCheck(settings, clock=self._base_clock)
            return self._checks[settings]

    def _close(self, reason: BaseException | None) -> None:
        with self._lock:
            checks = list(self._checks.values())
        for check in checks:
            check.close(reason)


def _interrupted(started: dict[Future[Result], Item]) -> BaseException:
    """What an interrupted run raises: a lineage's CleanupIncomplete wins (exit 14)."""
    for future in started:
        if future.done() and not future.cancelled():
            error = future.exception()
            if isinstance(error, CleanupIncomplete):
                return error
    return KeyboardInterrupt()


class _LineageName(logging.Filter):
    """Prefix the log lines of a lineage's thread with its name, unless they start with it."""

    def filter(self, record: logging.LogRecord) -> bool:
        name = record.threadName or ""
        if name.startswith(THREAD_PREFIX) and not getattr(record, "certv6_named", False):
            lineage = name.removeprefix(THREAD_PREFIX).split("/")[0]  # parallel.py's workers
            message = record.getMessage()
            if not message.startswith(f"{lineage}:"):
                record.msg, record.args = f"{lineage}: {message}", ()
            record.certv6_named = True
        return True


@contextlib.contextmanager
def _lineage_names() -> Iterator[None]:
    handlers = list(logging.getLogger().handlers)
    named = _LineageName()
    for handler in handlers:
        handler.addFilter(named)
    try:
        yield
    finally:
        for handler in handlers:
            handler.removeFilter(named)
