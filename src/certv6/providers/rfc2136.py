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
import dns.rcode
import dns.rdata
import dns.update

from certv6.dnspersist import character_strings
from certv6.errors import (
    CertV6Error,
    ConcurrentChange,
    ConfigError,
    ProviderAuthError,
    ProviderError,
    ProviderUnreachable,
    describe_socket_error,
)
from certv6.model import Endpoint, Owned, ProviderHints, RRsetChange, TxtRecord, parse_endpoint
from certv6.providers import ProviderContext, RecordSupport, dnsupdate
from certv6.providers.common import HINT_OPTIONS, hints_from, owners_of, seconds, ttl
from certv6.providers.dnsupdate import PROBE_TIMEOUT
from certv6.providers.refusal import RCODE_MEANING, Situation, explain
from certv6.providers.tsig import ALGORITHMS, TsigKey, parse_key_file
from certv6.settings import read_secret_file

__all__ = ["ALGORITHMS", "RCODE_MEANING", "Rfc2136Provider", "TsigKey", "parse_key_file"]

log = logging.getLogger(__name__)
OwnedT = TypeVar("OwnedT", bound=Owned)

OPTIONS = ("server", "key_file", "algorithm", "ttl", "timeout", *HINT_OPTIONS)
# The value the preflight deletes: never published, so the UPDATE changes nothing
# (deleting an absent RR is a no-op, RFC 2136 section 3.4.2.4; the serial stays).
PREFLIGHT_VALUE = "certv6-preflight-never-published"
# What a probe deletes, per record type: nothing anyone publishes (100:: is in the
# discard-only prefix, RFC 6666), so the probe passes the policy check and changes nothing.
NEVER_PUBLISHED = {"TXT": f'"{PREFLIGHT_VALUE}"', "AAAA": "100::"}
SERVFAIL_RETRIES = (0.2, 0.5, 1.0)  # pauses before sending an update again after SERVFAIL


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
        self._clock = context.clock
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
        """Without names: a TSIG-signed query to ``server`` proves the key, when it can.

        A signed answer (whatever its rcode) proves the server knows the key and the
        secret. A server may also refuse a query outside its zones *unsigned* (Knot
        does): that proves only that it is reachable; ``preflight_for`` then proves the
        key per zone once the names are known. Without ``server`` the primary depends
        on the zone: nothing to check without names.

        Raises:
            ProviderAuthError: the server rejected the key (secret, name, algorithm).
            ProviderUnreachable: no answer over IPv6.
        """
        if self._server is None:
            return
        query = dns.message.make_query(self.key.name + ".", "SOA", flags=0)
        query.use_tsig(self.key.keyring(), keyname=self.key.dns_name)
        address = self._addresses_of(self._server.host, "preflight")[0]
        endpoint = Endpoint(address, self._server.port)
        reply = self._exchange(query, endpoint, "preflight", [])
        if reply.verified or (not reply.signed and reply.rcode == dns.rcode.REFUSED):
            log.info("preflight: %s answers (key %s)", endpoint, self.key.name)
            return
        # No zone to ask the server about, and the key was not accepted: an unsigned
        # NOTAUTH is PowerDNS's answer to a secret that differs (or a key it lacks).
        facts = dnsupdate.ServerFacts(serves_zone=True, knows_key=False, mname=None, software="")
        raise self._refused(reply, self.key.name + ".", endpoint, [], "preflight", facts=facts)

    def preflight_for(self, records: Sequence[TxtRecord]) -> None:
        """Prove, zone by zone, that the key may change TXT at these owners, changing nothing.

        Each zone's primary (``server``, or the SOA MNAME) gets a signed UPDATE that
        deletes a value nobody published at each owner: it passes the same key,
        address and policy checks as the real one, and leaves the zone (and its
        serial) as it was.

        Raises:
            ProviderAuthError, ProviderError, ProviderUnreachable: as ``present`` would.
        """
        probes = [TxtRecord(record.owner, PREFLIGHT_VALUE) for record in records]
        for zone, batch in self._by_zone(probes).items():
            update = self._update(zone)
            for record in batch:
                update.delete(record.owner, "TXT", _quoted(record.value))
            self._send(zone, update, batch, "preflight")

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
                reply = self._exchange(update, endpoint, operation, batch)
                for pause in SERVFAIL_RETRIES:
                    if reply.rcode != dns.rcode.SERVFAIL:
                        break
                    # A server that failed to apply an update (PowerDNS on a busy SQLite
                    # database, say) often applies it a moment later; adds and deletes of
                    # one value are idempotent, so sending it again is safe (and an UPDATE
                    # with prerequisites that did land fails them: ConcurrentChange, loud).
                    log.info("%s: SERVFAIL from %s; trying again", operation, endpoint)
                    self._clock.sleep(pause)
                    reply = self._exchange(update, endpoint, operation, batch)
            except ProviderUnreachable as error:
                errors.append(error)  # another address of the primary may answer
                continue
            if reply.rcode in (dns.rcode.NXRRSET, dns.rcode.YXRRSET) and operation == "update":
                raise self._concurrent(reply, zone, endpoint, batch, rdtype)
            if not reply.ok:
                raise self._refused(reply, zone, endpoint, batch, operation, rdtype=rdtype)
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
    ) -> dnsupdate.Reply:
        what = f"rfc2136 {operation}" + (f" of {owners_of(batch)}" if batch else "")
        try:
            return dnsupdate.exchange(message, endpoint, self._timeout)
        except (OSError, dns.exception.DNSException) as error:
            kind, problem, hint = _network_problem(error, endpoint, self._timeout)
            raise kind(
                f"{what}: {problem}",
                provider=self.name,
                operation=operation,
                record=str(batch[0]) if batch else "",
                hint=hint,
            ) from error

    def _refused(
        self,
        reply: dnsupdate.Reply,
        zone: str,
        endpoint: Endpoint,
        batch: Sequence[Owned],
        operation: str,
        *,
        facts: dnsupdate.ServerFacts | None = None,
        rdtype: str = "TXT",
    ) -> ProviderError:
        """The error for a refusal, after asking the server why (a few small queries)."""
        if facts is None:
            facts = dnsupdate.probe(endpoint, zone, self.key, min(self._timeout, PROBE_TIMEOUT))
        where = Situation(
            zone=zone,
            endpoint=str(endpoint),
            key_name=self.key.name,
            algorithm=self.key.algorithm,
            server_configured=self._server is not None,
            is_mname=self._is_mname(endpoint, facts.mname),
            rdtype=rdtype,
        )
        refusal = explain(reply, facts, where)
        if refusal.credentials and (reply.verified or facts.knows_key):
            batch = self._refused_records(zone, endpoint, batch, rdtype)
        rcode = dns.rcode.to_text(reply.rcode)
        subject = f"rfc2136 {operation}" + (f" of {owners_of(batch)}" if batch else "")
        return (ProviderAuthError if refusal.credentials else ProviderError)(
            f"{subject} in zone {zone} at {endpoint}: {rcode}: {refusal.cause}",
            provider=self.name,
            operation=operation,
            record=str(batch[0]) if batch else "",
            hint=refusal.hint,
        )

    def _refused_records(
        self, zone: str, endpoint: Endpoint, batch: Sequence[OwnedT], rdtype: str
    ) -> list[OwnedT]:
        """The records of a refused batch whose owner the key may not change (issue #18).

        A server that knows the key refuses the whole UPDATE without saying which
        name its policy objected to. Each owner is asked alone with an UPDATE that
        deletes a value never published: it changes nothing, but passes the same
        policy check.
        """
        owners = sorted({record.owner for record in batch})
        if len(owners) < 2:
            return list(batch)
        refused = set()
        for owner in owners:
            probe = self._update(zone)
            probe.delete(owner, rdtype, NEVER_PUBLISHED[rdtype])
            try:
                reply = dnsupdate.exchange(probe, endpoint, min(self._timeout, PROBE_TIMEOUT))
            except (OSError, dns.exception.DNSException):
                return list(batch)  # cannot tell: name them all
            if not reply.ok:
                refused.add(owner)
        return [record for record in batch if record.owner in refused] or list(batch)

    def _concurrent(
        self,
        reply: dnsupdate.Reply,
        zone: str,
        endpoint: Endpoint,
        batch: Sequence[Owned],
        rdtype: str,
    ) -> ConcurrentChange:
        # Only replace_rrsets sends prerequisites; a failed one means the RRset moved
        # since certv6 read it, and the server applied nothing (RFC 2136 3.2).
        return ConcurrentChange(
            f"rfc2136 update of {owners_of(batch)} in zone {zone} at {endpoint}:"
            f" {dns.rcode.to_text(reply.rcode)}: the {rdtype} records changed since"
            " certv6 read them; nothing was written",
            provider=self.name,
            operation="update",
            record=str(batch[0]),
        )

    def _is_mname(self, endpoint: Endpoint, mname: str | None) -> bool | None:
        if mname is None:
            return None
        try:
            return endpoint.host in self._dns.addresses(mname, "AAAA")
        except CertV6Error:
            return None


