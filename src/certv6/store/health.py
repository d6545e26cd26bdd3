"""What happened to a lineage, kept next to it in ``health.json``: pure values, no I/O.

    switch     a version being made current (the write-ahead intent: written
               before ``versions/NNNN`` gets its name, cleared once ``current``
               points at it); a pending switch also means an install is owed
    issued     when the current version was stored, its serial, the CA that issued
               it and the CAs of the list that could not (server = [...])
    attempt    the last renewal attempt: when, and its error and exit code
    failures   consecutive failed attempts, and since when
    install    the version owed to the servers, and each target's state:
               pending, failed (step and reason) or done (what it served)
    revoked    the serial revoked through certv6, when and why
    postponed  the CA asked to wait (a rate limit, its Retry-After): renewal is
               not tried again before ``until`` (issue #19)

Every change is a new value (``Health`` is frozen); the store writes it
atomically. A ``health.json`` that cannot be read gives ``Health(damaged=...)``:
the lineage then counts as damaged until ``certv6 check-store --repair``.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

PENDING = "pending"
FAILED = "failed"
DONE = "done"


@dataclass(frozen=True, slots=True)
class Attempt:
    at: datetime.datetime
    ok: bool
    error: str = ""
    exit_code: int = 0


@dataclass(frozen=True, slots=True)
class TargetState:
    """One install target (``nginx /etc/ssl/certv6/www/nginx``) after its last install run.

    ``served_*`` is the version the target serves now: the new one after a done
    install, the previous one after a failure (the installer put it back).
    """

    state: str
    at: datetime.datetime
    version: str
    error: str = ""
    step: str = ""
    verified: tuple[str, ...] = ()
    served_version: str = ""
    served_not_after: datetime.datetime | None = None


@dataclass(frozen=True, slots=True)
class Install:
    """The version the servers must get; ``owed`` until every target and the hooks are done."""

    version: str
    since: datetime.datetime
    owed: bool = True
    deploy_hook: bool = False  # the global (renew) deploy hook is owed too
    targets: Mapping[str, TargetState] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Switch:
    """Write-ahead: ``version`` is being made current with ``config`` as lineage.json."""

    version: str
    config: Mapping[str, Any]
    since: datetime.datetime
    deploy_hook: bool = False


@dataclass(frozen=True, slots=True)
class Revocation:
    at: datetime.datetime
    reason: str
    serial: str


@dataclass(frozen=True, slots=True)
class Postponement:
    until: datetime.datetime
    reason: str
    since: datetime.datetime  # the first postponement in a row


@dataclass(frozen=True, slots=True)
class Health:
    switch: Switch | None = None
    issued_at: datetime.datetime | None = None
    issued_serial: str = ""
    issued_ca: str = ""
    skipped_cas: tuple[str, ...] = ()  # "URL: why" for each CA the order skipped
    attempt: Attempt | None = None
    failures: int = 0
    failing_since: datetime.datetime | None = None
    install: Install | None = None
    revoked: Revocation | None = None
    postponed: Postponement | None = None
    damaged: str = ""  # why health.json could not be read

    # --- questions --------------------------------------------------------------------------

    @property
    def install_owed(self) -> bool:
        return self.switch is not None or (self.install is not None and self.install.owed)

    def failed_targets(self) -> dict[str, TargetState]:
        if self.install is None:
            return {}
        return {k: t for k, t in self.install.targets.items() if t.state == FAILED}

    def is_revoked(self, serial: str) -> bool:
        return self.revoked is not None and self.revoked.serial == serial

    def postponed_at(self, now: datetime.datetime) -> Postponement | None:
        """The postponement still running at ``now``, if any."""
        if self.postponed is not None and self.postponed.until > now:
            return self.postponed
        return None

    # --- changes ----------------------------------------------------------------------------

    def switching(
        self, version: str, config: Mapping[str, Any], now: datetime.datetime, *, deploy_hook: bool
    ) -> Health:
        return replace(self, switch=Switch(version, dict(config), now, deploy_hook), damaged="")

    def switched(self, serial: str, now: datetime.datetime) -> Health:
        """The pending switch is done: its version is current and owed to the servers."""
        if self.switch is None:
            return self
        targets = self.install.targets if self.install else {}
        install = Install(self.switch.version, now, True, self.switch.deploy_hook, targets)
        return replace(
            self,
            switch=None,
            issued_at=now,
            issued_serial=serial,
            issued_ca=str(self.switch.config.get("server") or ""),
            skipped_cas=(),
            install=install,
            revoked=None,  # that record was about the certificate this one replaces
        )

    @classmethod
    def reset(cls, version: str, now: datetime.datetime) -> Health:
        """A fresh record for a lineage whose health.json was lost: reinstall its version."""
        return cls(install=Install(version, now))

    def switch_abandoned(self) -> Health:
        """The intent named a version that never got written (killed before the rename)."""
        return replace(self, switch=None)

    def issued_after(self, skipped: tuple[str, ...]) -> Health:
        """The current version's order skipped these CAs of the list (service/fallback.py)."""
        return replace(self, skipped_cas=skipped)

    def attempted(self, now: datetime.datetime, error: str = "", exit_code: int = 0) -> Health:
        if not error:
            return replace(
                self, attempt=Attempt(now, True), failures=0, failing_since=None, postponed=None
            )
        return replace(
            self,
            attempt=Attempt(now, False, error, exit_code),
            failures=self.failures + 1,
            failing_since=self.failing_since or now,
            postponed=None,
        )

    def postponed_until(
        self, until: datetime.datetime, reason: str, now: datetime.datetime
    ) -> Health:
        """The CA asked to wait: no renewal before ``until`` (not a failed attempt)."""
        since = self.postponed.since if self.postponed is not None else now
        return replace(self, postponed=Postponement(until, reason, since))

    def target_done(
        self,
        key: str,
        version: str,
        now: datetime.datetime,
        *,
        verified: tuple[str, ...],
        not_after: datetime.datetime | None,
    ) -> Health:
        state = TargetState(
            DONE,
            now,
            version,
            verified=verified,
            served_version=version,
            served_not_after=not_after,
        )
        return self._with_target(key, version, now, state)

    def target_pending(self, key: str, version: str, now: datetime.datetime) -> Health:
        """Write-ahead for one target: being installed now (a kill leaves it pending)."""
        before = self._install_or(version, now).targets.get(key)
        state = TargetState(
            PENDING,
            now,
            version,
            served_version=before.served_version if before else "",
            served_not_after=before.served_not_after if before else None,
        )
        return self._with_target(key, version, now, state)

    def target_failed(
        self, key: str, version: str, now: datetime.datetime, *, error: str, step: str
    ) -> Health:
        before = self._install_or(version, now).targets.get(key)
        state = TargetState(
            FAILED,
            now,
            version,
            error=error,
            step=step,
            served_version=before.served_version if before else "",
            served_not_after=before.served_not_after if before else None,
        )
        return self._with_target(key, version, now, state)

    def installing(self, version: str, now: datetime.datetime) -> Health:
        """Write-ahead for an install: owed until ``installed`` (a kill in between shows)."""
        install = self._install_or(version, now)
        return replace(self, install=replace(install, owed=True))

    def installed(self, version: str, now: datetime.datetime) -> Health:
        """Every target of ``version`` is done and the certificate's deploy hook ran."""
        install = self._install_or(version, now)
        return replace(self, install=replace(install, owed=False))

    def deploy_hook_ran(self) -> Health:
        if self.install is None:
            return self
        return replace(self, install=replace(self.install, deploy_hook=False))

    def revoked_now(self, serial: str, reason: str, now: datetime.datetime) -> Health:
        return replace(self, revoked=Revocation(now, reason, serial))

    def _install_or(self, version: str, now: datetime.datetime) -> Install:
        if self.install is not None and self.install.version == version:
            return self.install
        targets = self.install.targets if self.install else {}
        return Install(version, now, True, False, targets)

    def _with_target(
        self, key: str, version: str, now: datetime.datetime, state: TargetState
    ) -> Health:
        install = self._install_or(version, now)
        targets = {**install.targets, key: state}
        return replace(self, install=replace(install, targets=targets))

    # --- JSON -------------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        return {
            "switch": _switch_json(self.switch),
            "issued": {
                "at": _iso(self.issued_at),
                "serial": self.issued_serial,
                "ca": self.issued_ca or None,
                "skipped": list(self.skipped_cas),
            }
            if self.issued_at
            else None,
            "attempt": _attempt_json(self.attempt),
            "failures": self.failures,
            "failing_since": _iso(self.failing_since),
            "install": _install_json(self.install),
            "revoked": {
                "at": _iso(self.revoked.at),
                "reason": self.revoked.reason,
                "serial": self.revoked.serial,
            }
            if self.revoked
            else None,
            "postponed": _postponement_json(self.postponed),
        }

    @classmethod
    def from_json(cls, data: Any) -> Health:
        """The health a ``health.json`` holds; a file that is not one gives ``damaged``."""
        if not isinstance(data, dict):
            return cls(damaged=f"holds {type(data).__name__}, not an object")
        try:
            issued = data.get("issued")
            return cls(
                switch=_switch(data.get("switch")),
                issued_at=_time(issued["at"]) if issued else None,
                issued_serial=str(issued.get("serial", "")) if issued else "",
                issued_ca=str(issued.get("ca") or "") if issued else "",
                skipped_cas=tuple(map(str, issued.get("skipped") or ())) if issued else (),
                attempt=_attempt(data.get("attempt")),
                failures=int(data.get("failures") or 0),
                failing_since=_time(data.get("failing_since")),
                install=_install(data.get("install")),
                revoked=_revocation(data.get("revoked")),
                postponed=_postponement(data.get("postponed")),
            )
        except (AttributeError, KeyError, IndexError, TypeError, ValueError) as error:
            return cls(damaged=f"unexpected content ({type(error).__name__}: {error})")


