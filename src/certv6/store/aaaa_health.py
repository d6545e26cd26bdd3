"""How ``certv6 aaaa`` last went for the configured names, kept in ``<state_dir>/aaaa.json``.

    last      the last run: when, whether it worked, its error, hint and exit code
    failures  runs in a row that failed, and since when; ``last_ok``: the last that worked
    address   the address the last good run published (or found already in place)
    names     the names that run followed; ``pending``: those whose change --watch's
              pacing put off
    behind    after a failure: names known to point elsewhere than this host's address
              (the run read them, and its change was not written)

Only runs over the configured names write it (the timer's ``certv6 aaaa``, ``--watch``):
a ``certv6 aaaa -d NAME`` by hand or a ``--dry-run`` leaves it as it is. ``certv6
list`` and ``list --check`` read it (service/status.py judges it). A file that
cannot be read gives ``AaaaHealth(damaged=...)``; it holds no secret and no state
worth keeping, so removing it is the repair.
"""

from __future__ import annotations

import datetime
import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from certv6.errors import StoreError
from certv6.store.atomic import make_dirs, write_atomic


@dataclass(frozen=True, slots=True)
class AaaaHealth:
    at: datetime.datetime | None = None  # the last run
    ok: bool = True
    error: str = ""
    hint: str = ""
    exit_code: int = 0
    failures: int = 0
    failing_since: datetime.datetime | None = None
    last_ok: datetime.datetime | None = None
    address: str = ""
    names: tuple[str, ...] = ()
    pending: tuple[str, ...] = ()
    behind: tuple[str, ...] = ()
    damaged: str = ""  # why aaaa.json could not be read

    def succeeded(
        self,
        now: datetime.datetime,
        *,
        address: str,
        names: tuple[str, ...],
        pending: tuple[str, ...] = (),
    ) -> AaaaHealth:
        return AaaaHealth(
            at=now, last_ok=now, address=address, names=names, pending=pending, ok=True
        )

    def failed(
        self,
        now: datetime.datetime,
        *,
        error: str,
        hint: str,
        exit_code: int,
        behind: tuple[str, ...] = (),
    ) -> AaaaHealth:
        """A failed run; the address and names of the last good one stay for reference."""
        return replace(
            self,
            at=now,
            ok=False,
            error=error,
            hint=hint,
            exit_code=exit_code,
            failures=self.failures + 1,
            failing_since=self.failing_since if self.failures else now,
            pending=(),
            behind=behind,
            damaged="",
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "at": _iso(self.at),
            "ok": self.ok,
            "error": self.error or None,
            "hint": self.hint or None,
            "exit_code": self.exit_code,
            "failures": self.failures,
            "failing_since": _iso(self.failing_since),
            "last_ok": _iso(self.last_ok),
            "address": self.address or None,
            "names": list(self.names),
            "pending": list(self.pending),
            "behind": list(self.behind),
        }

    @classmethod
    def from_json(cls, data: Any) -> AaaaHealth:
        try:
            return cls(
                at=_time(data["at"]),
                ok=bool(data["ok"]),
                error=str(data.get("error") or ""),
                hint=str(data.get("hint") or ""),
                exit_code=int(data.get("exit_code", 0)),
                failures=int(data.get("failures", 0)),
                failing_since=_time(data.get("failing_since")),
                last_ok=_time(data.get("last_ok")),
                address=str(data.get("address") or ""),
                names=_names(data.get("names")),
                pending=_names(data.get("pending")),
                behind=_names(data.get("behind")),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            return cls(damaged=f"not a certv6 aaaa record ({type(error).__name__}: {error})")


class AaaaHealthFile:
    def __init__(self, path: Path) -> None:
        self.path = path

    def read(self) -> AaaaHealth | None:
        """The record; None when no configured run was ever recorded."""
        try:
            text = self.path.read_text()
        except FileNotFoundError:
            return None
        except OSError as error:
            return AaaaHealth(damaged=f"cannot read it: {error.strerror}")
        try:
            return AaaaHealth.from_json(json.loads(text))
        except ValueError as error:
            return AaaaHealth(damaged=f"not JSON ({error})")

    def remove(self) -> None:
        """Raises StoreError: the file cannot be removed."""
        try:
            self.path.unlink(missing_ok=True)
        except OSError as error:
            raise StoreError(f"cannot remove {self.path}: {error.strerror}") from error

    def write(self, health: AaaaHealth) -> None:
        """Raises StoreError: the state directory cannot be written."""
        make_dirs(self.path.parent)
        text = json.dumps(health.to_json(), indent=2, sort_keys=True) + "\n"
        write_atomic(self.path, text.encode())


def _iso(moment: datetime.datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _time(value: Any) -> datetime.datetime | None:
    if value is None:
        return None
    moment = datetime.datetime.fromisoformat(str(value))
    return moment if moment.tzinfo else moment.replace(tzinfo=datetime.UTC)


def _names(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise TypeError("expected a list of names")
    return tuple(str(name) for name in value)
