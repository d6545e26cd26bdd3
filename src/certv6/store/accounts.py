"""ACME accounts, one per CA directory URL: the key (0600), the account URL and its state.

    accounts/<ca-host>-<hash>/
      account_key.pem          the key the CA holds for the account (0600)
      account_key.next.pem     a key rollover in flight: the new key, written before
                               the CA is asked, kept until the CA has confirmed it
      account.json             server, url, status (valid, deactivating, deactivated),
                               contact, when it was created, re-keyed, deactivated
      retired/<time>/          a deactivated account's files, once a new one replaced it

A rollover never leaves the account without a usable key: the old key is
replaced (one rename) only after the CA switched to the new one, and a run
that finds ``account_key.next.pem`` asks the CA which of the two it holds
(service/rollover.py) before it forgets either.
"""

from __future__ import annotations

import hashlib
import json
import os
import urllib.parse
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from certv6.errors import StoreError
from certv6.store.atomic import PRIVATE, PUBLIC, fsync_dir, make_dirs, write_atomic

VALID = "valid"
DEACTIVATING = "deactivating"  # write-ahead: the deactivation may or may not have reached the CA
DEACTIVATED = "deactivated"


@dataclass(frozen=True, slots=True)
class AccountRecord:
    """What ``account.json`` says (times are ISO 8601 strings, as written)."""

    server: str
    url: str | None
    status: str = VALID
    contact: tuple[str, ...] = ()
    created: str | None = None
    key_changed: str | None = None
    deactivated: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "server": self.server,
            "url": self.url,
            "status": self.status,
            "contact": list(self.contact),
            "created": self.created,
            "key_changed": self.key_changed,
            "deactivated": self.deactivated,
        }

    def but(self, **changes: Any) -> AccountRecord:
        return replace(self, **changes)


