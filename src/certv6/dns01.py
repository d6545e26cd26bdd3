"""dns-01 records and where they really live (RFC 8555 section 8.4).

Delegating ``_acme-challenge.<name>`` with a CNAME into a zone that only holds
challenge records is the recommended least-privilege setup; the value must then
be written at the end of the chain, in that other zone. The same holds for
dns-account-01's ``_<label>._acme-challenge.<name>``.
"""

from __future__ import annotations

from collections.abc import Sequence

from certv6.dnsquery import Dns
from certv6.errors import CertV6Error
from certv6.model import Identifier, TxtRecord
from certv6.parallel import map_in_parallel

PARALLEL_LOOKUPS = 8


def effective_records(records: Sequence[TxtRecord], dns: Dns) -> tuple[TxtRecord, ...]:
    """The same values, each at the owner where its CNAME chain ends.

    The chains are followed, and the zone of each end looked up (the provider
    and the propagation checker ask for it next; ``Dns`` keeps the answers): an
    order with 100 names has 100 chains to follow, asked all at once first
    (``Dns.prefetch_chains``), then whatever that left open on a few threads.

    Raises:
        DnsError: a chain loops or is too long; a zone cannot be found.
    """
    owners = list(dict.fromkeys(record.owner for record in records))
    dns.prefetch_chains(owners)
    ends = {owner: _chain_end(owner, dns) for owner in owners if dns.knows_chain(owner)}
    left = [owner for owner in owners if owner not in ends]
    found = map_in_parallel(lambda owner: _chain_end(owner, dns), left, threads=PARALLEL_LOOKUPS)
    ends.update(zip(left, found, strict=True))
    return tuple(TxtRecord(ends[record.owner], record.value) for record in records)


def _chain_end(owner: str, dns: Dns) -> str:
    end = dns.follow_cname(owner)[-1]
    dns.find_zone(end)
    return end


def owners_to_check(
    identifiers: Sequence[Identifier], dns: Dns, account_url: str | None = None
) -> tuple[TxtRecord, ...]:
    """Where these names' values will be written, with empty values: what a provider's
    preflight proves it may write. With ``account_url``, the dns-account-01 owners
    (``_<label>._acme-challenge.<name>``). A chain that cannot be followed yet gives
    nothing (the publish step reports it properly)."""
    placeholders = [
        TxtRecord(i.account_owner(account_url) if account_url else i.challenge_owner, "")
        for i in identifiers
    ]
    try:
        return effective_records(placeholders, dns)
    except CertV6Error:
        return ()
