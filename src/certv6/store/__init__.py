"""State on disk: accounts, lineages and their health, the TXT ledger, published records, locks.

Every write is atomic; private keys are 0600; see each module for its layout.
Service code speaks to the store in its own terms (account, lineage, version,
health, ledger entry, lock), never in paths of its files, so another backend
(a shared store for fleets) can offer the same operations.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path

from certv6 import fsatomic
from certv6.errors import StoreError
from certv6.store.aaaa_health import AaaaHealth, AaaaHealthFile
from certv6.store.accounts import (
    DEACTIVATED,
    DEACTIVATING,
    VALID,
    AccountFiles,
    AccountRecord,
    account_files,
    all_accounts,
)
from certv6.store.atomic import make_dirs, write_atomic
from certv6.store.health import Health, Postponement, TargetState
from certv6.store.ledger import Ledger, LedgerEntry
from certv6.store.lineage import FILES, Lineage, Lineages, Version, check_lineage_name
from certv6.store.locks import hold_lock, lock_is_free
from certv6.store.owned import OwnedRecords, OwnedRRset
from certv6.store.recovery import needs_recovery, recover
from certv6.store.snapshot import REPAIR, Snapshot, config_problem

__all__ = [
    "DEACTIVATED",
    "DEACTIVATING",
    "FILES",
    "REPAIR",
    "VALID",
    "AaaaHealth",
    "AaaaHealthFile",
    "AccountFiles",
    "AccountRecord",
    "Health",
    "Ledger",
    "LedgerEntry",
    "Lineage",
    "Lineages",
    "OwnedRRset",
    "OwnedRecords",
    "Postponement",
    "Snapshot",
    "Store",
    "TargetState",
    "Version",
    "check_lineage_name",
    "config_problem",
    "hold_lock",
    "lock_is_free",
    "make_dirs",
    "needs_recovery",
    "write_atomic",
]


@dataclass(frozen=True, slots=True)
class Store:
    """The state directory and its parts."""

    root: Path

    def ensure(self) -> Store:
        """Create the directory if needed and sweep what dead runs left at its top levels.

        Lineages are swept one by one, under their own lock (``Lineage.sweep``).
        """
        make_dirs(self.root)
        make_dirs(self.root / "locks")
        self.sweep()
        return self

    def sweep(self) -> list[str]:
        """Temp files of dead writers in the state, accounts and ledger directories."""
        directories = [self.root, *(a.directory for a in self.accounts())]
        removed: list[str] = []
        try:
            for directory in directories:
                removed += [str(p) for p in fsatomic.sweep(directory, state=True)]
        except OSError as error:
            raise StoreError(f"cannot clean up {self.root}: {error.strerror}") from error
        removed += self.ledger.sweep() + self.lineages.sweep()
        return removed

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

    @property
    def aaaa_health(self) -> AaaaHealthFile:
        """How the last ``certv6 aaaa`` run over the configured names went."""
        return AaaaHealthFile(self.root / "aaaa.json")

    def account(self, server: str) -> AccountFiles:
        return account_files(self.root / "accounts", server)

    def account_lock(self, account: AccountFiles) -> Path:
        """Held while an account's key or state changes (register, rollover, deactivate)."""
        return self.lock_path(f"account-{account.directory.name}")

    def accounts(self) -> list[AccountFiles]:
        return all_accounts(self.root / "accounts")

    def account_problems(self) -> list[tuple[AccountFiles, str, str]]:
        """Every stored account whose key or URL is damaged: (account, what, fix)."""
        found = []
        for account in self.accounts():
            problem = account.problem()
            if problem is not None:
                found.append((account, *problem))
        return found

    def lock_path(self, what: str) -> Path:
        return self.root / "locks" / f"{what}.lock"

    def recover(self, snapshot: Snapshot, now: datetime.datetime) -> list[str]:
        """Finish what a killed run left in a lineage (certv6.store.recovery)."""
        return recover(snapshot, self.certificate_lock(snapshot.name), now)

    def certificate_lock(self, name: str) -> Path:
        """The lock held while a lineage is issued, renewed, revoked, repaired or deleted."""
        return self.lock_path(f"certificate-{name}")
