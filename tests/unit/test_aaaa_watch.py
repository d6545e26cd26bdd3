"""--watch: act on address changes once they settle, and pace writes on a flapping link."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from certv6.aaaa import Pacer, PacingSettings, plan_name
from certv6.errors import NoHostAddress
from certv6.ifaddr import HostAddress
from certv6.ifaddr.netlink import AddressMessage
from certv6.service.aaaa_report import AaaaOutcome, ProviderRun
from certv6.service.aaaa_watch import Outcome, watch
from fakes.clock import FakeClock

PACING = PacingSettings(settle=2.0, min_interval=30.0, max_interval=900.0, recheck=3600.0)
CHANGE = [AddressMessage(True, HostAddress("2001:db8::1", "eth0", 64, "global", 0))]


def test_the_spacing_between_writes_doubles_while_the_link_flaps() -> None:
    pacer = Pacer(PACING)
    assert pacer.next_write(0.0) == 0.0
    pacer.wrote(0.0)
    assert pacer.next_write(1.0) == 30.0
    pacer.wrote(30.0)
    assert pacer.next_write(31.0) == 90.0  # 60 s after the second write
    pacer.wrote(90.0)
    pacer.wrote(210.0)
    pacer.wrote(450.0)
    pacer.wrote(930.0)
    assert pacer.next_write(931.0) == 930.0 + 900.0  # capped at max_interval
    assert pacer.next_write(930.0 + 3600.0) == 930.0 + 3600.0  # an hour of quiet resets it


def test_failures_back_off() -> None:
    pacer = Pacer(PACING)
    assert [pacer.failed(0.0) for _ in range(7)] == [30, 60, 120, 240, 480, 900, 900]
    pacer.succeeded(5.0)
    assert pacer.failures == 0 and pacer.due == 3605.0


class Script:
    """Address events by time (on the fake clock): ``wait`` returns them when they are due."""

    def __init__(
        self,
        clock: FakeClock,
        events: dict[float, list[AddressMessage] | None],
        on_event: Callable[[], None],
    ) -> None:
        self.clock = clock
        self.events = dict(sorted(events.items()))
        self.on_event = on_event

    def wait(self, timeout: float) -> list[AddressMessage] | None:
        now = self.clock.monotonic()
        upcoming = [at for at in self.events if at <= now + timeout]
        if upcoming:
            self.clock.advance(upcoming[0] - now)
            self.on_event()
            return self.events.pop(upcoming[0])
        self.clock.advance(timeout)
        return []


class Host:
    """A follower stand-in: a run must write while ``needs`` says so; it records each run."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.needs = True
        self.runs: list[tuple[float, bool]] = []  # (time, wrote)
        self.fail_next = False

    def run(self, *, may_write: Callable[[], bool]) -> AaaaOutcome:
        self.runs.append((self.clock.monotonic(), False))
        if self.fail_next:
            self.fail_next = False
            raise NoHostAddress("no global IPv6 address")
        wrote = self.needs and may_write()
        self.runs[-1] = (self.clock.monotonic(), wrote)
        if wrote:
            self.needs = False
        current = {"2001:db8::1"} if self.needs else {"2001:db8::2"}
        plan = plan_name(
            "www.example.org.",
            "example.org.",
            current,
            wanted="2001:db8::2",
            published=(),
            host_addresses=current,
            ttl=300,
        )
        return AaaaOutcome(choice=None, runs=(ProviderRun("rfc2136", (plan,)),), written=wrote)


def run_watch(
    events: dict[float, list[AddressMessage] | None],
    until: float,
    host: Host,
    clock: FakeClock,
    on_event: Callable[[], None] = lambda: None,
) -> list[Outcome]:
    """Watch with scripted events until ``until``; ``on_event`` runs at each event."""
    seen: list[Outcome] = []
    script = Script(clock, events, on_event)

    @contextmanager
    def source() -> Iterator[Script]:
        yield script

    watch(
        host,
        PACING,
        clock=clock,
        on_outcome=seen.append,
        events=source,
        keep_going=lambda: clock.monotonic() < until,
    )
    return seen


def test_a_run_at_start_then_one_after_each_settled_change() -> None:
    clock = FakeClock()
    host = Host(clock)
    start = clock.monotonic()
    run_watch({start + 100: CHANGE, start + 100.5: CHANGE}, start + 200, host, clock)
    # at start (writes), then 2 s after the last of two quick changes (nothing to write).
    assert [round(t - start, 1) for t, _ in host.runs] == [0.0, 102.5]
    assert [wrote for _, wrote in host.runs] == [True, False]


def test_a_flapping_link_writes_at_the_paced_times_only() -> None:
    clock = FakeClock()
    host = Host(clock)
    start = clock.monotonic()
    flaps: dict[float, list[AddressMessage] | None] = {
        start + t: CHANGE for t in (5.0, 10.0, 15.0, 20.0, 25.0, 40.0)
    }
    run_watch(flaps, start + 300, host, clock, on_event=lambda: setattr(host, "needs", True))
    writes = [round(t - start, 1) for t, wrote in host.runs if wrote]
    # The first write at start; the next not before 30 s; the one after that 60 s later.
    assert writes == [0.0, 30.0, 90.0]


def test_a_failed_run_is_retried_with_back_off_and_reported() -> None:
    clock = FakeClock()
    host = Host(clock)
    host.fail_next = True
    start = clock.monotonic()
    seen = run_watch({}, start + 100, host, clock)
    assert isinstance(seen[0], NoHostAddress)
    assert [round(t - start, 1) for t, _ in host.runs] == [0.0, 30.0]


def test_lost_notifications_count_as_a_change() -> None:
    clock = FakeClock()
    host = Host(clock)
    host.needs = False
    start = clock.monotonic()
    run_watch({start + 50: None}, start + 100, host, clock)
    assert [round(t - start, 1) for t, _ in host.runs] == [0.0, 52.0]
