"""Use cases of ``certv6 account``: show, register, update, rollover, deactivate (RFC 8555 7.3).

Each works on the account with one CA (``settings.server``; ``show`` may list
them all). Changing an account's key or state happens under the account's lock
and the ``certv6 renew`` run lock, so no renewal signs with a key that is
being replaced. The steps that must survive a SIGKILL are written down before
the CA is asked (docs/accounts.md):

- rollover: the new key is stored as ``account_key.next.pem``, then the CA is
  asked to switch (keyChange), then the new key replaces the old one; a run
  that finds a pending key asks the CA which key it holds (``settle_rollover``);
- deactivate: the account is marked ``deactivating``, then the CA is asked,
  then it is marked ``deactivated``; a deactivating account is used by nothing
  until ``certv6 account deactivate`` runs again and finishes.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from certv6.acme_client import (
    AccountObject,
    AcmeSession,
    change_key,
    deactivate,
    fetch_account,
    thumbprint,
)
from certv6.acme_client import update_contact as update_contact_at_ca
from certv6.clock import Clock
from certv6.errors import AccountError, CertV6Error, ConfigError
from certv6.keys import generate_key, key_to_pem, key_type_of
from certv6.service.account import (
    ACCOUNT_LOCK_WAIT,
    PROMOTED,
    UNUSED,
    connect,
    connect_account,
    eab_credentials,
    load_key,
    note_key_change,
    open_existing,
    open_session,
    refuse_retired,
    register,
    settle_rollover,
)
from certv6.service.fleet import is_fleet, share_account
from certv6.settings import Settings, check_email
from certv6.store import (
    DEACTIVATED,
    DEACTIVATING,
    VALID,
    AccountFiles,
    AccountRecord,
    Store,
    hold_lock,
)

log = logging.getLogger("certv6")

RUN_LOCK_WAIT = 10.0  # a renew run in progress: wait a little, then say so


@dataclass(frozen=True, slots=True)
class AccountView:
    """One account as ``certv6 account`` shows it (``to_json`` is the stable --json form)."""

    ca: str
    ca_name: str
    directory: Path
    url: str | None = None
    local_status: str = "none"  # none, valid, deactivating, deactivated
    status: str | None = None  # what the CA says; None when not asked
    contact: tuple[str, ...] = ()
    key_type: str | None = None
    thumbprint: str | None = None
    created: str | None = None
    key_changed: str | None = None
    deactivated: str | None = None
    pending_rollover: bool = False
    note: str = ""  # what this command did, in words
    error: CertV6Error | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "ca": self.ca,
            "ca_name": self.ca_name,
            "directory": str(self.directory),
            "url": self.url,
            "local_status": self.local_status,
            "status": self.status,
            "contact": list(self.contact),
            "key_type": self.key_type,
            "thumbprint": self.thumbprint,
            "created": self.created,
            "key_changed": self.key_changed,
            "deactivated": self.deactivated,
            "pending_rollover": self.pending_rollover,
            "note": self.note or None,
            "error": str(self.error) if self.error else None,
        }


def show(
    settings: Settings, *, clock: Clock, only: str | None = None, local: bool = False
) -> list[AccountView]:
    """Every account of the configured CAs and of the state directory (or the CA ``only``).

    Asks each CA for the account's status and contact unless ``local``; a CA
    that cannot be asked gives that account an ``error`` (the others still show).
    """
    store = Store(settings.state_dir)
    servers = [only] if only else [*settings.ca_urls(), *_stored_servers(store)]
    views = []
    for server in dict.fromkeys(servers):
        scoped = settings.at_ca(server)
        if is_fleet(scoped) and not local:
            _from_fleet(scoped, store, clock)
        view = local_view(scoped, store)
        if not local and view.url and view.local_status == VALID:
            view = _asked(view, scoped, store, clock)
        views.append(view)
    return views


def _from_fleet(settings: Settings, store: Store, clock: Clock) -> None:
    try:
        share_account(settings, store, clock)
    except CertV6Error as error:
        log.warning("account: the fleet's account with %s not read: %s", settings.server, error)


def register_account(
    settings: Settings,
    *,
    clock: Clock,
    emails: tuple[str, ...] = (),
    key_type: str | None = None,
) -> AccountView:
    """Create the account with ``settings.server`` explicitly (RFC 8555 7.3).

    Raises:
        ConfigError: an account exists already, or EAB or an address is wrong.
        AccountError: the CA refused (terms not agreed, EAB required or wrong).
    """
    for email in emails:
        check_email(email)
    store = Store(settings.state_dir)
    files = store.account(settings.server)
    record = files.read_record()
    if record is not None and record.status == DEACTIVATING:
        refuse_retired(settings, record)
    if record is not None and record.status != DEACTIVATED:
        raise ConfigError(
            f"certv6 has an account with {settings.server} already: {record.url}",
            hint="certv6 account show; 'account update' changes its contact, 'account "
            "rollover' its key, 'account deactivate' ends it",
        )
    eab = eab_credentials(settings)  # a bad HMAC key fails before anything is written
    wanted = key_type or settings.account_key_type
    pem = files.read_key() if record is None else None
    if pem is None or key_type_of(load_key(files, pem)) != wanted:
        pem = key_to_pem(generate_key(wanted))
    session = connect(settings, load_key(files, pem), clock)
    session.check_registration(agree_tos=settings.agree_tos, eab=eab)
    store.ensure()
    with _account_locks(settings, store, files, clock):
        if record is not None:
            retired = files.retire(clock.now().strftime("%Y%m%dT%H%M%SZ"))
            log.info("account: the deactivated account's files moved to %s", retired)
        files.write_key(pem)
        register(session, settings, store, clock, emails=emails or None)
    return local_view(settings, store, note="registered")


def update_contact(settings: Settings, *, clock: Clock, emails: tuple[str, ...]) -> AccountView:
    """Replace the account's contact addresses (RFC 8555 7.3.2); none removes them all."""
    for email in emails:
        check_email(email)
    store = Store(settings.state_dir)
    files, _record = _existing(settings, store, clock)
    session = connect_account(settings, store.ensure(), clock)
    account = update_contact_at_ca(session, [f"mailto:{email}" for email in emails])
    record = files.read_record()
    if record is not None:
        files.write_record(record.but(contact=account.contact))
    return _with_ca(local_view(settings, store, note="contact updated"), account)


