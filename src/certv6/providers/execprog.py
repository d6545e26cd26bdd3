"""Run the operator's own program for each value: ``PROGRAM present|cleanup FQDN VALUE``.

    [provider.exec]
    program = "/usr/local/bin/dns-hook"        # or ["/usr/bin/python3", "/path/hook.py"]
    timeout = 60                               # seconds per call
    # record_types = ["AAAA"]                  # the program also handles these (below)

The calling convention of lego's exec provider (FQDN with its final dot), so
scripts written for it keep working. The same facts are in the environment:
CERTV6_ACTION, CERTV6_FQDN, CERTV6_VALUE, CERTV6_ZONE (the zone the SOA walk
found, "" if the lookup failed) and CERTV6_TTL. The program MUST keep the
provider contract itself: add without touching other values, delete exactly
the value it is given, succeed when it is already there / already gone.

Other record types (``certv6 aaaa``) extend the convention with the type as a
fourth argument: ``PROGRAM present FQDN VALUE AAAA`` and ``PROGRAM cleanup FQDN
VALUE AAAA``, each value on its own, the new ones first so the name is never
left without an address. dns-01 calls stay exactly lego's three arguments. A
program written for lego alone would take the fourth argument for a TXT value,
so certv6 sends other types only to a program whose ``record_types`` lists
them. The environment adds CERTV6_TYPE (also ``TXT`` for dns-01) and
CERTV6_RRSET (other types only), the whole RRset as certv6 read it from the
zone's primary (space-separated): certv6 cannot make the change conditional through a
program, so a program that can should check it.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import signal
import stat
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from certv6.errors import ConfigError, DnsError, HookFailed, ProviderError
from certv6.model import ProviderHints, RRsetChange, TxtRecord
from certv6.providers import ProviderContext, RecordSupport
from certv6.providers.common import HINT_OPTIONS, hints_from, redact, seconds, ttl

log = logging.getLogger(__name__)

OPTIONS = ("program", "timeout", "ttl", "record_types", *HINT_OPTIONS)
TYPES = ("AAAA",)  # what certv6 may send beyond dns-01 TXT
STDERR_LINES = 10
# Environment variables whose values are kept out of the stderr certv6 shows.
_SECRET_NAME = re.compile(r"KEY|SECRET|TOKEN|PASS|AUTH|CREDENTIAL", re.IGNORECASE)


class ExecProvider:
    name = "exec"

    def __init__(self, context: ProviderContext) -> None:
        context.check_options(OPTIONS)
        self._context = context
        # Checked now: a bad propagation_timeout must not surface after the order.
        self._hints = hints_from(context, timeout=120.0, poll_interval=1.0)
        self.argv = _program(context.option("program", required=True), context)
        self._timeout = seconds(context, "timeout", 60.0)
        self._ttl = ttl(context, 60)
        self.record_support = RecordSupport(
            types=_record_types(context.option("record_types", [])),
            note="its program gets lego's TXT convention only; once it handles"
            " 'PROGRAM present|cleanup FQDN VALUE AAAA', set record_types = [\"AAAA\"]",
        )

    def hints(self) -> ProviderHints:
        return self._hints

    def present(self, records: Sequence[TxtRecord]) -> None:
        for record in records:
            self._run("present", _Call.txt(record, self._ttl))

    def replace_rrsets(self, changes: Sequence[RRsetChange]) -> None:
        """Add the new values, then remove the old ones, one call each."""
        for change in changes:
            for action, values in (("present", change.add), ("cleanup", change.remove)):
                for value in sorted(values):
                    self._run(action, _Call.of(change, value))

    def cleanup(self, records: Sequence[TxtRecord]) -> None:
        # Try every value, so one failure does not leave the others behind.
        failures: list[ProviderError] = []
        for record in records:
            try:
                self._run("cleanup", _Call.txt(record, self._ttl))
            except ProviderError as error:
                failures.append(error)
        if failures:
            raise failures[0]

    def preflight(self) -> None:
        """The program exists and is executable (checked again: it may have moved)."""
        _check_executable(Path(self.argv[0]), self._context)

    def _run(self, action: str, record: _Call) -> None:
        argv = [*self.argv, action, record.owner, record.value, *record.extra_argv]
        env = {**os.environ, **self._facts(action, record)}
        try:
            process = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=env,
                text=True,
                errors="replace",
                start_new_session=True,  # its own process group: a timeout kills its children too
            )
        except OSError as error:
            raise self._failed(
                action, record, f"cannot start {argv[0]}: {error.strerror}"
            ) from error
        try:
            stdout, stderr = process.communicate(timeout=self._timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            _, stderr = process.communicate()
            raise self._failed(
                action, record, f"{argv[0]} did not finish within {self._timeout:g} s", stderr
            ) from None
        if stdout.strip():
            log.debug("exec %s output: %s", action, stdout.strip())
        if process.returncode != 0:
            raise self._failed(
                action, record, f"{argv[0]} exited with status {process.returncode}", stderr
            )
        log.info("exec: %s %s", action, record)

    def _facts(self, action: str, record: _Call) -> dict[str, str]:
        try:
            zone = self._context.dns.find_zone(record.owner)
        except DnsError as error:
            log.debug("exec: no zone for %s: %s", record.owner, error)
            zone = ""
        facts = {
            "CERTV6_ACTION": action,
            "CERTV6_FQDN": record.owner,
            "CERTV6_VALUE": record.value,
            "CERTV6_ZONE": zone,
            "CERTV6_TTL": str(record.ttl),
            "CERTV6_TYPE": record.rdtype,
        }
        if record.rdtype != "TXT":
            facts["CERTV6_RRSET"] = " ".join(sorted(record.rrset))
        return facts

    def _failed(self, action: str, record: _Call, why: str, stderr: str = "") -> HookFailed:
        secrets = [v for k, v in os.environ.items() if _SECRET_NAME.search(k) and len(v) >= 8]
        tail = redact(stderr, secrets).strip().splitlines()[-STDERR_LINES:]
        shown = "".join(f"\n  | {line}" for line in tail) if tail else " (no stderr)"
        return HookFailed(
            f"exec {action} of {record}: {why}{shown}",
            provider=self.name,
            operation=action,
            record=str(record),
            hint=f"run it by hand to see why: {' '.join(self.argv)} {action} {record.owner} VALUE"
            + "".join(f" {word}" for word in record.extra_argv),
        )


@dataclass(frozen=True, slots=True)
class _Call:
    """One program call: a dns-01 TXT value, or one value of a changed RRset."""

    owner: str
    value: str
    rdtype: str
    ttl: int
    rrset: frozenset[str] = frozenset()  # the RRset as certv6 read it (other types only)

    @classmethod
    def txt(cls, record: TxtRecord, ttl: int) -> _Call:
        return cls(record.owner, record.value, "TXT", ttl)

    @classmethod
    def of(cls, change: RRsetChange, value: str) -> _Call:
        return cls(change.owner, value, change.rdtype, change.ttl, change.current)

    @property
    def extra_argv(self) -> tuple[str, ...]:
        # lego's convention for dns-01 exactly: three arguments, no type.
        return () if self.rdtype == "TXT" else (self.rdtype,)

    def __str__(self) -> str:
        if self.rdtype == "TXT":
            return str(TxtRecord(self.owner, self.value))
        return f"{self.owner} {self.rdtype} {self.value}"


def _record_types(value: object) -> frozenset[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError('exec: record_types must be a list of record types, like ["AAAA"]')
    unknown = sorted({v.upper() for v in value} - set(TYPES))
    if unknown:
        raise ConfigError(
            f"exec: record_types {', '.join(unknown)}: certv6 sends only {', '.join(TYPES)}",
            hint='record_types = ["AAAA"]',
        )
    return frozenset(v.upper() for v in value)


def _program(value: object, context: ProviderContext) -> list[str]:
    """The program as an argv prefix: a path, a name on PATH, or a list (interpreter + script)."""
    if isinstance(value, str):
        argv = [value]
    elif isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        argv = list(value)
    else:
        raise ConfigError("exec: program must be a path or a list of strings")
    found = shutil.which(argv[0]) if "/" not in argv[0] else argv[0]
    if found is None:
        raise ConfigError(f"exec: program {argv[0]!r} is not on PATH", hint="give its full path")
    argv[0] = str(Path(found).absolute())
    _check_executable(Path(argv[0]), context)
    return argv


def _check_executable(path: Path, context: ProviderContext) -> None:
    """An executable file that only its owner (and root) can change.

    certv6 often runs as root; a program others may rewrite would run their code as root.

    Raises:
        ConfigError: missing, not executable, or writable by group or others.
    """
    try:
        mode = path.stat().st_mode
    except OSError as error:
        raise ConfigError(f"exec: program {path}: {error.strerror}") from error
    if not stat.S_ISREG(mode) or not os.access(path, os.X_OK):
        raise ConfigError(
            f"exec: program {path} is not an executable file", hint=f"chmod 755 {path}"
        )
    if mode & (stat.S_IWGRP | stat.S_IWOTH) and not context.allow_insecure_secrets:
        raise ConfigError(
            f"exec: program {path} is writable by other users (mode {stat.S_IMODE(mode):o})",
            hint=f"chmod go-w {path}, or set insecure_secrets = true if you must",
        )
