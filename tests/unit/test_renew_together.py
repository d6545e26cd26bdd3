"""What the lineages of one renew run share (issue #19): provider calls, work slots, interrupts."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import pytest

from certv6.errors import CleanupIncomplete, ProviderError
from certv6.model import ProviderHints, TxtRecord
from certv6.service.renew.batch import Batcher
from certv6.service.renew.together import RunClock, Together, WorkSlots
from fakes.clock import FakeClock


class Recording:
    """A provider that records its calls, refuses one owner, and can hold a call open."""

    def __init__(self, name: str = "rfc2136", refused: str = "") -> None:
        self.name = name
        self.refused = refused
        self.calls: list[tuple[str, tuple[str, ...]]] = []
        self.entered = threading.Event()
        self.release = threading.Event()
        self.release.set()

    def present(self, records: Sequence[TxtRecord]) -> None:
        self._call("present", records)

    def cleanup(self, records: Sequence[TxtRecord]) -> None:
        self._call("cleanup", records)

    def hints(self) -> ProviderHints:
        return ProviderHints()

    def preflight(self) -> None:
        pass

    def _call(self, operation: str, records: Sequence[TxtRecord]) -> None:
        self.calls.append((operation, tuple(record.owner for record in records)))
        self.entered.set()
        assert self.release.wait(10)
        if any(record.owner == self.refused for record in records):
            raise ProviderError(f"REFUSED for {self.refused}", provider=self.name)


def record(label: str) -> TxtRecord:
    return TxtRecord(f"_acme-challenge.{label}.example.", f"value-{label}")


def test_values_published_meanwhile_go_in_one_call() -> None:
    provider, batcher = Recording(), Batcher()
    provider.release.clear()  # the first call stays open while the others queue
    with ThreadPoolExecutor(max_workers=5) as pool:
        first = pool.submit(batcher.provider(provider).present, [record("first")])
        assert provider.entered.wait(10)
        rest = [
            pool.submit(batcher.provider(provider).present, [record(f"n{i}")]) for i in range(4)
        ]
        while len(batcher._queues["rfc2136", "present"].waiting) < 4:
            threading.Event().wait(0.005)
        provider.release.set()
        for future in [first, *rest]:
            future.result(timeout=10)
    assert [len(owners) for _, owners in provider.calls] == [1, 4]


def test_one_refused_lineage_fails_alone_after_a_combined_call() -> None:
    provider = Recording(refused="_acme-challenge.bad.example.")
    batcher = Batcher()
    provider.release.clear()
    errors: dict[str, BaseException | None] = {}

    def publish(label: str) -> None:
        try:
            batcher.provider(provider).present([record(label)])
            errors[label] = None
        except ProviderError as error:
            errors[label] = error

    with ThreadPoolExecutor(max_workers=4) as pool:
        opener = pool.submit(publish, "opener")
        assert provider.entered.wait(10)
        rest = [pool.submit(publish, label) for label in ("good1", "bad", "good2")]
        while len(batcher._queues["rfc2136", "present"].waiting) < 3:
            threading.Event().wait(0.005)
        provider.release.set()
        for future in [opener, *rest]:
            future.result(timeout=10)
    assert errors["opener"] is None and errors["good1"] is None and errors["good2"] is None
    assert isinstance(errors["bad"], ProviderError)
    # The combined call of three failed; each was then sent alone.
    assert [len(owners) for _, owners in provider.calls] == [1, 3, 1, 1, 1]


def test_in_process_providers_are_never_combined() -> None:
    provider = Recording(name="standalone")
    assert Batcher().provider(provider) is provider


def test_a_sleeping_lineage_gives_its_slot_to_another() -> None:
    slots = WorkSlots(1)
    cancelled = threading.Event()
    clock = RunClock(SleepsUntil(), slots, cancelled)
    order: list[str] = []
    sleeping = threading.Event()

    def first() -> None:
        with slots.held():
            order.append("first works")
            sleeping.set()
            clock.sleep(0.05)  # gives the slot up while it sleeps
            order.append("first again")

    def second() -> None:
        assert sleeping.wait(10)
        with slots.held():
            order.append("second works")

    with ThreadPoolExecutor(max_workers=2) as pool:
        for future in [pool.submit(first), pool.submit(second)]:
            future.result(timeout=10)
    assert order == ["first works", "second works", "first again"]


class SleepsUntil(FakeClock):
    """A fake clock whose sleep takes a little real time, so another thread can run."""

    def sleep(self, seconds: float) -> None:
        super().sleep(seconds)
        threading.Event().wait(0.02)


def test_an_interrupt_stops_every_sleeping_lineage() -> None:
    together = Together(SleepsUntil(), concurrency=2)
    asleep = threading.Semaphore(0)
    stopped: list[str] = []

    def work(name: str) -> str:
        if name != "quick":
            asleep.release()
            try:
                together.clock.sleep(3600)  # a poll, a Retry-After: only an interrupt ends it
            except KeyboardInterrupt:
                stopped.append(name)
                raise
        return name

    def done(name: str, result: str) -> None:
        for _ in range(2):
            assert asleep.acquire(timeout=10)
        raise KeyboardInterrupt  # Ctrl-C arrives in the main thread now

    with pytest.raises(KeyboardInterrupt):
        together.each(work, ["a", "b", "quick"], done, label=str)
    assert sorted(stopped) == ["a", "b"]


def test_an_interrupted_lineage_that_could_not_clean_up_decides_the_exit() -> None:
    together = Together(SleepsUntil(), concurrency=2)
    asleep = threading.Event()

    def work(name: str) -> str:
        if name == "stuck":
            asleep.set()
            try:
                together.clock.sleep(3600)
            except KeyboardInterrupt as interrupt:
                raise CleanupIncomplete("interrupted, and 1 TXT value(s) remain") from interrupt
        return name

    def done(name: str, result: str) -> None:
        assert asleep.wait(10)
        raise KeyboardInterrupt

    with pytest.raises(CleanupIncomplete):
        together.each(work, ["quick", "stuck"], done, label=str)