def _network_problem(
    error: OSError | dns.exception.DNSException, endpoint: Endpoint, timeout: float
) -> tuple[type[ProviderError], str, str]:
    """(error class, what happened, the fix) for an exchange that got no DNS answer."""
    if isinstance(error, dns.exception.Timeout):
        return (
            ProviderUnreachable,
            f"{endpoint} did not answer within {timeout:g} s",
            "check that the server listens on IPv6 and no firewall drops port 53",
        )
    if isinstance(error, OSError):
        return (
            ProviderUnreachable,
            f"cannot reach {endpoint}: {describe_socket_error(error)}",
            "check this host's route to the server, and that it listens on port 53",
        )
    return (
        ProviderError,
        f"{endpoint} sent an answer that is not DNS: {error}",
        "check that server points at a DNS server's port",
    )


def _prerequisite(update: dns.update.UpdateMessage, change: RRsetChange) -> None:
    if not change.current:
        update.absent(change.owner, change.rdtype)  # RRset does not exist (2.4.3)
        return
    rdatas = [dns.rdata.from_text("IN", change.rdtype, value) for value in sorted(change.current)]
    update.present(change.owner, *rdatas)  # RRset exists, value dependent (2.4.2)


def _quoted(value: str) -> str:
    # dns-01 values are base64url (RFC 8555 8.4), dns-persist-01 records printable
    # ASCII without quotes or backslashes: nothing to escape. A record longer than
    # 255 octets is one TXT record of several strings (RFC 1035 3.3.14); the same
    # split for cleanup, so the delete names exactly the record that was added.
    return " ".join(f'"{part}"' for part in character_strings(value))
