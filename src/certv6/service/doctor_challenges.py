"""``certv6 doctor``: which DNS challenges the CA offers, and the standing records.

An ACME directory does not say which challenges a CA offers; an authorization
does (RFC 8555 7.1.4). With an account at the CA, doctor orders the names once,
reads every authorization's challenges (and dns-persist-01's issuer domain name
and account URI), and deactivates the authorizations at once (RFC 8555 7.5.2):
nothing stays pending. Without an account it asks nothing (creating one is not
doctor's job) and says so.

Per name, the standing dns-persist-01 record is then judged on every
authoritative nameserver as ``issue`` judges it (standing.py): missing, another
account, another CA, malformed, no wildcard policy, expired, or persistUntil
soon. A problem fails when the name's challenge list has dns-persist-01, and is
only a warning when it does not (a record nobody uses yet).
"""

from __future__ import annotations

import contextlib
import datetime
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from certv6.acme_client import AcmeSession, PersistChallenge, offered
from certv6.clock import Clock
from certv6.dnspersist import Problem
from certv6.dnsquery import Dns
from certv6.doctor.report import Finding, fail, ok, warn
from certv6.errors import CertV6Error
from certv6.model import Identifier
from certv6.service.account import connect_account
from certv6.service.runtime import propagation_settings
from certv6.service.standing import StandingCheck, check, expectations
from certv6.settings import DNS_ACCOUNT01, DNS_PERSIST01, Settings
from certv6.store import Store

log = logging.getLogger("certv6")

SOON = datetime.timedelta(days=30)  # a standing record ending within this is a warning


@dataclass(frozen=True, slots=True)
class Offered:
    """What the CA's authorizations offered, and dns-persist-01's parameters."""

    types: dict[str, tuple[str, ...]] = field(default_factory=dict)  # name -> types
    issuers: tuple[str, ...] = ()
    account_uri: str = ""
    asked: bool = False


def ask_ca(
    settings: Settings, store: Store, identifiers: Sequence[Identifier], clock: Clock
) -> tuple[list[Finding], Offered, list[str]]:
    """(findings, what was offered, notes): one order, its authorizations deactivated."""
    if store.account(settings.server).problem() or not store.account(settings.server).read_url():
        note = (
            "which challenges the CA offers was not asked: there is no account at this CA "
            "yet (certv6 issue or certv6 persist creates it)"
        )
        return [], Offered(issuers=_configured(settings)), [note]
    try:
        acme = connect_account(settings, store, clock)
        found = _order_and_read(acme, identifiers)
    except CertV6Error as error:
        return [fail("ca", "challenges", error.message, error.hint)], Offered(), []
    issuers = found.issuers or _configured(settings)
    found = Offered(found.types, issuers, found.account_uri or acme.account_url, asked=True)
    findings = [
        ok("ca", "challenges", f"{name}: {', '.join(types) or 'none'}")
        for name, types in found.types.items()
    ]
    return findings, found, []


def _configured(settings: Settings) -> tuple[str, ...]:
    return (settings.issuer_domain_name,) if settings.issuer_domain_name else ()


def _order_and_read(acme: AcmeSession, identifiers: Sequence[Identifier]) -> Offered:
    order = acme.new_order([identifier.name for identifier in identifiers])
    authorizations = acme.authorizations(order)
    try:
        types: dict[str, tuple[str, ...]] = {}
        issuers: tuple[str, ...] = ()
        account_uri = ""
        for authorization in authorizations:
            name = ("*." if authorization.wildcard else "") + authorization.identifier
            types[name] = offered(authorization)
            if DNS_PERSIST01 in types[name]:
                persist = acme.challenge_for(authorization, (DNS_PERSIST01,))
                if isinstance(persist, PersistChallenge) and persist.issuer_domain_names:
                    issuers, account_uri = persist.issuer_domain_names, persist.account_uri
        return Offered(types, issuers, account_uri)
    finally:
        for authorization in authorizations:
            if authorization.status == "pending":
                with contextlib.suppress(CertV6Error):
                    acme.deactivate(authorization.url)


