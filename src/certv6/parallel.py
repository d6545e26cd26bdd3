"""The same work over several items on a few threads, results in order.

An order with 100 names has 100 CNAME chains to follow, 100 CAA look-ups and 100
authorizations to fetch: one after the other, that is most of its time. One item
(the usual order, and each of the lineages ``certv6 renew`` runs side by side),
or ``threads=1``, runs in the calling thread: a pool costs more than it saves
there (issue #19).
Worker threads are named after the caller's thread, so its log lines keep the
name of the certificate they belong to.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


def map_in_parallel(
    work: Callable[[Item], Result], items: Sequence[Item], *, threads: int
) -> list[Result]:
    """``work`` on every item, at most ``threads`` at once; the first error is raised."""
    if len(items) <= 1 or threads <= 1:
        return [work(item) for item in items]
    prefix = f"{threading.current_thread().name}/"
    with ThreadPoolExecutor(min(threads, len(items)), thread_name_prefix=prefix) as pool:
        return list(pool.map(work, items))
