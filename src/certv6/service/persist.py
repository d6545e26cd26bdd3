"""Use case: the standing dns-persist-01 record to add once (``certv6 persist``).

1. the account: load or create it (its URL goes into the record)
2. the CA's issuer domain name and this account's URI, from the dns-persist-01
   challenge object of a fresh authorization (draft-ietf-acme-dns-persist 4);
   the order is made for exactly that and its authorizations are deactivated
   at once (RFC 8555 7.5.2), so nothing stays pending. ``issuer_domain_name``
   in the config skips this for a CA that publishes its name elsewhere.
3. the record per name: ``policy=wildcard`` when a wildcard is asked for,
   ``persistUntil`` with ``--until``
4. with ``--publish`` only: written with the configured provider (never into
   the ledger: it is meant to stay), and waited for on every nameserver
5. every authoritative nameserver asked what it serves there now (CNAMEs
   followed), judged as the CA would judge it (standing.py)
"""

from __future__ import annotations

import contextlib
import datetime
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from certv6 import propagation
from certv6.acme_client import AcmeSession, Authorization, PersistChallenge, offered
from certv6.clock import SYSTEM_CLOCK, Clock
from certv6.dns01 import effective_records
from certv6.dnspersist import Expectation
from certv6.dnsquery import Dns
from certv6.errors import CertV6Error, ConfigError, OrderError
from certv6.model import Identifier, TxtRecord, parse_identifiers
from certv6.providers import Provider, ProviderSession, preflight
from certv6.service.account import connect_account
from certv6.service.runtime import (
    build_dns,
    build_provider,
    choose_provider,
    propagation_settings,
)
from certv6.service.standing import StandingCheck, check, expectations
from certv6.settings import DNS_PERSIST01, Settings
from certv6.store import Store

log = logging.getLogger("certv6")
Progress = Callable[[propagation.Report], None]


@dataclass(frozen=True, slots=True)
class PersistRequest:
    domains: tuple[str, ...]
    until: datetime.datetime | None = None  # persistUntil: the record stops working then
    publish: bool = False
    provider: str | None = None


@dataclass(frozen=True, slots=True)
class PersistResult:
    issuer_domain_names: tuple[str, ...]
    account_uri: str
    source: str  # "challenge" (asked the CA) or "setting" (issuer_domain_name)
    records: tuple[tuple[str, Expectation], ...]  # (owner, what it must say), per base name
    names: tuple[tuple[str, tuple[str, ...]], ...]  # owner -> the names it covers
    checks: tuple[StandingCheck, ...]
    published: str = ""  # the provider that wrote the records, "" when not asked to
    until: datetime.datetime | None = None

    @property
    def ok(self) -> bool:
        return all(each.ok for each in self.checks)


def persist(
    settings: Settings,
    request: PersistRequest,
    *,
    clock: Clock = SYSTEM_CLOCK,
    progress: Progress | None = None,
) -> PersistResult:
    """Find what the record must say, publish it if asked, check every nameserver.

    Raises:
        ConfigError: bad names, a persistUntil in the past, a provider that cannot
            keep a standing record.
        OrderError: the CA does not offer dns-persist-01 (and none is configured).
        DnsError, PropagationTimeout, ProviderError: checking or publishing failed.
    """
    identifiers = parse_identifiers(request.domains)
    if request.until is not None and request.until <= clock.now():
        raise ConfigError(
            f"--until {request.until:%Y-%m-%d %H:%M} UTC is not in the future",
            hint="a record whose persistUntil has passed authorizes nothing",
        )
    dns = build_dns(settings)
    provider = _provider(settings, request, dns, clock) if request.publish else None
    store = Store(settings.state_dir).ensure()
    with contextlib.closing(ProviderSession(provider)):
        if provider is not None:
            preflight(provider, lambda: _owners(identifiers))
        acme = connect_account(settings, store, clock)
        issuers, account_uri, source = _ask(acme, identifiers, settings)
        owners = _owners_wildcard(identifiers)
        wanted = expectations(owners, issuers, account_uri)
        if provider is not None:
            _publish(provider, wanted, request.until, dns=dns, settings=settings, clock=clock,
                     progress=progress)  # fmt: skip
        wait = propagation_settings(settings, provider)
        checks = check(wanted, wait, dns=dns, clock=clock)
    return PersistResult(
        issuers,
        account_uri,
        source,
        tuple(wanted.items()),
        tuple((owner, _covered(identifiers, owner)) for owner in wanted),
        tuple(checks),
        provider.name if provider is not None else "",
        request.until,
    )


