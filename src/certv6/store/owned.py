"""What certv6 published outside dns-01: the AAAA values it owns at each name.

    <state_dir>/published/<name>.AAAA.json
        {"owner": "www.example.org.", "type": "AAAA", "values": ["2001:db8::1"],
         "zone": "example.org.", "provider": "rfc2136", "updated": "...",
         "last_error": null}

``certv6 aaaa`` replaces only values it owns (and addresses of the host), so a
record someone else added at the same name survives. The file is written
before the change is sent, with the old and the new values together, and
again with only the new values once the provider accepted it: a run killed in
between still owns everything it may have written.
"""

from __future__ import annotations

import datetime
import json
from dataclasses import dataclass
from pathlib import Path

from certv6.errors import StoreError
from certv6.store.atomic import make_dirs, write_atomic


@dataclass(frozen=True, slots=True)
class OwnedRRset:
    owner: str  # absolute
    rdtype: str
    values: frozenset[str]
    zone: str = ""
    provider: str = ""
    updated: str = ""
    last_error: str | None = None  # why the latest run for this name failed; None: it worked

    def to_json(self) -> dict[str, object]:
        return {
            "owner": self.owner,
            "type": self.rdtype,
            "values": sorted(self.values),
            "zone": self.zone,
            "provider": self.provider,
            "updated": self.updated,
            "last_error": self.last_error,
        }


class OwnedRecords:
    """One JSON file per (owner, type) under ``directory``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def get(self, owner: str, rdtype: str) -> OwnedRRset | None:
        """What certv6 owns at ``owner`` (None: it never published there).

        Raises:
            StoreError: the file exists but cannot be read or is damaged.
        """
        path = self._path(owner, rdtype)
        try:
            data = json.loads(path.read_text())
            return OwnedRRset(
                owner=str(data["owner"]),
                rdtype=str(data["type"]),
                values=frozenset(str(v) for v in data["values"]),
                zone=str(data.get("zone", "")),
                provider=str(data.get("provider", "")),
                updated=str(data.get("updated", "")),
                last_error=data.get("last_error"),
            )
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise StoreError(
                f"cannot read {path}: {error}",
                hint="remove the file; certv6 then owns only this host's current addresses there",
            ) from error

    def save(self, owned: OwnedRRset, *, now: datetime.datetime) -> None:
        make_dirs(self.directory)
        record = OwnedRRset(
            owned.owner,
            owned.rdtype,
            owned.values,
            owned.zone,
            owned.provider,
            now.isoformat(),
            owned.last_error,
        )
        text = json.dumps(record.to_json(), indent=2, sort_keys=True) + "\n"
        write_atomic(self._path(owned.owner, owned.rdtype), text.encode())

    def all(self) -> list[OwnedRRset]:
        if not self.directory.is_dir():
            return []
        found = []
        for path in sorted(self.directory.glob("*.json")):
            owner, _, rdtype = path.stem.rpartition(".")
            record = self.get(owner + ".", rdtype)
            if record is not None:
                found.append(record)
        return found

    def problems(self) -> list[tuple[Path, str]]:
        """Every file here that cannot be read: (path, why)."""
        if not self.directory.is_dir():
            return []
        found = []
        for path in sorted(self.directory.glob("*.json")):
            owner, _, rdtype = path.stem.rpartition(".")
            try:
                self.get(owner + ".", rdtype)
            except StoreError as error:
                found.append((path, error.message))
        return found

    def _path(self, owner: str, rdtype: str) -> Path:
        # Owners are checked DNS names (letters, digits, '-', '_', '.'): safe as file names.
        return self.directory / f"{owner.rstrip('.').lower()}.{rdtype.upper()}.json"
