"""RFC 2136 dynamic updates, signed with TSIG (RFC 8945).

One UPDATE per zone per batch: all values of an order go to a zone's primary in
one message, so the zone's serial moves once and the secondaries transfer once.
The zone is the one the SOA walk returns for the (CNAME-resolved) owner: an
UPDATE sent to a parent zone for a name below a cut is accepted and invisible.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import TypeVar

import dns.exception
import dns.message
import dns.query
import dns.rcode
import dns.rdata
import dns.tsig
import dns.update

from certv6.errors import (
    ConcurrentChange,
    ConfigError,
    ProviderAuthError,
    ProviderError,
    ProviderUnreachable,
)
from certv6.model import Endpoint, Owned, ProviderHints, RRsetChange, TxtRecord, parse_endpoint
from certv6.providers import ProviderContext, RecordSupport
from certv6.providers.common import HINT_OPTIONS, hints_from, owners_of, seconds, ttl
from certv6.providers.tsig import ALGORITHMS, TsigKey, parse_key_file
from certv6.settings import read_secret_file

__all__ = ["ALGORITHMS", "Rfc2136Provider", "TsigKey", "parse_key_file"]

log = logging.getLogger(__name__)
OwnedT = TypeVar("OwnedT", bound=Owned)

OPTIONS = ("server", "key_file", "algorithm", "ttl", "timeout", *HINT_OPTIONS)
# Why an update failed, in words an operator can act on (RFC 2136 section 2.2, RFC 8945 5.3).
RCODE_MEANING = {
    dns.rcode.REFUSED: "the server refused it: this key may not change {rdtype} records there",
    dns.rcode.NOTAUTH: "the server is not authoritative for the zone, or does not know the key",
    dns.rcode.NOTZONE: "the record is not inside the zone the update named",
    dns.rcode.SERVFAIL: "the server failed to apply it (see its log)",
    dns.rcode.FORMERR: "the server could not parse the update",
    dns.rcode.NOTIMP: "the server does not accept dynamic updates",
    dns.rcode.YXDOMAIN: "a prerequisite failed: a name exists that should not",
    dns.rcode.YXRRSET: "a prerequisite failed: an RRset exists that should not",
    dns.rcode.NXRRSET: "a prerequisite failed: an RRset is missing",
    dns.rcode.NXDOMAIN: "a prerequisite failed: a name is missing",
    dns.rcode.BADKEY: "TSIG BADKEY: the server does not know this key name or algorithm",
    dns.rcode.BADTIME: "TSIG BADTIME: this host's clock is too far from the server's",
}
_TSIG_ERRORS = (
    dns.tsig.PeerBadKey,
    dns.tsig.PeerBadSignature,
    dns.tsig.PeerBadTime,
    dns.tsig.PeerBadTruncation,
)
_TSIG_HINTS = {
    "BadKey": "the server does not know a key of this name and algorithm",
    "BadSignature": "the secret differs from the server's copy of the key",
    "BadTime": "this host's clock is off; check NTP",
    "BadTruncation": "the server truncated the signature; check the algorithm",
}


class Rfc2136Provider:
    name = "rfc2136"
    record_support = RecordSupport(types=frozenset({"AAAA"}))

    def __init__(self, context: ProviderContext) -> None:
        context.check_options(OPTIONS)
        self._context = context
        # Checked now: a bad propagation_timeout must not surface after the order.
        # Your own primary NOTIFYs its secondaries at once: poll every half second
        # at most, so a lagging secondary is seen within ~0.25 s of catching up.
        self._hints = hints_from(context, timeout=120.0, poll_interval=0.5)
        self._dns = context.dns
        key_file = Path(context.option("key_file", required=True))
        data = read_secret_file(
            key_file, allow_insecure=context.allow_insecure_secrets, what="TSIG key file"
        )
        algorithm = context.option("algorithm")
        if algorithm is not None and not isinstance(algorithm, str):
            raise ConfigError("rfc2136: algorithm must be a name like hmac-sha256")
        self.key = parse_key_file(
            data.decode(errors="replace"), f"rfc2136 key_file {key_file}", algorithm
        )
        server = context.option("server")
        self._server = parse_endpoint(str(server), 53) if server else None
        ipv4 = self._server is not None and self._server.is_ip and ":" not in self._server.host
        if ipv4 and not context.allow_ipv4:
            raise ConfigError(
                f"rfc2136 server {self._server} is an IPv4 address",
                hint="give the server's IPv6 address as '[addr]:53' (or allow_ipv4 = true)",
            )
        self._ttl = ttl(context, 60)
        self._timeout = seconds(context, "timeout", 10.0)

    def hints(self) -> ProviderHints:
        return self._hints

    def present(self, records: Sequence[TxtRecord]) -> None:
        for zone, batch in self._by_zone(records).items():
            update = self._update(zone)
            for record in batch:
                update.add(record.owner, self._ttl, "TXT", _quoted(record.value))
            self._send(zone, update, batch, "present")

    def cleanup(self, records: Sequence[TxtRecord]) -> None:
        # Every zone is tried, even after one fails, so one refusing zone does not
        # leave the other zones' values behind; the first failure is raised at the end.
        failures: list[ProviderError] = []
        for zone, batch in self._by_zone(records).items():
            update = self._update(zone)
            for record in batch:
                # Deletes exactly this value (RFC 2136 2.5.4); other TXT values stay.
                update.delete(record.owner, "TXT", _quoted(record.value))
            try:
                self._send(zone, update, batch, "cleanup")
            except ProviderError as error:
                failures.append(error)
        if failures:
            raise failures[0]

    def replace_rrsets(self, changes: Sequence[RRsetChange]) -> None:
        """One UPDATE per zone; each change only while its RRset is what certv6 read.

        The prerequisite (RFC 2136 section 2.4) is "RRset exists, value dependent"
        with the whole RRset certv6 read, or "RRset does not exist" when it read
        none; the server applies the UPDATE as a whole or not at all (3.2, 3.4),
        so a concurrent change makes it fail with NXRRSET/YXRRSET and nothing moves.
        """
        for zone, batch in self._by_zone(changes).items():
            update = self._update(zone)
            for change in batch:
                _prerequisite(update, change)
                for value in sorted(change.remove):
                    update.delete(change.owner, change.rdtype, value)
                for value in sorted(change.add):
                    update.add(change.owner, change.ttl, change.rdtype, value)
            self._send(zone, update, batch, "update", rdtype=batch[0].rdtype)

    def preflight(self) -> None:
        """A TSIG-signed SOA query: proves the server knows the key, changes nothing.

        Without ``server`` the primary depends on the zone, which is known only
        once the records are: then there is nothing to check yet.
        """
        if self._server is None:
            return
        query = dns.message.make_query(self.key.name + ".", "SOA")
        query.use_tsig(self.key.keyring(), keyname=self.key.dns_name)
        address = self._addresses_of(self._server.host, "preflight")[0]
        self._exchange(query, Endpoint(address, self._server.port), "preflight", [])

    def _update(self, zone: str) -> dns.update.UpdateMessage:
        return dns.update.UpdateMessage(zone, keyring=self.key.keyring(), keyname=self.key.dns_name)

    def _by_zone(self, records: Sequence[OwnedT]) -> dict[str, list[OwnedT]]:
        zones: dict[str, list[OwnedT]] = defaultdict(list)
        for record in records:
            zones[self._dns.find_zone(record.owner)].append(record)
        return zones

    def _send(
        self,
        zone: str,
        update: dns.message.Message,
        batch: Sequence[Owned],
        operation: str,
        *,
        rdtype: str = "TXT",
    ) -> None:
        errors: list[ProviderError] = []
        for endpoint in self._targets(zone, operation, batch):
            try:
                response = self._exchange(update, endpoint, operation, batch)
            except ProviderUnreachable as error:
                errors.append(error)  # another address of the primary may answer
                continue
            self._check(response, zone, endpoint, batch, operation, rdtype=rdtype)
            log.info(
                "%s: %d %s change(s) in %s via %s", operation, len(batch), rdtype, zone, endpoint
            )
            return
        raise errors[-1]

    def _targets(self, zone: str, operation: str, batch: Sequence[Owned]) -> list[Endpoint]:
        if self._server is not None:
            port = self._server.port
            return [Endpoint(a, port) for a in self._addresses_of(self._server.host, operation)]
        mname, addresses = self._dns.primary(zone)
        if not addresses:
            raise ProviderUnreachable(
                f"rfc2136 {operation} of {owners_of(batch)}: the primary of {zone}"
                f" ({mname}, the SOA MNAME) has no IPv6 address",
                provider=self.name,
                operation=operation,
                record=str(batch[0]),
                hint="set server = '[addr]:53' under [provider.rfc2136]",
            )
        return [Endpoint(address, 53) for address in addresses]

    def _addresses_of(self, host: str, operation: str) -> list[str]:
        if Endpoint(host, 53).is_ip:
            return [host]
        addresses = list(self._dns.addresses(host, "AAAA"))
        if not addresses:
            raise ProviderUnreachable(
                f"rfc2136 {operation}: server {host} has no IPv6 address",
                provider=self.name,
                operation=operation,
                hint="give the server as '[addr]:port', or add an AAAA record for it",
            )
        return addresses

    def _exchange(
        self,
        message: dns.message.Message,
        endpoint: Endpoint,
        operation: str,
        batch: Sequence[Owned],
    ) -> dns.message.Message:
        what = f"rfc2136 {operation}" + (f" of {owners_of(batch)}" if batch else "")
        record = str(batch[0]) if batch else ""
        try:
            return dns.query.tcp(message, endpoint.host, timeout=self._timeout, port=endpoint.port)
        except _TSIG_ERRORS as error:
            problem = type(error).__name__.removeprefix("Peer")
            raise ProviderAuthError(
                f"{what} at {endpoint}: TSIG {problem}"
                f" for key {self.key.name!r} ({self.key.algorithm})",
                provider=self.name,
                operation=operation,
                record=record,
                hint=_TSIG_HINTS.get(problem, "check the key's name, algorithm and secret"),
            ) from error
        except dns.exception.Timeout as error:
            raise ProviderUnreachable(
                f"{what}: {endpoint} did not answer within {self._timeout:g} s",
                provider=self.name,
                operation=operation,
                record=record,
                hint="check that the server listens on IPv6 and no firewall drops port 53",
            ) from error
        except (OSError, dns.exception.DNSException) as error:
            raise ProviderUnreachable(
                f"{what}: cannot reach {endpoint}: {error or type(error).__name__}",
                provider=self.name,
                operation=operation,
                record=record,
            ) from error

    def _check(
        self,
        response: dns.message.Message,
        zone: str,
        endpoint: Endpoint,
        batch: Sequence[Owned],
        operation: str,
        *,
        rdtype: str = "TXT",
    ) -> None:
        rcode = response.rcode()
        if rcode == dns.rcode.NOERROR:
            return
        meaning = RCODE_MEANING.get(rcode, "unexpected answer").format(rdtype=rdtype)
        what = f"rfc2136 {operation} of {owners_of(batch)} in zone {zone} at {endpoint}"
        if operation == "update" and rcode in (dns.rcode.NXRRSET, dns.rcode.YXRRSET):
            raise ConcurrentChange(
                f"{what}: {dns.rcode.to_text(rcode)}: the {rdtype} records changed since"
                " certv6 read them; nothing was written",
                provider=self.name,
                operation=operation,
                record=str(batch[0]),
            )
        refused = rcode in (dns.rcode.REFUSED, dns.rcode.NOTAUTH, dns.rcode.BADKEY)
        raise (ProviderAuthError if refused else ProviderError)(
            f"{what}: {dns.rcode.to_text(rcode)}: {meaning} (key {self.key.name!r})",
            provider=self.name,
            operation=operation,
            record=str(batch[0]),
            hint=(
                f"allow key {self.key.name} to update {rdtype} at these names in the server's"
                " update-policy" + (" (certv6 delegate prints one)" if rdtype == "TXT" else "")
                if refused
                else None
            ),
        )


def _prerequisite(update: dns.update.UpdateMessage, change: RRsetChange) -> None:
    if not change.current:
        update.absent(change.owner, change.rdtype)  # RRset does not exist (2.4.3)
        return
    rdatas = [dns.rdata.from_text("IN", change.rdtype, value) for value in sorted(change.current)]
    update.present(change.owner, *rdatas)  # RRset exists, value dependent (2.4.2)


def _quoted(value: str) -> str:
    # dns-01 values are base64url (RFC 8555 8.4): no quotes or backslashes to escape.
    return f'"{value}"'
