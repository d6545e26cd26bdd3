"""ACME accounts, one per CA directory URL: the key (0600) and the account URL."""

from __future__ import annotations

import hashlib
import json
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
            return str(json.loads(self.info_path.read_text())["url"])
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError) as error:
            raise StoreError(f"cannot read {self.info_path}: {error}") from error

    def write_url(self, server: str, url: str) -> None:
        make_dirs(self.directory)
        body = json.dumps({"server": server, "url": url}, indent=2) + "\n"
        write_atomic(self.info_path, body.encode(), PUBLIC)

    def forget_url(self) -> None:
        self.info_path.unlink(missing_ok=True)


def account_files(accounts_dir: Path, server: str) -> AccountFiles:
    """Readable directory per CA: host name plus a short hash of the full URL."""
    host = urllib.parse.urlsplit(server).hostname or "server"
    digest = hashlib.sha256(server.encode()).hexdigest()[:12]
    safe_host = "".join(c if c.isalnum() or c in ".-" else "_" for c in host)
    return AccountFiles(accounts_dir / f"{safe_host}-{digest}")