def _provider(settings: Settings, request: PersistRequest, dns: Dns, clock: Clock) -> Provider:
    provider = build_provider(settings, choose_provider(settings, request.provider), dns, clock)
    if not getattr(provider, "keeps_records", True):
        raise ConfigError(
            f"the {provider.name} provider cannot keep a standing record: its values "
            "live only while certv6 runs, or are replaced by the next ones",
            hint="add the printed record with your DNS host's tools instead (no --publish)",
        )
    return provider


def _owners(identifiers: Sequence[Identifier]) -> tuple[TxtRecord, ...]:
    return tuple(TxtRecord(owner, "") for owner in _owners_wildcard(identifiers))


def _owners_wildcard(identifiers: Sequence[Identifier]) -> dict[str, bool]:
    """``_validation-persist.<base>.`` -> whether a wildcard of it is asked for."""
    owners: dict[str, bool] = {}
    for identifier in identifiers:
        owner = identifier.persist_owner
        owners[owner] = owners.get(owner, False) or identifier.wildcard
    return owners


def _covered(identifiers: Sequence[Identifier], owner: str) -> tuple[str, ...]:
    return tuple(i.name for i in identifiers if i.persist_owner == owner)


def _ask(
    acme: AcmeSession, identifiers: Sequence[Identifier], settings: Settings
) -> tuple[tuple[str, ...], str, str]:
    """(issuer domain names, account URI, where they came from)."""
    if settings.issuer_domain_name:
        log.info("persist: issuer domain name %s (issuer_domain_name)", settings.issuer_domain_name)
        return (settings.issuer_domain_name,), acme.account_url, "setting"
    order = acme.new_order([identifier.name for identifier in identifiers])
    authorizations = acme.authorizations(order)
    try:
        challenge = _read(acme, authorizations, settings.server)
    finally:
        # Asked only to read the challenge: leave nothing pending at the CA.
        for authorization in authorizations:
            if authorization.status == "pending":
                with contextlib.suppress(CertV6Error):
                    acme.deactivate(authorization.url)
    log.info(
        "persist: the CA names %s; account %s",
        ", ".join(challenge.issuer_domain_names),
        challenge.account_uri,
    )
    return challenge.issuer_domain_names, challenge.account_uri, "challenge"


def _read(
    acme: AcmeSession, authorizations: Sequence[Authorization], server: str
) -> PersistChallenge:
    for authorization in authorizations:
        try:
            chosen = acme.challenge_for(authorization, (DNS_PERSIST01,))
        except OrderError as error:
            if error.code != "challengeNotOffered":
                raise
            raise OrderError(
                f"the CA at {server} does not offer dns-persist-01 for "
                f"{authorization.identifier} (it offers {', '.join(offered(authorization))})",
                code=error.code,
                hint="use dns-01 or dns-account-01 with this CA (docs/challenges.md); if it "
                'accepts standing records all the same, set issuer_domain_name = "..."',
            ) from error
        if isinstance(chosen, PersistChallenge) and chosen.issuer_domain_names:
            return chosen
    raise OrderError(
        f"the CA at {server} names no issuer domain name in its dns-persist-01 challenge",
        hint='if your CA documents its name elsewhere, set issuer_domain_name = "..."',
    )


def _publish(
    provider: Provider,
    wanted: dict[str, Expectation],
    until: datetime.datetime | None,
    *,
    dns: Dns,
    settings: Settings,
    clock: Clock,
    progress: Progress | None,
) -> None:
    records = [TxtRecord(owner, expected.record(until)) for owner, expected in wanted.items()]
    written = effective_records(records, dns)
    # Not in the ledger: a standing record is meant to stay; cleanup must never remove it.
    provider.present(written)
    log.info("persist: published %d record(s) with %s", len(written), provider.name)
    wait = propagation_settings(settings, provider)
    report = propagation.wait_until_visible(records, wait, dns=dns, clock=clock, progress=progress)
    log.info("%s (%s)", report.outcome(), report.summary())
