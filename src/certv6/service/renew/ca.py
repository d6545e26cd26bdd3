"""``certv6 renew`` at the CA: sessions, renewal info (RFC 9773), one lineage's new order.

Imported (through run.py) only once something is due or its renewal info
is: acme, cryptography and dnspython come with it.
"""

from __future__ import annotations

import datetime
import logging
import random
import threading
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from certv6 import renewal
from certv6.acme_client import AcmeSession, RenewalInfoError, certificate_id, choose_profile
from certv6.clock import Clock
from certv6.errors import CertV6Error, ConfigError, OrderError, StoreError
from certv6.service.account import connect_account
from certv6.service.issue import IssueRequest, IssueResult, issue
from certv6.service.renew.plan import Candidate
from certv6.service.sharing import ALONE, Sharing
from certv6.settings import SERVER_SHORTCUTS, Settings
from certv6.store import Lineage, Store

log = logging.getLogger("certv6")

LETSENCRYPT_STAGING = SERVER_SHORTCUTS["letsencrypt-staging"]
# Orders the CA rate-limited in a row, after which a run stops asking it (issue #19).
RATE_LIMIT_STREAK = 3


class CaSessions:
    """One ACME session per CA directory for the whole run.

    A CA that could not be reached is not tried again for every other
    certificate of the run: its error is kept and raised again. The lineages
    of a run renewed side by side ask from their threads: one connects, the
    others wait for it.

    A CA that rate-limited RATE_LIMIT_STREAK orders in a row (each such
    lineage is postponed to the CA's Retry-After) is held back: the run's
    other lineages at that CA are postponed too, without asking it again.
    """

    def __init__(self, settings: Settings, store: Store, clock: Clock) -> None:
        self._settings = settings
        self._store = store
        self._clock = clock
        self._known: dict[str, AcmeSession | CertV6Error] = {}
        self._limited: dict[str, tuple[int, datetime.datetime]] = {}  # in a row, until
        self._lock = threading.Lock()

    def get(self, server: str) -> AcmeSession:
        with self._lock:
            known = self._known.get(server)
            if known is None:
                try:
                    known = connect_account(
                        replace(self._settings, server=server), self._store, self._clock
                    )
                except CertV6Error as error:
                    known = error
                self._known[server] = known
        if isinstance(known, CertV6Error):
            raise known
        return known

    def rate_limited(self, server: str, until: datetime.datetime) -> None:
        with self._lock:
            count, latest = self._limited.get(server, (0, until))
            self._limited[server] = (count + 1, max(latest, until))

    def answered(self, server: str) -> None:
        """An order at ``server`` went through: it is not holding everyone back."""
        with self._lock:
            self._limited.pop(server, None)

    def held_back(self, server: str) -> datetime.datetime | None:
        """Until when not to ask ``server`` at all, after a streak of rate limits."""
        with self._lock:
            count, until = self._limited.get(server, (0, None))
        return until if count >= RATE_LIMIT_STREAK else None


@dataclass(frozen=True, slots=True)
class LineageConfig:
    """What lineage.json says to renew with."""

    domains: tuple[str, ...]
    server: str
    provider: str | None
    key_type: str | None
    profile: str | None


def lineage_config(lineage: Lineage, settings: Settings) -> LineageConfig:
    """Raises StoreError for a lineage.json that does not say what to renew."""
    config = lineage.config()
    domains = config.get("domains")
    if not isinstance(domains, list) or not domains:
        raise StoreError(f"{lineage.directory / 'lineage.json'} names no domains")
    return LineageConfig(
        domains=tuple(str(domain) for domain in domains),
        # The CA that issued it, not today's default: certbot's rule, and ARI is per CA.
        server=str(config.get("server") or settings.server),
        provider=_optional(config.get("provider")),
        key_type=_optional(config.get("key_type")),
        profile=_optional(config.get("profile")),
    )


def refresh_ari(
    found: Candidate, sessions: CaSessions, server: str, *, clock: Clock, rng: random.Random
) -> Candidate:
    """Ask the CA about ``found``'s certificate, keep the answer in ari.json, decide again."""
    if found.certificate is None:
        return found
    now = clock.now()
    state = _ask(found, found.certificate, sessions, server, now=now, rng=rng)
    found.lineage.save_ari_state(state.to_json())
    return replace(found, ari=state, decision=renewal.decide(found.certificate, state, now=now))


