"""The ACME account of a use case: load or create its key, register, open the session."""

from __future__ import annotations

import logging

from certv6.acme_client import AcmeSession
from certv6.clock import Clock
from certv6.errors import ConfigError, StoreError
from certv6.keys import generate_key, key_to_pem, load_account_key
from certv6.service.fleet import is_fleet, publish_account, share_account
from certv6.settings import Settings, read_secret_file
from certv6.store import Store

log = logging.getLogger("certv6")


def connect_account(settings: Settings, store: Store, clock: Clock) -> AcmeSession:
    """Open the ACME session with this CA's account, creating key and account if needed."""
    if is_fleet(settings):
        share_account(settings, store, clock)  # one account per CA for the whole fleet
    files = store.account(settings.server)
    pem = files.read_key()
    if pem is None:
        pem = key_to_pem(generate_key("ec256"))
        files.write_key(pem)
        log.info("account: new EC P-256 key in %s", files.key_path)
    try:
        key = load_account_key(pem, str(files.key_path))
    except StoreError as error:
        # A damaged key is not a full disk: name the way out (issue #23).
        raise StoreError(error.message, hint=files.key_hint) from error
    session = AcmeSession.connect(
        settings.server,
        key,
        ca_bundle=str(settings.ca_bundle) if settings.ca_bundle else None,
        clock=clock,
        allow_ipv4=settings.allow_ipv4,
    )
    url = files.read_url()
    if url:
        session.use_account(url)
    else:
        register(session, settings, store)
        if is_fleet(settings):
            publish_account(settings, store, clock)
    return session


def register(session: AcmeSession, settings: Settings, store: Store) -> str:
    url = session.register(email=settings.email, agree_tos=settings.agree_tos, eab=_eab(settings))
    store.account(settings.server).write_url(settings.server, url)
    log.info("account: %s", url)
    return url


def _eab(settings: Settings) -> tuple[str, str] | None:
    if not settings.eab_kid:
        return None
    if settings.eab_hmac_key_file is None:
        raise ConfigError("eab_kid is set but eab_hmac_key_file is not")
    secret = read_secret_file(
        settings.eab_hmac_key_file, allow_insecure=settings.insecure_secrets, what="EAB HMAC key"
    )
    return settings.eab_kid, secret.decode().strip()
