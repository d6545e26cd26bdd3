"""When ``certv6 aaaa --watch`` looks again, and when it may write again. Pure; time injected.

A flapping link (a modem that reconnects every few seconds, a prefix that comes
and goes) must not turn into a stream of UPDATEs or API calls. So:
- an address change is acted on after ``settle`` seconds of quiet (a new
  address is tentative for about a second anyway, and more changes may follow);
- after a write the next write waits ``min_interval``; each further write
  within ``window`` doubles that wait, up to ``max_interval``;
- a failed run is retried after ``min_interval``, doubling up to ``max_interval``;
- with no change at all, the records are checked again every ``recheck`` seconds
  (someone may have edited them).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class PacingSettings:
    settle: float = 2.0
    min_interval: float = 30.0
    max_interval: float = 900.0
    window: float = 3600.0
    recheck: float = 3600.0


@dataclass
class Pacer:
    """The watch loop's schedule. Times are the injected clock's monotonic seconds."""

    settings: PacingSettings = field(default_factory=PacingSettings)
    due: float = 0.0  # when to look next
    writes: list[float] = field(default_factory=list)  # times of recent writes
    failures: int = 0

    def changed(self, now: float) -> None:
        """The kernel reported an address change: look once things have settled."""
        self.due = now + self.settings.settle

    def next_write(self, now: float) -> float:
        """The earliest time a write is allowed (``now`` or later)."""
        recent = [t for t in self.writes if now - t < self.settings.window]
        if not recent:
            return now
        wait = min(
            self.settings.min_interval * 2.0 ** (len(recent) - 1), self.settings.max_interval
        )
        return max(now, recent[-1] + wait)

    def wrote(self, now: float) -> None:
        self.writes = [t for t in self.writes if now - t < self.settings.window] + [now]

    def succeeded(self, now: float) -> None:
        self.failures = 0
        self.due = now + self.settings.recheck

    def deferred(self, until: float) -> None:
        """A write is needed but not allowed yet: look again when it is."""
        self.due = until

    def failed(self, now: float) -> float:
        """A run failed: retry later, backing off. Returns the delay."""
        self.failures += 1
        delay = min(
            self.settings.min_interval * 2.0 ** (self.failures - 1), self.settings.max_interval
        )
        self.due = now + delay
        return delay
