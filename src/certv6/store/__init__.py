"""State on disk: accounts, certificate lineages, the TXT ledger, published records, locks.

Every write is atomic; private keys are 0600; see each module for its layout.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from certv6.store.accounts import AccountFiles, account_files
from certv6.store.atomic import make_dirs, write_atomic
from certv6.store.ledger import Ledger, LedgerEntry
from certv6.store.lineage import (
    FILES,
    Lineage,
    Lineages,
    Snapshot,
    Version,
    check_lineage_name,
)
from certv6.store.locks import hold_lock
from certv6.store.owned import OwnedRecords, OwnedRRset

__all__ = [
    "FILES",
    "AccountFiles",
    "Ledger",
    "LedgerEntry",
    "Lineage",
    "Lineages",
    "OwnedRRset",
    "OwnedRecords",
    "Snapshot",
    "Store",
    "Version",
    "check_lineage_name",
    "hold_lock",
    "make_dirs",
    "write_atomic",
]


@dataclass(frozen=True, slots=True)
class Store:
    """The state directory and its parts."""

    root: Path

    def ensure(self) -> Store:
        make_dirs(self.root)
        make_dirs(self.root / "locks")
        return self

    @property
    def lineages(self) -> Lineages:
        return Lineages(self.root / "certificates")

    @property
    def ledger(self) -> Ledger:
        return Ledger(self.root / "ledger")

    @property
    def owned(self) -> OwnedRecords:
        """Records certv6 published outside dns-01 (``certv6 aaaa``)."""
        return OwnedRecords(self.root / "published")

    def account(self, server: str) -> AccountFiles:
        return account_files(self.root / "accounts", server)

    def lock_path(self, what: str) -> Path:
        return self.root / "locks" / f"{what}.lock"
