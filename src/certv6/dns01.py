"""dns-01 records and where they really live (RFC 8555 section 8.4).

Delegating ``_acme-challenge.<name>`` with a CNAME into a zone that only holds
challenge records is the recommended least-privilege setup; the value must then
be written at the end of the chain, in that other zone.
"""

from __future__ import annotations

from collections.abc import Sequence

from certv6.dnsquery import Dns
from certv6.model import TxtRecord


def effective_records(records: Sequence[TxtRecord], dns: Dns) -> tuple[TxtRecord, ...]:
    """The same values, each at the owner where its CNAME chain ends.

    Raises:
        DnsError: a chain loops or is too long.
    """
    ends: dict[str, str] = {}
    for record in records:
        if record.owner not in ends:
            ends[record.owner] = dns.follow_cname(record.owner)[-1]
    return tuple(TxtRecord(ends[record.owner], record.value) for record in records)
