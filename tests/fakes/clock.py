"""Clocks for tests: a fake that moves only when asked, and the system clock shifted."""

from __future__ import annotations

import datetime

from certv6.clock import SystemClock


class FakeClock:
    """A clock that only moves when someone sleeps or calls ``advance``."""

    def __init__(self, start: datetime.datetime | None = None) -> None:
        self._mono = 1000.0
        self._start = start or datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self._mono

    def now(self) -> datetime.datetime:
        return self._start + datetime.timedelta(seconds=self._mono - 1000.0)

    def advance(self, seconds: float) -> None:
        self._mono += max(0.0, seconds)

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.advance(seconds)

    async def asleep(self, seconds: float) -> None:
        import asyncio

        self.sleep(seconds)
        await asyncio.sleep(0)


class ShiftedClock(SystemClock):
    """The system clock with ``now()`` moved to ``moment`` (monotonic time and sleeps are real)."""

    def __init__(self, moment: datetime.datetime) -> None:
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=datetime.UTC)
        self.offset = moment - datetime.datetime.now(datetime.UTC)

    def now(self) -> datetime.datetime:
        return super().now() + self.offset
