"""Gandi LiveDNS (API v5) with a personal access token.

    [provider.gandi]
    token_file = "/etc/certv6/gandi.token"     # one line: the PAT, mode 0600

LiveDNS keeps a record set per (name, type) and replaces it whole on PUT, so
present reads the set, adds our values and writes it back; cleanup removes only
ours and deletes the set when nothing else is left. LiveDNS stores TXT values
as quoted strings (``"\\"value\\""``); certv6 sends them quoted and compares
them unquoted.

AAAA sets (``certv6 aaaa``) are replaced the same way. LiveDNS has no
conditional write, so the set is read just before and compared with what
certv6 read from the zone's primary; a difference stops the change.
"""

from __future__ import annotations

import logging
import urllib.parse
from collections import defaultdict
from collections.abc import Sequence

from certv6.errors import ConcurrentChange, ProviderError
from certv6.model import ProviderHints, RRsetChange, TxtRecord, canonical_value
from certv6.providers import ProviderContext, RecordSupport
from certv6.providers.common import (
    HINT_OPTIONS,
    hints_from,
    read_token,
    relative_name,
    seconds,
    ttl,
)
from certv6.providers.httpapi import ApiClient

log = logging.getLogger(__name__)

DEFAULT_API = "https://api.gandi.net/v5/livedns"
MIN_TTL = 300
OPTIONS = ("token_file", "api_url", "ca_bundle", "ttl", "timeout", *HINT_OPTIONS)
RRset = tuple[str, str]  # (zone without the final dot, rrset name relative to it)


class GandiProvider:
    name = "gandi"
    record_support = RecordSupport(types=frozenset({"AAAA"}))

    def __init__(self, context: ProviderContext) -> None:
        context.check_options(OPTIONS)
        self._context = context
        # LiveDNS pushes changes to its nameservers within seconds, rarely a minute.
        # Checked now: a bad propagation_timeout must not surface after the order.
        self._hints = hints_from(context, timeout=300.0, poll_interval=2.0)
        token = read_token(context)
        self._ttl = ttl(context, MIN_TTL, minimum=MIN_TTL)  # LiveDNS refuses shorter TTLs
        ca_bundle = context.option("ca_bundle")
        self._api = ApiClient(
            self.name,
            str(context.option("api_url", DEFAULT_API)),
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            secrets=[token],
            ca_bundle=str(ca_bundle) if ca_bundle else None,
            allow_ipv4=context.allow_ipv4,
            timeout=seconds(context, "timeout", 15.0),
            clock=context.clock,
            auth_hint="check token_file: the personal access token is wrong, expired or revoked",
        )

    def hints(self) -> ProviderHints:
        return self._hints

    def present(self, records: Sequence[TxtRecord]) -> None:
        for rrset, batch in self._by_rrset(records).items():
            current = self._values(rrset, "present", batch[0])
            wanted = current | {record.value for record in batch}
            if wanted != current:
                self._put(rrset, wanted, "present", batch[0])
            log.info("gandi: %s in %s has %d TXT value(s)", rrset[1], rrset[0], len(wanted))

    def cleanup(self, records: Sequence[TxtRecord]) -> None:
        for rrset, batch in self._by_rrset(records).items():
            current = self._values(rrset, "cleanup", batch[0])
            left = current - {record.value for record in batch}
            if left == current:
                continue
            if left:
                self._put(rrset, left, "cleanup", batch[0])
            else:
                self._api.request(
                    "DELETE", _path(rrset), operation="cleanup", record=str(batch[0]), ok=(204, 200)
                )

    def replace_rrsets(self, changes: Sequence[RRsetChange]) -> None:
        for change in changes:
            zone = self._context.dns.find_zone(change.owner)
            rrset = (zone.rstrip("."), relative_name(change.owner, zone))
            what = str(change)
            current = self._read(rrset, "update", what, change.rdtype)
            if current != change.current:
                raise ConcurrentChange(
                    f"gandi update of {what}: LiveDNS has {sorted(current) or 'none'}",
                    provider=self.name,
                    operation="update",
                    record=what,
                )
            path = _path(rrset, change.rdtype)
            if change.result:
                body = {
                    "rrset_ttl": max(change.ttl, MIN_TTL),
                    "rrset_values": sorted(change.result),
                }
                self._api.request(
                    "PUT", path, operation="update", record=what, body=body, ok=(200, 201)
                )
            else:
                self._api.request("DELETE", path, operation="update", record=what, ok=(204, 200))
            log.info("gandi: %s", what)

    def preflight(self) -> None:
        """IPv6 route to the API, then one read that proves the token works."""
        self._api.preflight_route()
        self._api.request("GET", "/domains?per_page=1", operation="preflight")

    def close(self) -> None:
        self._api.close()

    def _by_rrset(self, records: Sequence[TxtRecord]) -> dict[RRset, list[TxtRecord]]:
        found: dict[RRset, list[TxtRecord]] = defaultdict(list)
        for record in records:
            zone = self._context.dns.find_zone(record.owner)
            found[(zone.rstrip("."), relative_name(record.owner, zone))].append(record)
        return found

    def _values(self, rrset: RRset, operation: str, record: TxtRecord) -> set[str]:
        return set(self._read(rrset, operation, str(record), "TXT"))

    def _read(self, rrset: RRset, operation: str, record: str, rdtype: str) -> frozenset[str]:
        response = self._api.request(
            "GET", _path(rrset, rdtype), operation=operation, record=record, ok=(200, 404)
        )
        if response.status_code == 404:
            return frozenset()  # no set at that name yet (or no such domain on LiveDNS: PUT says)
        body = self._api.json(response, operation=operation, record=record)
        values = body.get("rrset_values") if isinstance(body, dict) else None
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise ProviderError(
                f"gandi {operation} of {record}: unexpected answer (no rrset_values list)",
                provider=self.name,
                operation=operation,
                record=record,
            )
        return frozenset(_canonical(value, rdtype) for value in values)

    def _put(self, rrset: RRset, values: set[str], operation: str, record: TxtRecord) -> None:
        body = {"rrset_ttl": self._ttl, "rrset_values": [f'"{v}"' for v in sorted(values)]}
        self._api.request(
            "PUT", _path(rrset), operation=operation, record=str(record), body=body, ok=(200, 201)
        )


def _path(rrset: RRset, rdtype: str = "TXT") -> str:
    zone, name = rrset
    return f"/domains/{urllib.parse.quote(zone)}/records/{urllib.parse.quote(name)}/{rdtype}"


def _canonical(value: str, rdtype: str) -> str:
    return _unquote(value) if rdtype == "TXT" else canonical_value(value, rdtype)


def _unquote(value: str) -> str:
    # LiveDNS answers '"abc"' (one quoted string); a long value may come as '"ab" "c"'.
    text = value.strip()
    if len(text) >= 2 and text.startswith('"') and text.endswith('"'):
        return "".join(part for part in text[1:-1].split('" "'))
    return text