def _iso(moment: datetime.datetime | None) -> str | None:
    return moment.isoformat(timespec="seconds") if moment else None


def _time(value: Any) -> datetime.datetime | None:
    if value is None:
        return None
    moment = datetime.datetime.fromisoformat(str(value))
    if moment.tzinfo is None:
        raise ValueError(f"time without a zone: {value!r}")
    return moment


def _required_time(value: Any) -> datetime.datetime:
    moment = _time(value)
    if moment is None:
        raise ValueError("a time is missing")
    return moment


def _switch_json(switch: Switch | None) -> dict[str, Any] | None:
    if switch is None:
        return None
    return {
        "version": switch.version,
        "config": dict(switch.config),
        "since": _iso(switch.since),
        "deploy_hook": switch.deploy_hook,
    }


def _switch(data: Any) -> Switch | None:
    if data is None:
        return None
    config = data["config"]
    if not isinstance(config, dict):
        raise TypeError("switch.config is not an object")
    return Switch(
        str(data["version"]), config, _required_time(data["since"]), bool(data.get("deploy_hook"))
    )


def _attempt_json(attempt: Attempt | None) -> dict[str, Any] | None:
    if attempt is None:
        return None
    return {
        "at": _iso(attempt.at),
        "ok": attempt.ok,
        "error": attempt.error or None,
        "exit_code": attempt.exit_code,
    }


