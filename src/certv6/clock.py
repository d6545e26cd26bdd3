"""Time, injected: production code asks a Clock, tests hand in a FakeClock."""

from __future__ import annotations

import datetime
import time
from typing import Protocol


class Clock(Protocol):
    def monotonic(self) -> float: ...

    def now(self) -> datetime.datetime:
        """Aware UTC wall time."""
        ...

    def sleep(self, seconds: float) -> None: ...

    async def asleep(self, seconds: float) -> None: ...


class SystemClock:
    def monotonic(self) -> float:
        return time.monotonic()

    def now(self) -> datetime.datetime:
        return datetime.datetime.now(datetime.UTC)

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)

    async def asleep(self, seconds: float) -> None:
        import asyncio  # noqa: PLC0415  (only the propagation checker is async; keep start-up light)

        await asyncio.sleep(max(0.0, seconds))


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
        import asyncio  # noqa: PLC0415  (see SystemClock.asleep)

        self.sleep(seconds)
        await asyncio.sleep(0)


SYSTEM_CLOCK: Clock = SystemClock()
