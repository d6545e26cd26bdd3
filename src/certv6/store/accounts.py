"""ACME accounts, one per CA directory URL: the key (0600) and the account URL."""

from __future__ import annotations

import hashlib
import json
import os
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from certv6.errors import StoreError
from certv6.store.atomic import PRIVATE, PUBLIC, make_dirs, write_atomic


@dataclass(frozen=True, slots=True)
class AccountFiles:
    directory: Path

    @property
    def key_path(self) -> Path:
        return self.directory / "account_key.pem"

    @property
    def info_path(self) -> Path:
        return self.directory / "account.json"

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

    def read_url(self) -> str | None:
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
        return str(data["url"])

    @property
    def key_hint(self) -> str:
        return (
            f"put back a copy of {self.key_path} if you have one; otherwise remove "
            f"{self.directory} and certv6 creates a new account at the next run "
            "(the old one stays at the CA, unused)"
        )

    @property
    def info_hint(self) -> str:
        return f"remove {self.info_path}: certv6 finds the account again from its key"

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
        make_dirs(self.directory)
        body = json.dumps({"server": server, "url": url}, indent=2) + "\n"
        write_atomic(self.info_path, body.encode(), PUBLIC)

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


def account_files(accounts_dir: Path, server: str) -> AccountFiles:
    """Readable directory per CA: host name plus a short hash of the full URL."""
    host = urllib.parse.urlsplit(server).hostname or "server"
    digest = hashlib.sha256(server.encode()).hexdigest()[:12]
    safe_host = "".join(c if c.isalnum() or c in ".-" else "_" for c in host)
    return AccountFiles(accounts_dir / f"{safe_host}-{digest}")
