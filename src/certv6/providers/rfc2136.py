"""RFC 2136 dynamic updates, signed with TSIG (RFC 8945).

One UPDATE per zone per batch: all values of an order go to a zone's primary in
one message, so the zone's serial moves once and the secondaries transfer once.
"""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import dns.exception
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.tsig
import dns.update

from certv6.errors import ConfigError, ProviderAuthError, ProviderError, ProviderUnreachable
from certv6.model import Endpoint, ProviderHints, TxtRecord, parse_endpoint
from certv6.providers import ProviderContext
from certv6.settings import read_secret_file

log = logging.getLogger(__name__)

ALGORITHMS = {
    "hmac-sha256": dns.tsig.HMAC_SHA256,
    "hmac-sha224": dns.tsig.HMAC_SHA224,
    "hmac-sha384": dns.tsig.HMAC_SHA384,
    "hmac-sha512": dns.tsig.HMAC_SHA512,
    "hmac-sha1": dns.tsig.HMAC_SHA1,
    "hmac-md5": dns.tsig.HMAC_MD5,  # only when named explicitly in the config
}
OPTIONS = (
    "server",
    "key_file",
    "algorithm",
    "ttl",
    "timeout",
    "propagation_timeout",
    "poll_interval",
)
_KEY_BLOCK = re.compile(r'key\s+"?([^"\s{]+)"?\s*\{(.*?)\}\s*;', re.S)
_STATEMENT = re.compile(r'(\w+)\s+"?([^";]+)"?\s*;')
RCODE_MEANING = {
    dns.rcode.REFUSED: "the server refused it: this key may not change TXT records there",
    dns.rcode.NOTAUTH: "the server is not authoritative for the zone, or does not know the key",
    dns.rcode.NOTZONE: "the record is not inside the zone the update named",
    dns.rcode.SERVFAIL: "the server failed to apply it (see its log)",
    dns.rcode.FORMERR: "the server could not parse the update",
    dns.rcode.NOTIMP: "the server does not accept dynamic updates",
}


@dataclass(frozen=True, slots=True)
class TsigKey:
    name: str
    algorithm: str
    secret: str

    @property
    def dns_name(self) -> dns.name.Name:
        return dns.name.from_text(self.name)

    def keyring(self) -> dict[dns.name.Name, dns.tsig.Key]:
        name = dns.name.from_text(self.name)
        return {name: dns.tsig.Key(name, self.secret, ALGORITHMS[self.algorithm])}


def parse_key_file(text: str, origin: str, algorithm_override: str | None = None) -> TsigKey:
    """Read a BIND key file (what ``tsig-keygen`` writes).

    Raises:
        ConfigError: no key block, no secret, or an algorithm certv6 will not use.
    """
    block = _KEY_BLOCK.search(text)
    if block is None:
        raise ConfigError(
            f"{origin} is not a BIND key file",
            hint='expected: key "NAME" { algorithm hmac-sha256; secret "..."; };',
        )
    statements = dict(_STATEMENT.findall(block.group(2)))
    secret = statements.get("secret", "").strip()
    if not secret:
        raise ConfigError(f"{origin}: the key has no secret")
    algorithm = (algorithm_override or statements.get("algorithm", "hmac-sha256")).lower()
    if algorithm not in ALGORITHMS:
        raise ConfigError(
            f"{origin}: unknown TSIG algorithm {algorithm!r}",
            hint="use hmac-sha256 (or hmac-sha224/384/512, hmac-sha1)",
        )
    if algorithm == "hmac-md5" and algorithm_override != "hmac-md5":
        raise ConfigError(
            f"{origin}: the key uses hmac-md5, which certv6 uses only when asked by name",
            hint='set algorithm = "hmac-md5" in [provider.rfc2136] if you really must',
        )
    return TsigKey(block.group(1).rstrip("."), algorithm, secret)


