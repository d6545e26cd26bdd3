"""``certv6 renew`` at the CA: renewal info (RFC 9773), one lineage's new order.

A lineage renews through the configured list of CAs, starting with the first,
when the CA that issued it is in that list (service/fallback.py); otherwise
with the CA that issued it alone (certbot's rule: a config that names another
CA today does not move existing certificates). Renewal info and ``replaces``
only ever go to the CA that issued the certificate being replaced. The run's
sessions with the CAs, and their rate limits, are sessions.py's.

Imported (through run.py) only once something is due or its renewal info
is: acme, cryptography and dnspython come with it.
"""

from __future__ import annotations

import datetime
import logging
import random
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from certv6 import renewal
from certv6.acme_client import AcmeSession, RenewalInfoError, certificate_id, choose_profile
from certv6.clock import Clock
from certv6.errors import AcmeError, CertV6Error, ConfigError, OrderError, StoreError
from certv6.service.fallback import record_issuer, through_cas
from certv6.service.issue import IssueRequest, IssueResult, issue
from certv6.service.renew.plan import Candidate
from certv6.service.renew.sessions import (
    DEFAULT_POSTPONE,
    CaSessions,
    asked_to_wait,
    held_back,
)
from certv6.service.sharing import ALONE, Sharing
from certv6.settings import SERVER_SHORTCUTS, Settings, challenge_list, challenges_for
from certv6.store import Lineage, Store

log = logging.getLogger("certv6")

LETSENCRYPT_STAGING = SERVER_SHORTCUTS["letsencrypt-staging"]


@dataclass(frozen=True, slots=True)
class LineageConfig:
    """What lineage.json says to renew with."""

    domains: tuple[str, ...]
    server: str
    provider: str | None
    key_type: str | None
    profile: str | None
    challenge: tuple[str, ...] = ()  # what it was issued with; () before issue #15


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
        challenge=_challenge(lineage, config.get("challenge")),
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
    """Order a new certificate for ``found`` and store it; ``settings.server`` issued it.

    ``replacing`` allows ``replaces`` (RFC 9773 5): only for the CA that issued
    the current certificate, so never in a dry run against staging.

    A CA that asks to wait (a rate limit, a Retry-After) is one that cannot
    issue now: the next CA of the list is tried. Its wait is counted in
    ``sessions``; one held back after a streak is not asked at all.

    Raises:
        CertV6Error: as ``issue``; NoCaCouldIssue (each CA's error in ``errors``)
            when every CA of the list had its own trouble.
    """
    config = lineage_config(found.lineage, settings)
    cas = renewal_cas(settings)
    if len(cas) > 1:
        log.info("%s: the CAs to try: %s", found.name, ", ".join(cas))

    def attempt(ca: str) -> IssueResult:
        held = sessions.held_back(ca)
        if held is not None:
            raise held_back(ca, held, clock.now())
        try:
            result = _renew_at(
                found,
                config,
                settings.at_ca(ca),
                sessions,
                live=replacing,
                replacing=replacing and ca == settings.server,
                clock=clock,
                sharing=sharing,
            )
        except AcmeError as error:
            if asked_to_wait(error):
                sessions.rate_limited(ca, clock.now() + (error.retry_after or DEFAULT_POSTPONE))
            raise
        sessions.answered(ca)
        return result

    result, skipped = through_cas(cas, attempt)
    if not result.kept:
        record_issuer(found.lineage, skipped)
    return replace(result, skipped=tuple(map(str, skipped)))


def renewal_cas(settings: Settings) -> tuple[str, ...]:
    """The configured list when it holds the issuing CA (``settings.server``), else that CA."""
    listed = settings.ca_urls()
    return listed if settings.server in listed else (settings.server,)


def _renew_at(
    found: Candidate,
    config: LineageConfig,
    settings: Settings,
    sessions: CaSessions,
    *,
    live: bool,
    replacing: bool,
    clock: Clock,
    sharing: Sharing,
) -> IssueResult:
    """One renewal order at ``settings.server``; ``replacing``: that CA issued the current one."""
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
        expected_current=found.current if live else None,
        # [certificate.NAME] challenge wins, then what it was issued with, then the setting.
        challenges=challenges_for(settings, found.name, stored=config.challenge),
    )
    # --force on a certificate that is not due: say so, not a made-up reason.
    reason = found.decision.reason if found.due and found.decision else "forced"
    log.info(
        "%s: renewing at %s (%s)%s",
        found.name,
        settings.server,
        reason,
        f", replaces {replaces}" if replaces else "",
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
    # The staging CA alone: a dry run never falls back to another (live) CA.
    return replace(settings.at_ca(staging), cas=(), state_dir=directory)


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
    # Taken over from another client (certv6 import certbot): issued to its account,
    # which a CA may insist on for "replaces"; a plain new order always works.
    if found.lineage.current().meta.get("imported_from"):
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


def _challenge(lineage: Lineage, value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    try:
        return challenge_list(value)
    except (TypeError, ValueError) as error:
        where = lineage.directory / "lineage.json"
        raise StoreError(f"{where}: challenge: {error}") from None


def _optional(value: Any) -> str | None:
    return str(value) if value else None


def _when(moment: datetime.datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC"