def _attempt(data: Any) -> Attempt | None:
    if data is None:
        return None
    return Attempt(
        _required_time(data["at"]),
        bool(data["ok"]),
        str(data.get("error") or ""),
        int(data.get("exit_code") or 0),
    )


def _install_json(install: Install | None) -> dict[str, Any] | None:
    if install is None:
        return None
    return {
        "version": install.version,
        "since": _iso(install.since),
        "owed": install.owed,
        "deploy_hook": install.deploy_hook,
        "targets": {key: _target_json(state) for key, state in install.targets.items()},
    }


def _target_json(state: TargetState) -> dict[str, Any]:
    return {
        "state": state.state,
        "at": _iso(state.at),
        "version": state.version,
        "error": state.error or None,
        "step": state.step or None,
        "verified": list(state.verified),
        "served_version": state.served_version or None,
        "served_not_after": _iso(state.served_not_after),
    }


def _install(data: Any) -> Install | None:
    if data is None:
        return None
    targets = data.get("targets") or {}
    if not isinstance(targets, dict):
        raise TypeError("install.targets is not an object")
    return Install(
        str(data["version"]),
        _required_time(data["since"]),
        bool(data.get("owed")),
        bool(data.get("deploy_hook")),
        {str(key): _target(value) for key, value in targets.items()},
    )


def _target(data: Any) -> TargetState:
    if data["state"] not in (PENDING, FAILED, DONE):
        raise ValueError(f"unknown install state {data['state']!r}")
    return TargetState(
        state=str(data["state"]),
        at=_required_time(data["at"]),
        version=str(data["version"]),
        error=str(data.get("error") or ""),
        step=str(data.get("step") or ""),
        verified=tuple(str(v) for v in data.get("verified") or ()),
        served_version=str(data.get("served_version") or ""),
        served_not_after=_time(data.get("served_not_after")),
    )


def _revocation(data: Any) -> Revocation | None:
    if data is None:
        return None
    return Revocation(_required_time(data["at"]), str(data["reason"]), str(data["serial"]))


def _postponement_json(postponed: Postponement | None) -> dict[str, Any] | None:
    if postponed is None:
        return None
    return {
        "until": _iso(postponed.until),
        "reason": postponed.reason,
        "since": _iso(postponed.since),
    }


def _postponement(data: Any) -> Postponement | None:
    if data is None:
        return None
    return Postponement(
        _required_time(data["until"]), str(data.get("reason") or ""), _required_time(data["since"])
    )
