"""Use case: least-privilege dns-01 by delegation (``certv6 delegate``).

Instead of an API token that can rewrite a whole account, the operator adds one
CNAME per name, ``_acme-challenge.example.org. CNAME example.org.acme.example.net.``,
into a small zone that holds nothing but challenge records, and gives certv6 a
TSIG key that may change only TXT records at exactly those names. A stolen key
can then publish challenge values for these names and nothing else.

Steps: the aliases to add, a key (made once, reused after), BIND and Knot
configuration that grants the key only those TXT names, then a check from this
host: every CNAME is there, and the delegated zone answers over IPv6.

For dns-account-01 the names to delegate are this account's labelled ones,
``_<label>._acme-challenge.<name>`` (draft-ietf-acme-dns-account-label), so the
account must exist first: the stored one for the configured CA, else it is
created here.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from certv6 import propagation
from certv6.clock import SYSTEM_CLOCK, Clock
from certv6.dnsquery import Dns
from certv6.errors import ConfigError, DnsError
from certv6.model import (
    CHALLENGE_LABEL,
    Identifier,
    TxtRecord,
    account_label,
    parse_identifier,
    parse_identifiers,
)
from certv6.providers.tsig import (
    TsigKey,
    generate_key,
    parse_key_file,
    render_key_file,
    render_knot_key,
)
from certv6.service.account import connect_account
from certv6.service.runtime import build_dns
from certv6.settings import DNS_ACCOUNT01, Settings, read_secret_file
from certv6.store import Store, make_dirs, write_atomic

log = logging.getLogger("certv6")

PROBE_VALUE = "certv6-delegation-check"  # asked for, never published


@dataclass(frozen=True, slots=True)
class DelegationRequest:
    domains: tuple[str, ...]
    zone: str  # the challenge zone delegated to certv6, e.g. acme.example.net
    key_name: str | None = None
    key_file: Path | None = None
    algorithm: str = "hmac-sha256"
    verify: bool = True
    challenge: str = "dns-01"  # or dns-account-01: this account's labelled names


@dataclass(frozen=True, slots=True)
class Alias:
    """One ``_acme-challenge`` owner (or a dns-account-01 one below it) and the name in
    the challenge zone it should point at."""

    owner: str  # _acme-challenge.example.org. (_<label>._acme-challenge.example.org.)
    target: str  # where the key may write: the CNAME's end if it already ends in the zone
    names: tuple[str, ...]  # the identifiers that share this owner (a name and its wildcard)
    status: str = "unchecked"  # ok | missing | elsewhere | unchecked
    found: str = ""  # where the CNAME chain ends today (when checked)

    @property
    def record(self) -> str:
        return f"{self.owner} CNAME {self.target}"


@dataclass(frozen=True, slots=True)
class ServerCheck:
    nameservers: tuple[str, ...]
    address: str
    answered: bool
    detail: str


@dataclass(frozen=True, slots=True)
class Delegation:
    zone: str
    aliases: tuple[Alias, ...]
    key_name: str
    algorithm: str
    key_file: Path
    knot_key_file: Path
    key_created: bool
    servers: tuple[ServerCheck, ...] = ()
    problems: tuple[str, ...] = ()  # why the check failed; empty when it passed or was skipped
    checked: bool = False

    @property
    def ok(self) -> bool:
        return not self.problems


def delegate(
    settings: Settings, request: DelegationRequest, *, clock: Clock = SYSTEM_CLOCK
) -> Delegation:
    """Plan the aliases, make (or reuse) the key, and check the delegation from this host.

    Raises:
        ConfigError: a bad name, zone, key name or algorithm; a key file of another key.
        StoreError: the key cannot be written.
        AcmeError: dns-account-01 and no account yet, and the CA cannot be reached.
    """
    zone = _zone(request.zone)
    identifiers = parse_identifiers(request.domains)
    label = _label(settings, clock) if request.challenge == DNS_ACCOUNT01 else None
    aliases = _aliases(identifiers, zone, label)
    key_name = request.key_name or f"certv6.{zone.rstrip('.')}"
    key_file = request.key_file or settings.state_dir / "keys" / f"{key_name}.key"
    key, created = _key(key_file, key_name, request.algorithm, settings.insecure_secrets)
    knot_file = key_file.with_suffix(".knot.conf")
    if created or not knot_file.exists():
        write_atomic(knot_file, render_knot_key(key).encode())
    delegation = Delegation(zone, aliases, key.name, key.algorithm, key_file, knot_file, created)
    if not request.verify:
        return delegation
    return _checked(delegation, build_dns(settings))


def _zone(text: str) -> str:
    zone = parse_identifier(text)
    if zone.wildcard:
        raise ConfigError(f"--to {text!r}: the challenge zone cannot be a wildcard")
    return zone.name + "."


def _label(settings: Settings, clock: Clock) -> str:
    """This account's dns-account-01 label; the account is created if there is none yet."""
    store = Store(settings.state_dir)
    url = store.account(settings.server).read_url()
    if url is None:
        log.info("delegate: dns-account-01 needs the account's URL; creating the account")
        url = connect_account(settings, store.ensure(), clock).account_url
    return account_label(url)


