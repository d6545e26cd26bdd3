"""The ACME account of a use case: load or create its key, register, open the session.

Every use case that talks to a CA comes through ``connect_account``. It refuses
an account that was deactivated (or whose deactivation was interrupted),
finishes what a killed key rollover left (``settle_rollover``: the CA is asked
which key it holds, and only the other one is forgotten), and creates the key
and the account at first use, with the CA's own options (``Settings.at_ca``).
"""

from __future__ import annotations

import base64
import binascii
import logging
import re

from certv6.acme_client import AccountKey, AcmeSession, account_for_key
from certv6.clock import Clock
from certv6.errors import AccountError, CertV6Error, ConfigError, StoreError
from certv6.keys import generate_key, key_to_pem, key_type_of, load_account_key
from certv6.service.fleet import is_fleet, publish_account, share_account
from certv6.settings import Settings, read_secret_file
from certv6.store import DEACTIVATED, DEACTIVATING, AccountFiles, AccountRecord, Store, hold_lock

log = logging.getLogger("certv6")

# Longer than one request's retries (60 s): a rollover in flight finishes first.
ACCOUNT_LOCK_WAIT = 90.0
_BASE64URL = re.compile(r"^[A-Za-z0-9_-]+={0,2}$")  # RFC 4648 section 5

PROMOTED = "promoted"  # the CA held the new key: it is the account key now
UNUSED = "unused"  # the CA never got the new key


def connect_account(settings: Settings, store: Store, clock: Clock) -> AcmeSession:
    """Open the ACME session with this CA's account, creating key and account if needed.

    Raises:
        AccountError: the account was deactivated, or a rollover cannot be settled now.
    """
    if is_fleet(settings):
        share_account(settings, store, clock)  # one account per CA for the whole fleet
    files = store.account(settings.server)
    record = files.read_record()
    refuse_retired(settings, record)
    return open_session(settings, store, clock, record=record)


def open_session(
    settings: Settings,
    store: Store,
    clock: Clock,
    *,
    record: AccountRecord | None,
    create: bool = True,
) -> AcmeSession:
    """The session with the stored key; registers when ``create`` and no URL is known."""
    files = store.account(settings.server)
    pem = files.read_key()
    if pem is None and create:
        pem = key_to_pem(generate_key(settings.account_key_type))
        files.write_key(pem)
        log.info("account: new %s key in %s", settings.account_key_type, files.key_path)
    session = open_existing(settings, store, clock, url=record.url if record else None)
    if record is not None and record.url:
        if files.read_next_key() is not None:
            with hold_lock(
                store.account_lock(files),
                wait=ACCOUNT_LOCK_WAIT,
                clock=clock,
                what=f"the account with {settings.server}",
            ):
                if settle_rollover(session, files) == PROMOTED:
                    note_key_change(settings, store, files, clock)
                # Another run may have finished the rollover while this one waited.
                stored = files.read_key()
                if stored is not None:
                    session.use_key(load_key(files, stored))
    elif create:
        register(session, settings, store, clock)
    return session


def open_existing(
    settings: Settings, store: Store, clock: Clock, *, url: str | None
) -> AcmeSession:
    """The session with the stored key and ``url``, as they are: nothing settled or created.

    Raises:
        ConfigError: there is no stored key.
    """
    files = store.account(settings.server)
    pem = files.read_key()
    if pem is None:
        raise ConfigError(f"no account key in {files.directory}")
    key = load_key(files, pem)
    try:
        session = connect(settings, key, clock)
    except CertV6Error as error:
        if files.next_key_path.exists():
            raise _pending(files, error) from error
        raise
    if url:
        session.use_account(url)
    return session


def _pending(files: AccountFiles, error: CertV6Error) -> AccountError:
    return AccountError(
        f"{error}; and a key rollover of this account was interrupted, so which key the CA "
        "holds is not known yet",
        hint="run the command again once the CA answers: it keeps the key the CA holds; both "
        f"keys are kept until then ({files.key_path.name}, {files.next_key_path.name}; "
        "docs/accounts.md)",
    )


def connect(settings: Settings, key: AccountKey, clock: Clock) -> AcmeSession:
    """Fetch the directory of ``settings.server`` for a session signed with ``key``."""
    return AcmeSession.connect(
        settings.server,
        key,
        ca_bundle=str(settings.ca_bundle) if settings.ca_bundle else None,
        clock=clock,
        allow_ipv4=settings.allow_ipv4,
    )


def load_key(files: AccountFiles, pem: bytes, *, pending: bool = False) -> AccountKey:
    path = files.next_key_path if pending else files.key_path
    try:
        return load_account_key(pem, str(path))
    except StoreError as error:
        # A damaged key is not a full disk: name the way out (issue #23).
        raise StoreError(error.message, hint=files.key_hint) from error