def rollover(settings: Settings, *, clock: Clock, key_type: str | None = None) -> AccountView:
    """Give the account a new key through the CA's keyChange (RFC 8555 7.3.5).

    The old key stays until the CA has confirmed the new one. A rollover a
    killed run left is finished instead when the CA holds its key, and sent
    again with its key when the CA never got it.

    Raises:
        AccountError: the CA refused, or cannot say now which key it holds
            (both keys are kept; running the command again settles it).
    """
    store = Store(settings.state_dir)
    files, record = _existing(settings, store, clock)
    refuse_retired(settings, record)
    wanted = key_type or settings.account_key_type
    store.ensure()
    with _account_locks(settings, store, files, clock):
        session = open_existing(settings, store, clock, url=record.url)
        settled = settle_rollover(session, files, drop_unused=False)
        if settled == PROMOTED:
            note_key_change(settings, store, files, clock)
            return local_view(settings, store, note="an interrupted rollover was finished")
        pending = files.read_next_key() if settled == UNUSED else None
        if pending is None or key_type_of(load_key(files, pending, pending=True)) != wanted:
            pending = key_to_pem(generate_key(wanted))
            files.write_next_key(pending)
        _change_key(session, files, pending)
        note_key_change(settings, store, files, clock)
    log.info("account: %s now signs with a new %s key", session.net.account_url, wanted)
    return local_view(settings, store, note="key rolled over")


def deactivate_account(settings: Settings, *, clock: Clock) -> AccountView:
    """Deactivate the account at the CA (RFC 8555 7.3.6) and never use it again."""
    store = Store(settings.state_dir)
    files, record = _existing(settings, store, clock)
    if record.status == DEACTIVATED:
        return local_view(settings, store, note="was deactivated already")
    store.ensure()
    with _account_locks(settings, store, files, clock):
        record = files.read_record() or record
        files.write_record(record.but(status=DEACTIVATING))
        try:
            session = open_session(settings, store, clock, record=record, create=False)
            deactivate(session)
        except AccountError as error:
            # RFC 8555 7.3.6: the CA accepts nothing signed for a deactivated account;
            # an "unauthorized" here is a killed earlier run's request that went through.
            if error.code != "unauthorized":
                raise _unfinished(settings, error) from error
            log.info("account: the CA no longer accepts the account (%s)", error)
        except CertV6Error as error:
            raise _unfinished(settings, error) from error
        now = clock.now().isoformat(timespec="seconds")
        files.write_record(record.but(status=DEACTIVATED, deactivated=now))
    return local_view(settings, store, note="deactivated")


