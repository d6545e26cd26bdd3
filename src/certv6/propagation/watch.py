"""The serial watch: between rounds, ask only the lagging servers for their SOA serial.

A secondary applies a zone transfer's serial and data together, so the moment its
serial moves is the moment to look at its TXT records again. Asking often finds that
moment soon; asking too often trips response rate limiting (RRL), which real servers
run: BIND's and Knot's RRL and dnsdist in front of PowerDNS answer a client above a
few identical responses per second with an empty truncated reply (a "slip") or
nothing at all. So each lagging server is asked on its own schedule, the first time
``serial_interval`` after it was last asked and then at doubling intervals up to
``poll_interval``: at most 4 queries in any one second (0.1 s apart at the start),
fewer the longer it lags. While it is watched, the rounds leave it alone.

A slipped answer is retried over TCP by the transport, which RRL leaves alone; a
dropped one is a timeout, which counts as "not moved yet" and backs off further.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from certv6.clock import Clock
from certv6.propagation.plan import PropagationSettings, Server
from certv6.propagation.state import Answer, State, serial_moved

AskSoa = Callable[[Server], Awaitable[Answer]]


@dataclass(slots=True)
class _Pace:
    last: float  # when the server was last asked (by a round or by the watch)
    delay: float  # how long after ``last`` to ask it next


@dataclass(slots=True)
class SerialWatch:
    """Per-server schedule of SOA queries; lives for one ``poll``."""

    settings: PropagationSettings
    _paces: dict[Server, _Pace] = field(default_factory=dict)

    def asked_in_round(self, servers: Sequence[Server], at: float) -> None:
        """``servers`` were asked by a round at ``at``: their next watch query counts from it."""
        for server in servers:
            pace = self._paces.get(server)
            if pace is None:
                self._paces[server] = _Pace(at, self.settings.serial_interval)
            else:
                pace.last = at

    def next_at(self, server: Server) -> float:
        pace = self._paces[server]
        return pace.last + pace.delay

    def asked(self, server: Server, at: float, moved: bool) -> None:
        """Note a watch query; back off unless the serial moved (then start over)."""
        pace = self._paces[server]
        pace.last = at
        if moved:
            pace.delay = self.settings.serial_interval
        else:
            cap = max(self.settings.poll_interval, self.settings.serial_interval)
            pace.delay = min(pace.delay * 2, cap)

    async def pause(
        self, servers: Sequence[Server], state: State, pause: float, clock: Clock, ask: AskSoa
    ) -> dict[Server, Answer]:
        """Sleep ``pause``, or less: until the SOA serial of some of ``servers`` moves.

        Returns the servers whose serial moved with the SOA answer that showed it (the
        next round uses it instead of asking again); empty when the pause ran out.
        """
        end = clock.monotonic() + pause
        if not servers:
            await clock.asleep(pause)
            return {}
        for server in servers:
            if server not in self._paces:
                self.asked_in_round([server], clock.monotonic())
        while True:
            due_at = min(self.next_at(server) for server in servers)
            if due_at > end:
                if end > clock.monotonic():
                    await clock.asleep(end - clock.monotonic())
                return {}
            if due_at > clock.monotonic():
                await clock.asleep(due_at - clock.monotonic())
            now = clock.monotonic()
            due = [server for server in servers if self.next_at(server) <= now + 1e-9]
            answers = await asyncio.gather(*(ask(server) for server in due))
            moved = {}
            for server, answer in zip(due, answers, strict=True):
                changed = serial_moved(state, server, answer)
                self.asked(server, now, changed)
                if changed:
                    moved[server] = answer
            if moved:
                return moved
