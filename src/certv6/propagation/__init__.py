"""Is every dns-01 value visible at every authoritative nameserver yet?

certv6 asks the zone's authoritative servers themselves, every address of every
one, rather than trusting a resolver's cache or a fixed sleep. What "visible"
means, the two policies, NAT64 and the report format: docs/propagation.md.

    plan.py      settings and what to ask (pure data)
    state.py     answers folded into a state, and the verdict (pure)
    nat64.py     RFC 6052 address synthesis, RFC 7050 prefix discovery (pure)
    discover.py  owners -> CNAME chains -> zones -> nameserver addresses
    wire.py      one query to one address: RD=0, EDNS0, UDP then TCP
    run.py       concurrent rounds until visible or the deadline
    report.py    the per-address report and its JSON form
    render.py    the report as a status line and a table
    rrsets.py    the RRset a zone's primary serves now (before certv6 aaaa changes it)
"""

import importlib
from typing import TYPE_CHECKING, Any

from certv6.propagation.plan import PropagationSettings, UnverifiableNameserver

if TYPE_CHECKING:
    from certv6.propagation.render import render_status_line, render_table
    from certv6.propagation.report import Report, ServerReport
    from certv6.propagation.rrsets import ServedRRset, read_rrset
    from certv6.propagation.run import check_once, wait_until_visible

# The rest is imported when first used: the checker brings asyncio and dnspython's
# async machinery (about 90 ms), which a process needs only once it has values to
# wait for, not before its first request (issue #19).
_LAZY = {
    "Report": "report",
    "ServerReport": "report",
    "ServedRRset": "rrsets",
    "check_once": "run",
    "render_status_line": "render",
    "read_rrset": "rrsets",
    "render_table": "render",
    "wait_until_visible": "run",
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)


__all__ = [
    "PropagationSettings",
    "Report",
    "ServedRRset",
    "ServerReport",
    "UnverifiableNameserver",
    "check_once",
    "read_rrset",
    "render_status_line",
    "render_table",
    "wait_until_visible",
]
