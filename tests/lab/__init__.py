"""certv6's IPv6-only test lab: real BIND, unbound, Pebble and a tayga NAT64 in network namespaces
(Knot, PowerDNS and NSD on demand: ``lab.start_servers()``).

    from lab import Lab
    with Lab.start() as lab:
        ...

Needs root and the Debian packages bind9, bind9-dnsutils, unbound, pebble, iproute2.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from .chain import verify_chain
from .errors import LabError, LabUnavailable, NsupdateError
from .instance import Lab, stop_all
from .pki import tsig_secret
from .plan import NAT64_PREFIX
from .prereq import check as check_prerequisites

T = TypeVar("T")

__all__ = [
    "NAT64_PREFIX",
    "Lab",
    "LabError",
    "LabUnavailable",
    "NsupdateError",
    "check_prerequisites",
    "stop_all",
    "tsig_secret",
    "verify_chain",
    "wait_until",
]


def wait_until(
    probe: Callable[[], T | None],
    *,
    timeout: float,
    interval: float = 0.05,
    what: str = "condition",
) -> T:
    """Call ``probe`` until it returns something truthy; raise TimeoutError after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{what} not met within {timeout} s")
        time.sleep(interval)