def register(
    session: AcmeSession,
    settings: Settings,
    store: Store,
    clock: Clock,
    *,
    emails: tuple[str, ...] | None = None,
) -> str:
    """Create the account at the CA and record it; ``emails`` None means ``settings.email``."""
    contact = emails if emails is not None else tuple(filter(None, [settings.email]))
    url = session.register(
        email=",".join(contact) or None, agree_tos=settings.agree_tos, eab=eab_credentials(settings)
    )
    now = clock.now().isoformat(timespec="seconds")
    record = AccountRecord(
        settings.server, url, contact=tuple(f"mailto:{e}" for e in contact), created=now
    )
    store.account(settings.server).write_record(record)
    log.info("account: %s", url)
    if is_fleet(settings):
        publish_account(settings, store, clock)  # or adopt the account a faster host registered
    return url


def refuse_retired(settings: Settings, record: AccountRecord | None) -> None:
    """A deactivated account is never used again; an interrupted deactivation is finished first.

    Raises:
        AccountError: with the command that applies.
    """
    if record is None or record.status not in (DEACTIVATED, DEACTIVATING):
        return
    server = settings.ca(settings.server).name
    if record.status == DEACTIVATING:
        raise AccountError(
            f"the deactivation of the account {record.url} with {settings.server} was "
            "interrupted; certv6 does not use the account until it is finished",
            hint=f"run certv6 account deactivate --server {server} --yes to finish it",
        )
    raise AccountError(
        f"the account {record.url} with {settings.server} was deactivated "
        f"({record.deactivated or 'date unknown'}); certv6 never uses it again",
        hint=f"certv6 account register --server {server} --agree-tos [--email ...] creates "
        "a new account with a new key (docs/accounts.md)",
    )


def note_key_change(settings: Settings, store: Store, files: AccountFiles, clock: Clock) -> None:
    """Record that the account's key changed now; in a fleet, the fleet takes the new key."""
    record = files.read_record()
    if record is not None:
        files.write_record(record.but(key_changed=clock.now().isoformat(timespec="seconds")))
    if is_fleet(settings):
        try:
            share_account(settings, store, clock)
        except CertV6Error as error:
            # The CA holds the new key already: say that it worked, and what still waits.
            error.message = (
                f"the account key changed at the CA, but the fleet does not have it yet: {error}"
            )
            error.args = (error.message,)
            error.hint = (
                f"{error.hint}; the next certv6 run on this host gives the fleet the new key "
                "(until then the other hosts cannot sign with the account)"
            )
            raise


def settle_rollover(session: AcmeSession, files: AccountFiles, *, drop_unused: bool = True) -> str:
    """Finish what a killed key rollover left: keep the key the CA holds (RFC 8555 7.3.5).

    Returns PROMOTED, UNUSED (the pending key dropped unless ``drop_unused``) or
    "" when no rollover was pending. Call it holding the account lock.

    Raises:
        AccountError: the CA cannot be asked now; both keys are kept.
    """
    pending = files.read_next_key()
    if pending is None:
        return ""
    new_key = load_key(files, pending, pending=True)
    try:
        holder = account_for_key(session, new_key)
    except CertV6Error as error:
        raise _pending(files, error) from error
    if holder == session.net.account_url:
        files.promote_next_key()
        session.use_key(new_key)
        log.info("account: an interrupted key rollover had reached the CA; the new key is in use")
        return PROMOTED
    if holder is not None:
        raise AccountError(
            f"the pending key {files.next_key_path} belongs to another account ({holder})",
            hint=f"move {files.next_key_path} away; {files.key_path.name} is this account's key",
        )
    if drop_unused:
        files.drop_next_key()
        log.info("account: an interrupted key rollover never reached the CA; the old key stays")
    return UNUSED


def eab_credentials(settings: Settings) -> tuple[str, str] | None:
    """(kid, HMAC key) for external account binding (RFC 8555 7.3.4), read and checked.

    Raises:
        ConfigError: the key file is unreadable, readable by others, or not base64url.
    """
    if not settings.eab_kid or settings.eab_hmac_key_file is None:
        return None
    path = settings.eab_hmac_key_file
    secret = read_secret_file(path, allow_insecure=settings.insecure_secrets, what="EAB HMAC key")
    text = secret.decode("ascii", errors="replace").strip()
    try:
        decoded = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        decoded = b""
    if not _BASE64URL.match(text) or not decoded:
        # Never the content itself: it is a secret (and a wrong one is still half right).
        raise ConfigError(
            f"the EAB HMAC key in {path} is not base64url ({len(text)} characters)",
            hint="paste the HMAC key exactly as your CA's account page shows it "
            "(letters, digits, '-' and '_')",
        )
    return settings.eab_kid, text


def check_new_accounts(settings: Settings, store: Store) -> None:
    """Read the EAB key of every CA of the list that has no account yet, before anything
    is written: a bad one is a mistake to report now, not when a fallback needs it."""
    for url in settings.ca_urls():
        try:
            known = store.account(url).read_url()
        except StoreError:
            continue  # a damaged account is reported where it is used
        if known is None:
            eab_credentials(settings.at_ca(url))


def key_type(files: AccountFiles) -> str | None:
    """The stored key's type ("ec256", ...), None when there is none or it is damaged."""
    pem = files.read_key()
    if pem is None:
        return None
    try:
        return key_type_of(load_account_key(pem, str(files.key_path)))
    except StoreError:
        return None