def _ask(
    found: Candidate,
    certificate: renewal.Certificate,
    sessions: CaSessions,
    server: str,
    *,
    now: datetime.datetime,
    rng: random.Random,
) -> renewal.AriState:
    cert_id = ""
    try:
        session = sessions.get(server)
        if not session.offers_renewal_info:
            return renewal.not_offered(certificate, now=now)
        cert_id = certificate_id(found.lineage.current().read("cert.pem"))
        info = session.renewal_info(cert_id)
    except CertV6Error as error:
        retry = error.retry_after if isinstance(error, RenewalInfoError) else None
        log.warning("%s: no renewal info from the CA (%s); will ask again", found.name, error)
        return renewal.after_failure(
            found.ari, certificate, cert_id=cert_id, now=now, retry_after=retry
        )
    window = renewal.Window(info.window_start, info.window_end)
    state = renewal.after_answer(
        found.ari,
        certificate,
        cert_id=cert_id,
        window=window,
        retry_after=info.retry_after,
        explanation_url=info.explanation_url,
        now=now,
        rng=rng,
    )
    if state.renew_at is not None:
        why = f" (see {info.explanation_url})" if info.explanation_url else ""
        log.info("%s: the CA suggests renewing at %s%s", found.name, _when(state.renew_at), why)
    return state


def renew_one(
    found: Candidate,
    settings: Settings,
    sessions: CaSessions,
    *,
    replacing: bool,
    clock: Clock,
    sharing: Sharing = ALONE,
) -> IssueResult:
    """Order a new certificate for ``found`` at ``settings.server`` and store it.

    ``replacing`` allows ``replaces`` (RFC 9773 5): only for the CA that issued
    the current certificate, so never in a dry run against staging.
    """
    config = lineage_config(found.lineage, settings)
    session = sessions.get(settings.server)
    table = settings.certificates.get(found.name, {})
    profile = choose_profile(
        session.profiles,
        _text(table, "profile", found.name) or config.profile,
        _text(table, "profile_policy", found.name) or "preferred",
        what=found.name,
    )
    replaces = _replaces(found, session) if replacing else None
    request = IssueRequest(
        domains=config.domains,
        name=found.name,
        provider=config.provider,
        key_type=config.key_type,
        profile=profile,
        replaces=replaces,
        renewal=True,
        expected_current=found.current if replacing else None,
    )
    # --force on a certificate that is not due: say so, not a made-up reason.
    reason = found.decision.reason if found.due and found.decision else "forced"
    log.info(
        "%s: renewing (%s)%s", found.name, reason, f", replaces {replaces}" if replaces else ""
    )
    try:
        return issue(settings, request, clock=clock, sharing=sharing)
    except OrderError as error:
        if error.code != "alreadyReplaced" or replaces is None:
            raise
    # RFC 9773 5: another order already replaced this certificate (a run that
    # died after finalizing, or another client). A fresh order still works.
    log.info("%s: the CA says it was already replaced; ordering without 'replaces'", found.name)
    return issue(settings, replace(request, replaces=None), clock=clock, sharing=sharing)


def dry_run_settings(settings: Settings, server: str, directory: Path) -> Settings:
    """Settings for renewing against ``server``'s staging CA with state in ``directory``.

    A staging account the live store already has is copied (read only), so
    dry runs do not create a new account each time.
    """
    staging = settings.staging_server or _known_staging(server)
    live = Store(settings.state_dir).account(staging)
    key, url = live.read_key(), live.read_url()
    scratch = Store(directory).ensure().account(staging)
    if key is not None:
        scratch.write_key(key)
        if url:
            scratch.write_url(staging, url)
    return replace(settings, server=staging, state_dir=directory)


def _known_staging(server: str) -> str:
    if server in (SERVER_SHORTCUTS["letsencrypt"], LETSENCRYPT_STAGING):
        return LETSENCRYPT_STAGING
    raise ConfigError(
        f"--dry-run needs the CA's staging directory; none is known for {server}",
        hint='set staging_server = "https://..." in the config',
    )


def _replaces(found: Candidate, session: AcmeSession) -> str | None:
    # RFC 9773 5: only to a CA that offers ARI, naming the certificate being replaced.
    if not session.offers_renewal_info:
        return None
    try:
        return certificate_id(found.lineage.current().read("cert.pem"))
    except CertV6Error as error:
        log.warning("%s: cannot name the current certificate for 'replaces': %s", found.name, error)
        return None


def _text(table: Any, key: str, name: str) -> str | None:
    value = table.get(key)
    if value is None or isinstance(value, str):
        return value or None
    raise ConfigError(f"[certificate.{name}] {key} must be a string")


def _optional(value: Any) -> str | None:
    return str(value) if value else None


def _when(moment: datetime.datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC"