def local_view(settings: Settings, store: Store, *, note: str = "") -> AccountView:
    """What the state directory knows about the account with ``settings.server``."""
    files = store.account(settings.server)
    view = AccountView(settings.server, settings.ca(settings.server).name, files.directory)
    try:
        record = files.read_record()
        pem = files.read_key()
        key = load_key(files, pem) if pem else None
        pending = files.read_next_key() is not None
    except CertV6Error as error:
        return _but(view, error=error)
    return _but(
        view,
        url=record.url if record else None,
        local_status=record.status if record else "none",
        contact=record.contact if record else (),
        key_type=key_type_of(key) if key else None,
        thumbprint=thumbprint(key) if key else None,
        created=record.created if record else None,
        key_changed=record.key_changed if record else None,
        deactivated=record.deactivated if record else None,
        pending_rollover=pending,
        note=note,
    )


def _asked(view: AccountView, settings: Settings, store: Store, clock: Clock) -> AccountView:
    # Read only: a pending rollover is shown, not settled (that changes the store).
    try:
        account = fetch_account(open_existing(settings, store, clock, url=view.url))
    except CertV6Error as error:
        return _but(view, error=error)
    return _with_ca(view, account)


def _unfinished(settings: Settings, error: CertV6Error) -> AccountError:
    return AccountError(
        f"deactivating the account: {error}",
        code=getattr(error, "code", ""),
        hint="certv6 does not use the account until this is finished: run certv6 account "
        f"deactivate --server {settings.ca(settings.server).name} --yes again "
        "(once the CA answers)",
    )


def _with_ca(view: AccountView, account: AccountObject) -> AccountView:
    return _but(
        view,
        status=account.status,
        contact=account.contact,
        created=view.created or account.created_at,
    )


def _change_key(session: AcmeSession, files: AccountFiles, pending: bytes) -> None:
    try:
        change_key(session, load_key(files, pending, pending=True))
    except CertV6Error as error:
        # Did the CA switch? A lost answer or a retried request can fail after it did:
        # ask it with the new key before forgetting anything.
        if settle_rollover(session, files) == PROMOTED:
            return
        raise AccountError(
            f"the CA did not change the account key: {error}",
            hint="the old key stays in use; fix what the error says and run certv6 account "
            "rollover again",
        ) from error
    files.promote_next_key()


def _existing(settings: Settings, store: Store, clock: Clock) -> tuple[AccountFiles, AccountRecord]:
    if is_fleet(settings):
        share_account(settings, store, clock)  # the fleet's account, which this host may lack
    files = store.account(settings.server)
    record = files.read_record()
    if record is None or files.read_key() is None:
        raise ConfigError(
            f"certv6 has no account with {settings.server} in {settings.state_dir}",
            hint=f"certv6 account register --server {settings.ca(settings.server).name} "
            "--agree-tos (or the first certv6 issue) creates one",
        )
    return files, record


def _stored_servers(store: Store) -> list[str]:
    servers = []
    for account in store.accounts():
        try:
            record = account.read_record()
        except CertV6Error:
            continue  # damaged: list and check-store report it
        if record is not None and record.server:
            servers.append(record.server)
    return servers


@contextlib.contextmanager
def _account_locks(
    settings: Settings, store: Store, files: AccountFiles, clock: Clock
) -> Iterator[None]:
    """The renew run lock (no renewal signs with a key being replaced), then the account's."""
    with (
        hold_lock(
            store.lock_path("renew"),
            wait=RUN_LOCK_WAIT,
            clock=clock,
            what="certv6 renew (a run is in progress; try again when it has finished)",
        ),
        hold_lock(
            store.account_lock(files),
            wait=ACCOUNT_LOCK_WAIT,
            clock=clock,
            what=f"the account with {settings.server}",
        ),
    ):
        yield


def _but(view: AccountView, **changes: Any) -> AccountView:
    return replace(view, **changes)
