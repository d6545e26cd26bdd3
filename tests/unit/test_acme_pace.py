"""How many requests of a batch go to the CA at once (network.Pace, AcmeSession._batch).

As many as hide the CA's latency: a CA on the same host answers in about the CPU
time a request costs here, and threads then only take turns (issue #19); a CA
across the Internet answers in tens of milliseconds, and all IN_FLIGHT are used.
"""

from __future__ import annotations

import threading
from typing import Any, cast

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from josepy.jwk import JWKEC

from certv6.acme_client.network import Network, Pace
from certv6.acme_client.session import PACE_PROBES, PARALLEL_REQUESTS, AcmeSession
from fakes.clock import FakeClock


def paced(*ratios: float) -> Pace:
    pace = Pace()
    for ratio in ratios:
        pace.note(wall=ratio * 0.001, cpu=0.001)
    return pace


@pytest.mark.parametrize(
    ("ratios", "threads"),
    [
        ((), 8),  # nothing timed yet: the most
        ((1.4, 1.3), 8),  # too few to judge
        ((1.4, 1.3, 1.6), 1),  # the CA answers within a request's CPU: one at a time
        ((3.9, 3.7, 4.2), 3),  # rounded down: a thread that would wait costs CPU
        ((60.0, 45.0, 80.0), 8),  # across the Internet: the most
        ((1.2, 50.0, 1.3, 1.1, 1.4), 1),  # the median, not one slow answer
    ],
)
def test_requests_in_flight_follow_latency_over_cpu(
    ratios: tuple[float, ...], threads: int
) -> None:
    assert paced(*ratios).in_flight(8) == threads


def test_only_the_recent_requests_count() -> None:
    pace = paced(50.0, 50.0, 50.0, 1.2, 1.3, 1.1)
    assert pace.in_flight(8) == 8  # all six: the median is a slow one
    assert pace.in_flight(8, recent=3) == 1


def network() -> Network:
    key = JWKEC(key=ec.generate_private_key(ec.SECP256R1()))
    return Network(key, ca_bundle=None, clock=FakeClock())


def test_a_request_is_timed_only_when_no_other_was_sent_meanwhile() -> None:
    net = network()
    with net._timed():
        pass
    with net._timed(), net._timed():  # two at once: neither says what one costs
        pass
    assert len(net.pace._ratios) == 1


def session_with(pace: Pace) -> AcmeSession:
    holder = network()
    holder.pace = pace
    return AcmeSession(holder, cast(dict[str, Any], {}), FakeClock())


def run_batch(session: AcmeSession, items: int) -> list[str]:
    threads: list[str] = []

    def work(item: int) -> int:
        threads.append(threading.current_thread().name)
        return item * 2

    assert session._batch(work, list(range(items))) == [i * 2 for i in range(items)]
    return threads


def test_a_batch_to_a_nearby_ca_runs_in_the_calling_thread() -> None:
    here = threading.current_thread().name
    assert set(run_batch(session_with(paced(1.2, 1.3, 1.1)), 20)) == {here}


def test_a_batch_to_a_distant_ca_goes_on_threads_after_the_first_few() -> None:
    here = threading.current_thread().name
    names = run_batch(session_with(paced(40.0, 40.0, 40.0)), 20)
    assert names[:PACE_PROBES] == [here] * PACE_PROBES  # timed one by one first
    workers = set(names[PACE_PROBES:])
    assert here not in workers and 1 < len(workers) <= PARALLEL_REQUESTS