@dataclass(frozen=True, slots=True)
class AccountFiles:
    directory: Path

    @property
    def key_path(self) -> Path:
        return self.directory / "account_key.pem"

    @property
    def info_path(self) -> Path:
        return self.directory / "account.json"

    @property
    def next_key_path(self) -> Path:
        return self.directory / "account_key.next.pem"

    def read_key(self) -> bytes | None:
        try:
            return self.key_path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as error:
            raise StoreError(f"cannot read {self.key_path}: {error.strerror}") from error

    def write_key(self, pem: bytes) -> None:
        make_dirs(self.directory)
        write_atomic(self.key_path, pem, PRIVATE)

    def read_next_key(self) -> bytes | None:
        """The new key of a rollover in flight, if any."""
        try:
            return self.next_key_path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as error:
            raise StoreError(f"cannot read {self.next_key_path}: {error.strerror}") from error

    def write_next_key(self, pem: bytes) -> None:
        write_atomic(self.next_key_path, pem, PRIVATE)

    def promote_next_key(self) -> None:
        """The CA holds the new key now: it replaces the old one in one rename."""
        try:
            os.replace(self.next_key_path, self.key_path)
        except OSError as error:
            raise StoreError(
                f"cannot make {self.next_key_path} the account key: {error.strerror}",
                hint=f"the CA holds the key in {self.next_key_path}: rename it to "
                f"{self.key_path.name} by hand if certv6 cannot",
            ) from error
        fsync_dir(self.directory)

    def drop_next_key(self) -> None:
        """The CA never got the new key: forget it (the old one is the account's)."""
        try:
            self.next_key_path.unlink(missing_ok=True)
        except OSError as error:
            raise StoreError(f"cannot remove {self.next_key_path}: {error.strerror}") from error
        fsync_dir(self.directory)

    def read_record(self) -> AccountRecord | None:
        """The account's record; None before it is registered.

        Raises:
            StoreError: account.json is damaged (the hint says how to recover).
        """
        try:
            data = json.loads(self.info_path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as error:
            raise StoreError(
                f"cannot read {self.info_path}: {error}", hint=self.info_hint
            ) from error
        if not isinstance(data, dict) or not isinstance(data.get("url"), str):
            raise StoreError(f"{self.info_path} names no account URL", hint=self.info_hint)
        contact = data.get("contact")
        return AccountRecord(
            server=str(data.get("server") or ""),
            url=str(data["url"]),
            status=str(data.get("status") or VALID),
            contact=tuple(map(str, contact)) if isinstance(contact, list) else (),
            created=_text(data.get("created")),
            key_changed=_text(data.get("key_changed")),
            deactivated=_text(data.get("deactivated")),
        )

    def read_url(self) -> str | None:
        record = self.read_record()
        return record.url if record else None

    def write_record(self, record: AccountRecord) -> None:
        make_dirs(self.directory)
        body = json.dumps(record.to_json(), indent=2) + "\n"
        write_atomic(self.info_path, body.encode(), PUBLIC)

    def retire(self, stamp: str) -> Path:
        """Move a deactivated account's files to ``retired/<stamp>/``; return that directory.

        The record goes last: a run killed in between still finds it deactivated.
        """
        retired = make_dirs(self.directory / "retired" / stamp)
        try:
            for path in (self.next_key_path, self.key_path, self.info_path):
                if path.exists():
                    os.replace(path, retired / path.name)
        except OSError as error:
            raise StoreError(f"cannot move the old account aside: {error.strerror}") from error
        fsync_dir(self.directory)
        return retired

    @property
    def key_hint(self) -> str:
        return (
            f"put back a copy of {self.key_path} if you have one; otherwise remove "
            f"{self.directory} and certv6 creates a new account at the next run "
            "(the old one stays at the CA, unused)"
        )

    @property
    def info_hint(self) -> str:
        return (
            f"remove {self.info_path}: certv6 finds the account again from its key "
            "(unless it was deactivated: then see docs/accounts.md)"
        )

    def problem(self) -> tuple[str, str] | None:
        """What is wrong with the stored key or URL, without parsing the key: (what, fix).

        Cheap (no cryptography import), so ``renew`` and ``list`` check every account.
        """
        return self.key_problem() or self.url_problem()

    def key_problem(self) -> tuple[str, str] | None:
        try:
            pem = self.key_path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as error:
            return f"cannot read {self.key_path}: {error.strerror}", self.key_hint
        if not _looks_like_key(pem):
            what = "is empty" if not pem.strip() else "is not a whole PEM private key"
            return f"{self.key_path} {what} (truncated or overwritten)", self.key_hint
        return None

    def url_problem(self) -> tuple[str, str] | None:
        try:
            self.read_url()
        except StoreError as error:
            return error.message, error.hint
        return None

    def write_url(self, server: str, url: str) -> None:
        self.write_record(AccountRecord(server, url))

    def forget_url(self) -> None:
        self.info_path.unlink(missing_ok=True)


def all_accounts(accounts_dir: Path) -> list[AccountFiles]:
    try:
        names = sorted(os.listdir(accounts_dir))
    except FileNotFoundError:
        return []
    except OSError as error:
        raise StoreError(f"cannot list {accounts_dir}: {error.strerror}") from error
    return [AccountFiles(accounts_dir / name) for name in names if not name.startswith(".")]


def _looks_like_key(pem: bytes) -> bool:
    text = pem.strip()
    return (
        text.startswith(b"-----BEGIN ")
        and b"PRIVATE KEY-----" in text.splitlines()[0]
        and text.endswith(b"PRIVATE KEY-----")
        and len(text.splitlines()) >= 3
    )


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def account_files(accounts_dir: Path, server: str) -> AccountFiles:
    """Readable directory per CA: host name plus a short hash of the full URL."""
    host = urllib.parse.urlsplit(server).hostname or "server"
    digest = hashlib.sha256(server.encode()).hexdigest()[:12]
    safe_host = "".join(c if c.isalnum() or c in ".-" else "_" for c in host)
    return AccountFiles(accounts_dir / f"{safe_host}-{digest}")
