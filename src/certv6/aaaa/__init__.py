"""Keep this host's own AAAA records pointing at it when its prefix changes (issue #21).

    choose.py    which of the host's addresses a name should point at, and why (pure)
    records.py   per name: what certv6 owns in the RRset and what to change (pure)
    pacing.py    when ``--watch`` may look again and write again (pure, clock injected)

The use case that reads the host, asks the DNS and calls the provider is
``certv6.service.aaaa``; docs/aaaa.md describes the behaviour.
"""

from certv6.aaaa.choose import Choice, Criteria, Judged, choose, parse_token
from certv6.aaaa.pacing import Pacer, PacingSettings
from certv6.aaaa.records import NamePlan, plan_name

__all__ = [
    "Choice",
    "Criteria",
    "Judged",
    "NamePlan",
    "Pacer",
    "PacingSettings",
    "choose",
    "parse_token",
    "plan_name",
]
