"""Ordering from a list of CAs (``server = [...]``): the next one when a CA cannot issue now.

Every order starts with the first CA of the list (a renewal too, whichever CA
issued the certificate it replaces) and moves to the next only on an error
that says "this CA cannot issue now" (Caddy has done this for years):

    moves on        the CA is unreachable; it still answers 5xx after the retries
                    (serverInternal); it rate-limits (rateLimited, HTTP 429); it did
                    not finish in time; CAA forbids this CA (the next CA's own CAA
                    check runs before it is asked for anything, so a name no CA
                    of the list may issue for costs no order); the account there
                    cannot be used (deactivated, terms, EAB); it offers none of the
                    challenge types of ``challenge = [...]``; no standing
                    dns-persist-01 record authorizes this account at this CA (a
                    record names one CA's issuer domain name and one account URL,
                    so each CA is checked against its own, issue #15)
    never moves on  what would repeat at every CA: the CA looked and did not find
                    the TXT record (the DNS), a name no CA may issue for
                    (rejectedIdentifier, unsupportedIdentifier), a bad CSR, and
                    every error of the configuration, the provider, the DNS or
                    the store

Each CA skipped is logged with its reason and recorded in the lineage's health
with the CA that issued (``list`` shows both). ``replaces`` (RFC 9773) is only
ever sent to the CA that issued the certificate being replaced; the caller
decides that per CA.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TypeVar

from certv6.clock import SYSTEM_CLOCK, Clock
from certv6.errors import (
    AccountError,
    AcmeError,
    AcmeTimeout,
    CaUnreachable,
    CertV6Error,
    NoCaCouldIssue,
)
from certv6.service.account import check_new_accounts
from certv6.service.issue import IssueRequest, IssueResult, Progress, issue
from certv6.service.standing import NotAuthorizedHere
from certv6.settings import Settings
from certv6.store import Lineage, Store

log = logging.getLogger("certv6")

_Result = TypeVar("_Result")
# RFC 8555 6.7 types that are this CA's state, not the request's.
CA_NOW = {"rateLimited", "serverInternal", "caa", "userActionRequired", "externalAccountRequired"}
# certv6's own code for a CA that offers none of the configured challenge types.
NOT_OFFERED = "challengeNotOffered"
# Account errors that every CA would give too: the address itself is refused.
EVERYWHERE = {"invalidContact", "unsupportedContact"}


@dataclass(frozen=True, slots=True)
class Skipped:
    """A CA of the list that could not issue, and why."""

    ca: str
    reason: str

    def __str__(self) -> str:
        return f"{self.ca}: {self.reason}"


def cannot_issue_now(error: CertV6Error) -> bool:
    """True when ``error`` is this CA's trouble, so another CA may well succeed."""
    if isinstance(error, CaUnreachable | AcmeTimeout | NotAuthorizedHere):
        return True
    if not isinstance(error, AcmeError) or error.code in EVERYWHERE:
        return False
    if isinstance(error, AccountError):
        return True
    if error.code == NOT_OFFERED:
        return True
    return error.code in CA_NOW or error.status == 429 or error.status >= 500


def through_cas(
    cas: Sequence[str], attempt: Callable[[str], _Result]
) -> tuple[_Result, tuple[Skipped, ...]]:
    """``attempt(ca)`` for each CA in order until one works: (its result, the CAs skipped).

    Raises:
        CertV6Error: the first error that would repeat at every CA, as it is.
        NoCaCouldIssue: every CA failed with its own trouble (each one named).
    """
    if not cas:
        raise ValueError("through_cas needs at least one CA")
    skipped: list[Skipped] = []
    errors: list[CertV6Error] = []
    for index, ca in enumerate(cas):
        try:
            return attempt(ca), tuple(skipped)
        except CertV6Error as error:
            if not cannot_issue_now(error):
                raise
            skipped.append(Skipped(ca, str(error)))
            errors.append(error)
            if index + 1 == len(cas):
                if len(cas) == 1:
                    raise
                raise NoCaCouldIssue(
                    "no CA of the list could issue: " + "; ".join(map(str, skipped)),
                    errors=tuple(errors),
                    code=getattr(error, "code", ""),
                    hint=error.hint,
                ) from error
            log.warning("%s cannot issue now (%s); trying %s", ca, error, cas[index + 1])
    raise ValueError("unreachable")  # the last CA either returned or raised


def record_issuer(lineage: Lineage, skipped: tuple[Skipped, ...]) -> None:
    """Keep the CAs a fresh certificate's order skipped in the lineage's health."""
    if skipped:
        lineage.record(lambda health: health.issued_after(tuple(map(str, skipped))))


def issue_from_cas(
    settings: Settings,
    request: IssueRequest,
    *,
    clock: Clock = SYSTEM_CLOCK,
    progress: Progress | None = None,
) -> IssueResult:
    """``certv6 issue``: the CAs of ``server`` in order (``issue`` at each), see the module doc.

    Raises:
        CertV6Error: as ``issue``; NoCaCouldIssue when every CA had its own trouble.
    """
    # An EAB key is needed by a CA without an account: a bad one is the user's
    # mistake to name now, before anything is written (not when a fallback needs it).
    check_new_accounts(settings, Store(settings.state_dir))

    def attempt(ca: str) -> IssueResult:
        return issue(settings.at_ca(ca), request, clock=clock, progress=progress)

    result, skipped = through_cas(settings.ca_urls(), attempt)
    if not result.kept:
        record_issuer(Store(settings.state_dir).lineages.get(result.name), skipped)
    return replace(result, skipped=tuple(map(str, skipped)))
