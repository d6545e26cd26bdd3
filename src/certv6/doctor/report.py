"""What ``certv6 doctor`` found: one finding per check, each ok, warn or fail with a fix."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass

from certv6.errors import CertV6Error

JSON_VERSION = 1
EXIT_FAILED = 13  # at least one check failed; 0 when nothing failed (warnings are fine)


class DoctorFailed(CertV6Error):
    """At least one doctor check failed; the report above says which and how to fix it."""

    exit_code = EXIT_FAILED
    default_hint = "each failing line above comes with its fix"


class Status(enum.StrEnum):
    OK = "ok"
    WARN = "warn"  # works now, but likely to break or to surprise
    FAIL = "fail"  # issuance will fail (or is forbidden) until this is fixed


@dataclass(frozen=True, slots=True)
class Finding:
    """One check: ``section`` is "host", "ca", "provider" or a domain name."""

    section: str
    check: str
    status: Status
    message: str
    fix: str | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "section": self.section,
            "check": self.check,
            "status": str(self.status),
            "message": self.message,
            "fix": self.fix,
        }


def ok(section: str, check: str, message: str) -> Finding:
    return Finding(section, check, Status.OK, message)


def warn(section: str, check: str, message: str, fix: str | None = None) -> Finding:
    return Finding(section, check, Status.WARN, message, fix)


def fail(section: str, check: str, message: str, fix: str | None = None) -> Finding:
    return Finding(section, check, Status.FAIL, message, fix)


@dataclass(frozen=True, slots=True)
class DoctorReport:
    findings: tuple[Finding, ...]
    notes: tuple[str, ...] = ()  # what was not checked, and how to check it

    @classmethod
    def of(cls, findings: Iterable[Finding], notes: Iterable[str] = ()) -> DoctorReport:
        return cls(tuple(findings), tuple(notes))

    def count(self, status: Status) -> int:
        return sum(1 for finding in self.findings if finding.status == status)

    @property
    def failed(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.status == Status.FAIL)

    @property
    def exit_code(self) -> int:
        return EXIT_FAILED if self.failed else 0

    def raise_if_failed(self) -> None:
        """Raises: DoctorFailed, naming the failed checks, when any failed."""
        if self.failed:
            named = ", ".join(f"{f.section} {f.check}" for f in self.failed)
            raise DoctorFailed(f"{len(self.failed)} check(s) failed: {named}")

    def summary(self) -> str:
        counts = [f"{self.count(status)} {status}" for status in Status]
        verdict = "problems found" if self.failed else "nothing fails"
        return f"doctor: {', '.join(counts)} — {verdict}"

    def to_json(self) -> dict[str, object]:
        return {
            "version": JSON_VERSION,
            "ok": not self.failed,
            "counts": {str(status): self.count(status) for status in Status},
            "checks": [finding.to_json() for finding in self.findings],
            "notes": list(self.notes),
        }