class Rfc2136Provider:
    name = "rfc2136"

    def __init__(self, context: ProviderContext) -> None:
        context.check_options(OPTIONS)
        self._context = context
        self._dns = context.dns
        key_file = Path(context.option("key_file", required=True))
        data = read_secret_file(
            key_file, allow_insecure=context.allow_insecure_secrets, what="TSIG key file"
        )
        self.key = parse_key_file(
            data.decode(errors="replace"), str(key_file), context.option("algorithm")
        )
        server = context.option("server")
        self._server = parse_endpoint(str(server), 53) if server else None
        if (
            self._server
            and self._server.is_ip
            and ":" not in self._server.host
            and not context.allow_ipv4
        ):
            raise ConfigError(
                f"rfc2136 server {self._server} is an IPv4 address",
                hint="give the server's IPv6 address as '[addr]:53' (or allow_ipv4 = true)",
            )
        self._ttl = int(context.option("ttl", 60))
        self._timeout = float(context.option("timeout", 10.0))

    def hints(self) -> ProviderHints:
        return ProviderHints(
            propagation_timeout=float(self._context.option("propagation_timeout", 120.0)),
            poll_interval=float(self._context.option("poll_interval", 1.0)),
        )

    def present(self, records: Sequence[TxtRecord]) -> None:
        for zone, batch in self._by_zone(records).items():
            update = dns.update.UpdateMessage(
                zone, keyring=self.key.keyring(), keyname=self.key.dns_name
            )
            for record in batch:
                update.add(record.owner, self._ttl, "TXT", _quoted(record.value))
            self._send(zone, update, batch, "present")

    def cleanup(self, records: Sequence[TxtRecord]) -> None:
        for zone, batch in self._by_zone(records).items():
            update = dns.update.UpdateMessage(
                zone, keyring=self.key.keyring(), keyname=self.key.dns_name
            )
            for record in batch:
                # Deletes exactly this value (RFC 2136 2.5.4); other TXT values stay.
                update.delete(record.owner, "TXT", _quoted(record.value))
            self._send(zone, update, batch, "cleanup")

    def preflight(self) -> None:
        """A TSIG-signed SOA query: proves the server knows the key, changes nothing."""
        if self._server is None:
            return
        query = dns.message.make_query(self.key.name + ".", "SOA")
        query.use_tsig(self.key.keyring(), keyname=self.key.dns_name)
        for address in self._addresses_of(self._server.host):
            self._exchange(query, Endpoint(address, self._server.port), "preflight", [])
            return

    def _by_zone(self, records: Sequence[TxtRecord]) -> dict[str, list[TxtRecord]]:
        zones: dict[str, list[TxtRecord]] = defaultdict(list)
        for record in records:
            zones[self._dns.find_zone(record.owner)].append(record)
        return zones

    def _send(
        self, zone: str, update: dns.message.Message, batch: list[TxtRecord], operation: str
    ) -> None:
        errors: list[ProviderError] = []
        for endpoint in self._targets(zone):
            try:
                response = self._exchange(update, endpoint, operation, batch)
            except ProviderUnreachable as error:
                errors.append(error)
                continue
            self._check(response, zone, endpoint, batch, operation)
            log.info("%s: %d TXT value(s) in %s via %s", operation, len(batch), zone, endpoint)
            return
        raise (
            errors[-1]
            if errors
            else ProviderUnreachable(
                f"rfc2136 {operation}: no IPv6 address to send the update for {zone} to",
                provider=self.name,
                operation=operation,
                record=str(batch[0]),
            )
        )

    def _targets(self, zone: str) -> list[Endpoint]:
        if self._server is not None:
            return [Endpoint(a, self._server.port) for a in self._addresses_of(self._server.host)]
        mname, addresses = self._dns.primary(zone)
        if not addresses:
            raise ProviderUnreachable(
                f"rfc2136: the primary of {zone} ({mname}) has no IPv6 address",
                provider=self.name,
                operation="update",
                hint="set server = '[addr]:53' under [provider.rfc2136]",
            )
        return [Endpoint(address, 53) for address in addresses]

    def _addresses_of(self, host: str) -> list[str]:
        if Endpoint(host, 53).is_ip:
            return [host]
        addresses = list(self._dns.addresses(host, "AAAA"))
        if not addresses:
            raise ProviderUnreachable(
                f"rfc2136: server {host} has no IPv6 address",
                provider=self.name,
                hint="give the server as '[addr]:port', or add an AAAA record for it",
            )
        return addresses

    def _exchange(
        self,
        message: dns.message.Message,
        endpoint: Endpoint,
        operation: str,
        batch: list[TxtRecord],
    ) -> dns.message.Message:
        record = str(batch[0]) if batch else ""
        try:
            return dns.query.tcp(message, endpoint.host, timeout=self._timeout, port=endpoint.port)
        except (
            dns.tsig.PeerBadKey,
            dns.tsig.PeerBadSignature,
            dns.tsig.PeerBadTime,
            dns.tsig.PeerBadTruncation,
        ) as error:
            problem = type(error).__name__.removeprefix("Peer")
            raise ProviderAuthError(
                f"rfc2136 {operation} at {endpoint}: TSIG {problem}"
                f" for key {self.key.name!r} ({self.key.algorithm})",
                provider=self.name,
                operation=operation,
                record=record,
                hint="the server does not accept this key: check its name, algorithm and secret",
            ) from error
        except (OSError, dns.exception.DNSException) as error:
            raise ProviderUnreachable(
                f"rfc2136 {operation}: cannot reach {endpoint}: {error or type(error).__name__}",
                provider=self.name,
                operation=operation,
                record=record,
            ) from error

    def _check(
        self,
        response: dns.message.Message,
        zone: str,
        endpoint: Endpoint,
        batch: list[TxtRecord],
        operation: str,
    ) -> None:
        rcode = response.rcode()
        if rcode == dns.rcode.NOERROR:
            return
        meaning = RCODE_MEANING.get(rcode, "unexpected answer")
        owners = ", ".join(sorted({r.owner for r in batch}))
        error_class = (
            ProviderAuthError if rcode in (dns.rcode.REFUSED, dns.rcode.NOTAUTH) else ProviderError
        )
        raise error_class(
            f"rfc2136 {operation} of {owners} in zone {zone} at {endpoint}: "
            f"{dns.rcode.to_text(rcode)}: {meaning} (key {self.key.name!r})",
            provider=self.name,
            operation=operation,
            record=str(batch[0]),
        )


def _quoted(value: str) -> str:
    # dns-01 values are base64url (RFC 8555 8.4): no quotes or backslashes to escape.
    return f'"{value}"'