def _aliases(
    identifiers: Sequence[Identifier], zone: str, label: str | None = None
) -> tuple[Alias, ...]:
    """One alias per base name; with ``label``, at the account's labelled name (and the
    target gets the label too, so two accounts' values never meet in the zone)."""
    names: dict[str, list[str]] = {}
    for identifier in identifiers:
        names.setdefault(identifier.base, []).append(identifier.name)
    prefix = f"_{label}." if label else ""
    aliases = []
    for base, shared in names.items():
        target = f"{prefix}{base}.{zone}"
        if len(target) > 254:
            raise ConfigError(
                f"{target} is longer than a DNS name may be",
                hint="use a shorter challenge zone",
            )
        aliases.append(Alias(f"{prefix}{CHALLENGE_LABEL}.{base}.", target, tuple(shared)))
    return tuple(aliases)


def _key(path: Path, name: str, algorithm: str, insecure: bool) -> tuple[TsigKey, bool]:
    """The key in ``path`` if there is one (``delegate`` can run again), else a new one."""
    if path.exists():
        data = read_secret_file(path, allow_insecure=insecure, what="TSIG key file")
        key = parse_key_file(data.decode(errors="replace"), str(path))
        if key.name.lower() != name.rstrip(".").lower():
            raise ConfigError(
                f"{path} holds key {key.name!r}, not {name!r}",
                hint="pass --key-file for a new file, or --key-name to match this one",
            )
        log.info("delegate: using the existing key %s in %s", key.name, path)
        return key, False
    key = generate_key(name, algorithm)
    make_dirs(path.parent)
    write_atomic(path, render_key_file(key).encode())
    log.info("delegate: new TSIG key %s (%s) in %s", key.name, key.algorithm, path)
    return key, True


def _checked(delegation: Delegation, dns: Dns) -> Delegation:
    aliases = tuple(_check_alias(alias, delegation.zone, dns) for alias in delegation.aliases)
    problems = [_alias_problem(alias, delegation.zone) for alias in aliases if alias.status != "ok"]
    servers, zone_problems = _check_zone(delegation.zone, dns)
    return replace(
        delegation,
        aliases=aliases,
        servers=servers,
        problems=(*problems, *zone_problems),
        checked=True,
    )


def _alias_problem(alias: Alias, zone: str) -> str:
    if alias.status == "missing":
        return f"{alias.owner} has no CNAME yet: add {alias.record}"
    return f"{alias.owner} points to {alias.found}, which is outside {zone}"


def _check_alias(alias: Alias, zone: str, dns: Dns) -> Alias:
    chain = dns.follow_cname(alias.owner)
    end = chain[-1]
    if len(chain) == 1:
        return Alias(alias.owner, alias.target, alias.names, "missing", end)
    if end == zone or end.endswith("." + zone):
        # An existing alias into the zone is kept: the grants follow where it really points.
        return Alias(alias.owner, end, alias.names, "ok", end)
    return Alias(alias.owner, alias.target, alias.names, "elsewhere", end)


def _check_zone(zone: str, dns: Dns) -> tuple[tuple[ServerCheck, ...], list[str]]:
    """Every address of every NS of ``zone`` must answer its SOA, authoritatively, over IPv6."""
    problems = []
    try:
        found = dns.find_zone(zone)
        report = propagation.check_once(
            [TxtRecord(zone, PROBE_VALUE)], propagation.PropagationSettings(), dns=dns
        )
    except DnsError as error:
        return (), [f"the zone {zone} cannot be checked: {error}"]
    if found.lower() != zone:
        problems.append(f"{zone} is not a zone of its own (it is inside {found}): delegate it")
    checks = tuple(
        ServerCheck(
            server.nameservers,
            server.address or server.ipv4,
            bool(server.address) and server.serial is not None and bool(server.authoritative),
            _detail(server),
        )
        for server in report.servers
        if server.zone == found.lower()
    )
    problems += [
        f"{', '.join(c.nameservers)} ({c.address or 'no address'}): {c.detail}"
        for c in checks
        if not c.answered
    ]
    if not checks:
        problems.append(f"no nameserver of {zone} was found")
    return checks, problems


def _detail(server: propagation.ServerReport) -> str:
    if not server.address:
        return "no IPv6 address (A only, no NAT64): this host cannot reach it"
    if server.serial is None:
        return server.problem or "no answer over IPv6"
    if not server.authoritative:
        return "answered, but not authoritatively (lame delegation)"
    return f"SOA serial {server.serial} ({server.reach})"