def labelled_owners(settings: Settings, store: Store, kinds: Sequence[str]) -> str | None:
    """The account URL whose dns-account-01 owners doctor checks, when dns-account-01 is
    the first challenge type that publishes (and the account exists); else None."""
    publishing = [kind for kind in kinds if kind != DNS_PERSIST01]
    if not publishing or publishing[0] != DNS_ACCOUNT01:
        return None
    files = store.account(settings.server)
    return None if files.problem() else files.read_url()


def offered_findings(
    identifiers: Sequence[Identifier], kinds: Sequence[str], found: Offered
) -> list[Finding]:
    """Per name: is one of the configured challenge types offered?"""
    findings = []
    for identifier in identifiers:
        types = found.types.get(identifier.name)
        if types is None:
            continue
        usable = [kind for kind in kinds if kind in types]
        if not usable:
            findings.append(
                fail(
                    identifier.name,
                    "challenge type",
                    f"the CA offers {', '.join(types) or 'nothing'}, none of {', '.join(kinds)}",
                    "choose one it offers: challenge = [...] (docs/challenges.md)",
                )
            )
        elif usable[0] != kinds[0]:
            findings.append(
                warn(
                    identifier.name,
                    "challenge type",
                    f"the CA does not offer {kinds[0]}: {usable[0]} is used instead",
                    f"fine if intended; else use a CA that offers {kinds[0]}",
                )
            )
        else:
            findings.append(ok(identifier.name, "challenge type", f"{usable[0]} (offered)"))
    return findings


def standing_findings(
    settings: Settings,
    identifiers: Sequence[Identifier],
    kinds: Sequence[str],
    found: Offered,
    *,
    dns: Dns,
    clock: Clock,
) -> list[Finding]:
    """The standing dns-persist-01 record of every base name, judged on every nameserver."""
    uses = DNS_PERSIST01 in kinds
    if not found.issuers or not found.account_uri:
        if uses and found.asked:
            return [fail("ca", "dns-persist-01", "the CA names no issuer domain name for it")]
        return []
    owners: dict[str, bool] = {}
    for identifier in identifiers:
        owner = identifier.persist_owner
        owners[owner] = owners.get(owner, False) or identifier.wildcard
    wanted = expectations(owners, found.issuers, found.account_uri)
    try:
        checks = check(wanted, propagation_settings(settings, None), dns=dns, clock=clock)
    except CertV6Error as error:
        section = identifiers[0].name
        return [(fail if uses else warn)(section, "dns-persist-01", error.message, error.hint)]
    return [_finding(each, uses, clock.now()) for each in checks]


def _finding(each: StandingCheck, uses: bool, now: datetime.datetime) -> Finding:
    name = each.owner.rstrip(".").removeprefix("_validation-persist.")
    until = each.verdict.persist_until
    if each.ok:
        servers = len(each.servers) - len(each.unchecked)
        if until is not None and until - now < SOON:
            return warn(
                name,
                "dns-persist-01",
                f"the standing record ends soon: persistUntil {until:%Y-%m-%d %H:%M} UTC",
                f'extend it: "{each.expectation.record()}" (or a later persistUntil)',
            )
        return ok(
            name,
            "dns-persist-01",
            f"the standing record authorizes this account ({servers} nameserver address(es))",
        )
    if each.verdict.problem is Problem.MISSING and not uses:
        return ok(name, "dns-persist-01", "no standing record (dns-persist-01 not configured)")
    message = f"{each.verdict.problem}: {each.verdict.detail}"
    if each.where:
        message += f" (at {each.where})"
    fix = f'the record must be: "{each.expectation.record()}"'
    return (fail if uses else warn)(name, "dns-persist-01", message, fix)
