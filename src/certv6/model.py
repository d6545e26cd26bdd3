"""Values that cross module boundaries: identifiers, TXT records, RRset changes, provider hints.

Names are kept as A-labels (IDNA 2008), lower case, without the trailing dot,
because that is the form the CSR, the ACME order and the DNS all agree on.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
from dataclasses import dataclass
from typing import Protocol

import dns.exception
import dns.name

from certv6.errors import ConfigError
from certv6.syntax import check_labels, refuse_ip_literal

CHALLENGE_LABEL = "_acme-challenge"
PERSIST_LABEL = "_validation-persist"  # draft-ietf-acme-dns-persist 3


@dataclass(frozen=True, slots=True, order=True)
class Identifier:
    """A DNS identifier of an order: ``example.org`` or ``*.example.org``."""

    name: str

    @property
    def wildcard(self) -> bool:
        return self.name.startswith("*.")

    @property
    def base(self) -> str:
        """The name without its wildcard label: what the CA validates (RFC 8555 7.1.3)."""
        return self.name[2:] if self.wildcard else self.name

    @property
    def challenge_owner(self) -> str:
        """Absolute owner name of the dns-01 TXT record (RFC 8555 8.4)."""
        return f"{CHALLENGE_LABEL}.{self.base}."

    def account_owner(self, account_url: str) -> str:
        """Absolute owner of this account's dns-account-01 TXT record:
        ``_<label>._acme-challenge.<base>.`` (draft-ietf-acme-dns-account-label 3.1)."""
        return f"_{account_label(account_url)}.{self.challenge_owner}"

    @property
    def persist_owner(self) -> str:
        """Absolute owner of the standing dns-persist-01 TXT record (a wildcard's too)."""
        return f"{PERSIST_LABEL}.{self.base}."

    def __str__(self) -> str:
        return self.name


def account_label(account_url: str) -> str:
    """The dns-account-01 label of an account, without its underscore: the first 10
    octets of SHA-256 of the account URL, base32, lower case (16 characters).

    draft-ietf-acme-dns-account-label 3.1: so that several ACME accounts (several
    clients) can validate the same name at once, each at a name of its own.
    """
    digest = hashlib.sha256(account_url.encode()).digest()[:10]
    return base64.b32encode(digest).decode().lower()


@dataclass(frozen=True, slots=True, order=True)
class TxtRecord:
    """One dns-01 value at one owner. ``owner`` is absolute (ends with a dot)."""

    owner: str
    value: str

    def __str__(self) -> str:
        return f'{self.owner} TXT "{self.value}"'


@dataclass(frozen=True, slots=True)
class RRsetChange:
    """Replace some values of one RRset: remove ``remove``, add ``add``, keep the rest.

    ``current`` is the whole RRset as certv6 read it from the zone's primary just
    before: a provider that can make the change conditional (an RFC 2136
    prerequisite, section 2.4.2) applies it only while the RRset is still exactly
    that, so a concurrent change is never overwritten blindly. Values are in
    their canonical text form (AAAA: RFC 5952). ``owner`` is absolute.
    """

    owner: str
    rdtype: str
    ttl: int
    current: frozenset[str]
    remove: frozenset[str]
    add: frozenset[str]

    @property
    def result(self) -> frozenset[str]:
        """The RRset once the change is applied."""
        return (self.current - self.remove) | self.add

    @property
    def gone(self) -> frozenset[str]:
        """Values that must no longer be served once the change is visible."""
        return self.remove - self.add

    def __str__(self) -> str:
        new = " ".join(sorted(self.result)) or "(none)"
        old = " ".join(sorted(self.current)) or "none"
        return f"{self.owner} {self.rdtype} {new} (was {old})"


def canonical_value(value: str, rdtype: str) -> str:
    """A value as certv6 compares it: an address in RFC 5952 form, anything else as it is."""
    if rdtype in ("AAAA", "A"):
        try:
            return str(ipaddress.ip_address(value.strip()))
        except ValueError:
            return value
    return value


class Owned(Protocol):
    """Anything a provider writes at an owner name (a TXT value, an RRset change)."""

    @property
    def owner(self) -> str: ...


@dataclass(frozen=True, slots=True)
class ProviderHints:
    """What a provider knows about how fast its changes show up."""

    propagation_timeout: float = 120.0
    poll_interval: float = 1.0
    max_values_per_owner: int | None = None


def parse_identifier(text: str) -> Identifier:
    """Check a user-supplied domain and return it as an A-label identifier.

    Accepts U-labels (converted with IDNA 2008) and one trailing dot. A wildcard
    is allowed only as the whole leftmost label (RFC 8555 7.1.3). IP addresses are
    refused: dns-01 cannot validate them (RFC 8738 section 7).

    Raises:
        ConfigError: the name is not something a CA could issue for via dns-01.
    """
    raw = text.strip()
    if raw in ("", "."):
        raise ConfigError(f"invalid domain {text!r}: empty name", hint="e.g. -d example.org")
    wildcard = raw.startswith("*.")
    rest = raw[2:] if wildcard else raw
    if rest.endswith("."):
        rest = rest[:-1]
    refuse_ip_literal(text, rest)
    if rest.endswith(".") or rest.startswith("."):
        raise ConfigError(f"invalid domain {text!r}: empty label")
    if not rest or "*" in rest:
        raise ConfigError(
            f"invalid domain {text!r}: a wildcard may only be the whole leftmost label",
            hint="write wildcards as '*.example.org'",
        )
    name = _to_a_labels(text, rest)
    _check_labels(text, name)
    full = f"*.{name}" if wildcard else name
    if len(full) > 253:
        raise ConfigError(f"invalid domain {text!r}: longer than 253 characters")
    return Identifier(full)


def parse_identifiers(texts: list[str] | tuple[str, ...]) -> tuple[Identifier, ...]:
    """Parse and de-duplicate, keeping the user's order."""
    seen: dict[Identifier, None] = {}
    for text in texts:
        seen.setdefault(parse_identifier(text), None)
    if not seen:
        raise ConfigError("no domain given", hint="pass at least one -d NAME")
    return tuple(seen)


def _to_a_labels(text: str, rest: str) -> str:
    try:
        if rest.isascii():
            name = dns.name.from_text(rest.lower())
        else:
            name = dns.name.from_unicode(rest, idna_codec=dns.name.IDNA_2008_Practical)
    except (dns.exception.DNSException, UnicodeError, ValueError) as error:
        raise ConfigError(f"invalid domain {text!r}: {error}") from error
    return name.to_text(omit_final_dot=True).lower()


def _check_labels(text: str, name: str) -> None:
    check_labels(text, name)
    for label in name.split("."):
        if not label.startswith("xn--"):
            continue
        try:
            dns.name.from_text(label).to_unicode(idna_codec=dns.name.IDNA_2008_Strict)
        except (dns.exception.DNSException, UnicodeError) as error:
            raise ConfigError(
                f"invalid domain {text!r}: {label!r} is not a valid IDNA A-label ({error})"
            ) from error


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A host and port. IPv6 literals are written ``[addr]:port`` (RFC 3986 3.2.2)."""

    host: str
    port: int

    @property
    def is_ip(self) -> bool:
        return self.ip_version is not None

    @property
    def ip_version(self) -> int | None:
        """4 or 6 for an address literal, None for a host name."""
        try:
            return ipaddress.ip_address(self.host).version
        except ValueError:
            return None

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def parse_endpoint(text: str, default_port: int | None) -> Endpoint:
    """Parse ``[2001:db8::1]:53``, ``[2001:db8::1]``, ``2001:db8::1``, ``host:53`` or ``host``.

    With ``default_port`` None the port must be written.

    Raises:
        ConfigError: not one of those forms, or a port missing or outside 1-65535.
    """
    raw = text.strip()
    host, port_text = raw, ""
    if raw.startswith("["):
        close = raw.find("]")
        if close < 0 or (close + 1 < len(raw) and raw[close + 1] != ":"):
            raise ConfigError(f"invalid endpoint {text!r}", hint="write IPv6 as '[addr]:port'")
        host, port_text = raw[1:close], raw[close + 2 :]
    elif raw.count(":") == 1:
        host, port_text = raw.split(":")
    if not host:
        raise ConfigError(f"invalid endpoint {text!r}: no host")
    if not port_text:
        if default_port is None:
            raise ConfigError(f"invalid endpoint {text!r}: no port", hint="write '[addr]:port'")
        port = default_port
    elif port_text.isdigit():
        port = int(port_text)
    else:
        raise ConfigError(f"invalid endpoint {text!r}: port is not a number")
    if not 0 < port < 65536:
        raise ConfigError(f"invalid endpoint {text!r}: port out of range")
    if ":" in host:
        try:
            host = str(ipaddress.IPv6Address(host))
        except ValueError:
            raise ConfigError(f"invalid endpoint {text!r}: bad IPv6 address") from None
    return Endpoint(host, port)


def parse_txt_owner(text: str) -> str:
    """An absolute owner name for a TXT look-up; underscores allowed (``_acme-challenge``).

    Raises:
        ConfigError: not a DNS name.
    """
    raw = text.strip()
    if not raw or ".." in raw or raw.startswith(".") or "*" in raw:
        raise ConfigError(f"invalid owner name {text!r}", hint="e.g. _acme-challenge.example.org")
    refuse_ip_literal(text, raw.rstrip("."))
    try:
        name = dns.name.from_text(raw.rstrip(".").lower())
    except dns.exception.DNSException as error:
        raise ConfigError(f"invalid owner name {text!r}: {error}") from error
    if len(name.labels) < 3:
        raise ConfigError(f"invalid owner name {text!r}: not inside any zone below a TLD")
    return name.to_text()
