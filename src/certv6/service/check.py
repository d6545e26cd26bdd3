"""Use case: is a TXT value visible on every authoritative nameserver? No issuance.

`certv6 check-txt` runs the same checker `issue` waits on, for an operator who
publishes values some other way (or wants to see why a CA failed validation).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from certv6 import propagation
from certv6.clock import SYSTEM_CLOCK, Clock
from certv6.errors import ConfigError
from certv6.model import TxtRecord, parse_txt_owner
from certv6.service.runtime import build_dns
from certv6.settings import Settings

DEFAULT_TIMEOUT = 120.0
DEFAULT_POLL_INTERVAL = 1.0


@dataclass(frozen=True, slots=True)
class CheckRequest:
    owner: str
    values: tuple[str, ...]
    timeout: float | None = None
    poll_interval: float | None = None
    policy: str | None = None
    once: bool = False


def check_txt(
    settings: Settings,
    request: CheckRequest,
    *,
    clock: Clock = SYSTEM_CLOCK,
    progress: Callable[[propagation.Report], None] | None = None,
) -> propagation.Report:
    """Wait until every value is served at every authoritative address (or look once).

    Raises:
        ConfigError: a bad owner name or no value.
        PropagationTimeout: still not visible at the deadline (its report says where).
        DnsError: the zone or its nameservers cannot be found.
    """
    records = _records(request.owner, request.values)
    wait = propagation.PropagationSettings(
        timeout=request.timeout or settings.propagation_timeout or DEFAULT_TIMEOUT,
        poll_interval=request.poll_interval or settings.poll_interval or DEFAULT_POLL_INTERVAL,
        policy=request.policy or settings.propagation_policy,
        nat64_prefix=settings.nat64_prefix,
    )
    dns = build_dns(settings)
    if request.once:
        return propagation.check_once(records, wait, dns=dns, clock=clock)
    return propagation.wait_until_visible(records, wait, dns=dns, clock=clock, progress=progress)


def _records(owner: str, values: Sequence[str]) -> list[TxtRecord]:
    if not values:
        raise ConfigError("no TXT value given", hint="certv6 check-txt OWNER VALUE [VALUE...]")
    absolute = parse_txt_owner(owner)
    return [TxtRecord(absolute, value) for value in dict.fromkeys(values)]
