"""Which DNS challenge an issuance answers, and what each needs of the run.

``challenge = [...]`` (global, ``[certificate.NAME]``, or ``--challenge``) lists
the types in order of preference; for each authorization the first one the CA
offers is answered (acme_client/validation.py). What that changes for
``service/issue.py``:

- dns-01 and dns-account-01 publish a TXT value through the provider, with the
  ledger, the propagation wait and the cleanup as always;
- dns-persist-01 publishes nothing: the standing record is checked on every
  authoritative server before anything is answered (standing.py). A run whose
  list starts with dns-persist-01 needs no provider at all; if the CA does not
  offer it and the next type needs one, that is said before anything is answered.
"""

from __future__ import annotations

import contextlib
import datetime
import logging
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from certv6.clock import Clock
from certv6.dns01 import owners_to_check
from certv6.dnspersist import Expectation
from certv6.dnsquery import Dns
from certv6.errors import CertV6Error, ConfigError
from certv6.model import Identifier
from certv6.providers import Provider, preflight
from certv6.service import standing
from certv6.service.runtime import build_provider, choose_provider, propagation_settings
from certv6.settings import DNS_ACCOUNT01, DNS_PERSIST01, Settings

if TYPE_CHECKING:  # acme_client (acme, josepy) is imported once the CA answers (issue.py)
    from certv6.acme_client import AcmeSession, Answerable, PersistChallenge

log = logging.getLogger("certv6")


def provider_for(
    settings: Settings, wanted: str | None, kinds: Sequence[str], dns: Dns, clock: Clock
) -> Provider | None:
    """The DNS provider for this run; None when ``kinds`` can do without one.

    dns-persist-01 alone never needs one (--provider is then ignored: nothing is
    published); with a fallback after it, a configured provider is built (and
    checked) but none is required until the CA does not offer dns-persist-01.

    Raises:
        ConfigError: a provider is needed and none (or several) is configured.
    """
    if tuple(kinds) == (DNS_PERSIST01,) or (not wanted and _persist_first(kinds, settings)):
        return None
    return build_provider(settings, choose_provider(settings, wanted), dns, clock)


def _persist_first(kinds: Sequence[str], settings: Settings) -> bool:
    return bool(kinds) and kinds[0] == DNS_PERSIST01 and not settings.providers


def preflight_for(
    provider: Provider | None,
    identifiers: Sequence[Identifier],
    kinds: Sequence[str],
    dns: Dns,
    account_url: str | None,
) -> None:
    """The provider's preflight, for the owners the first publishing type of ``kinds``
    will write; nothing without a provider.

    dns-account-01's owners need the account URL; before the first run has an
    account, the ``_acme-challenge`` owners (same zone unless delegated) stand in.

    Raises:
        ProviderError: (or ConfigError) what the preflight found.
    """
    if provider is None:
        return
    publishing = [kind for kind in kinds if kind != DNS_PERSIST01]
    labelled = bool(publishing) and publishing[0] == DNS_ACCOUNT01
    preflight(
        provider, lambda: owners_to_check(identifiers, dns, account_url if labelled else None)
    )


def require_provider(chosen: Sequence[Answerable], provider: Provider | None) -> None:
    """A challenge that publishes needs a provider: say so before anything is answered.

    Raises:
        ConfigError: the CA did not offer dns-persist-01 for some name, and the next
            type in the list needs a DNS provider that is not configured.
    """
    from certv6.acme_client import PendingChallenge  # noqa: PLC0415 (issue.py's LATER)

    publishing = [c for c in chosen if isinstance(c, PendingChallenge)]
    if not publishing or provider is not None:
        return
    names = ", ".join(sorted({c.identifier for c in publishing}))
    raise ConfigError(
        f"the CA does not offer dns-persist-01 for {names}; {publishing[0].type} "
        "needs a DNS provider and none is configured",
        hint="configure a [provider.NAME] table, or use a CA that offers dns-persist-01",
    )


def describe(chosen: Sequence[Answerable]) -> str:
    """``dns-persist-01 for 2 name(s), dns-01 for 1``: for the log line of the order."""
    counts = Counter(challenge.type for challenge in chosen)
    return ", ".join(f"{kind} for {count} name(s)" for kind, count in counts.items())


@dataclass(frozen=True, slots=True)
class Standing:
    """The standing records an order relies on, judged before it was answered."""

    checks: tuple[standing.StandingCheck, ...] = ()
    warnings: tuple[str, ...] = ()

    def ending_before(self, not_after: datetime.datetime) -> tuple[str, ...]:
        return standing.ending_before(self.checks, not_after)


def check_before_answering(
    acme: AcmeSession,
    chosen: Sequence[Answerable],
    provider: Provider | None,
    settings: Settings,
    *,
    dns: Dns,
    clock: Clock,
) -> Standing:
    """A provider for what must be published, and the standing record of every
    dns-persist-01 challenge judged on every nameserver.

    On failure the order's open authorizations are deactivated (they will not be
    answered, and the CA limits how many may be pending), then the error is raised.

    Raises:
        StandingRecordError: a record is missing or would not authorize this order.
        ConfigError: the CA names no issuer domain name and none is configured; a
            challenge to publish and no provider (see ``require_provider``).
    """
    from certv6.acme_client import PersistChallenge  # noqa: PLC0415 (issue.py's LATER)

    persist = [c for c in chosen if isinstance(c, PersistChallenge)]
    with _deactivated_on_failure(acme, chosen):
        require_provider(chosen, provider)
        if not persist:
            return Standing()
        wanted = _expectations(persist, settings)
        wait = propagation_settings(settings, provider)
        checks = standing.check(wanted, wait, dns=dns, clock=clock)
        warnings = standing.require(checks, strict=wait.strict)
    return Standing(tuple(checks), warnings)


def _expectations(
    persist: Sequence[PersistChallenge], settings: Settings
) -> dict[str, Expectation]:
    wanted: dict[str, Expectation] = {}
    for challenge in persist:
        issuers = challenge.issuer_domain_names or (
            (settings.issuer_domain_name,) if settings.issuer_domain_name else ()
        )
        owner = Identifier(challenge.identifier).persist_owner
        wildcard = challenge.wildcard or (owner in wanted and wanted[owner].wildcard)
        wanted.update(standing.expectations({owner: wildcard}, issuers, challenge.account_uri))
    return wanted


@contextlib.contextmanager
def _deactivated_on_failure(acme: AcmeSession, chosen: Sequence[Answerable]) -> Iterator[None]:
    try:
        yield
    except CertV6Error:
        for url in dict.fromkeys(c.authorization_url for c in chosen if c.authorization_url):
            try:
                acme.deactivate(url)
            except CertV6Error as error:  # the first error is what the user must see
                log.debug("could not deactivate %s: %s", url, error)
        raise
