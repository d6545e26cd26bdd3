"""Use case: put a stored certificate into the servers its config names, then run its deploy hook.

    [certificate.www]
    deploy_hook = "systemctl restart myapp"     # optional; string: /bin/sh -c, list: argv

    [[certificate.www.install]]
    target = "nginx"
    verify = "[2001:db8::10]:443"

Called by ``certv6 install`` and after every issuance and renewal. Each install
table is tried even when an earlier one failed (a broken Postfix must not keep
nginx on an old certificate); the deploy hook runs only when all succeeded.
``certv6 renew`` installs all its certificates with ``install_many``: the
tables of one server share one config test and one reload (issue #19).

Every outcome goes into the lineage's health (issue #13): each target done
(what it served, as verified) or failed (the step and the reason), and the
version stays owed to the servers until every target and the deploy hook are
done. ``certv6 renew`` retries what is owed at every run (``owed_only``: the
targets not yet done), and so does ``certv6 install --name``.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from certv6 import install
from certv6.clock import SYSTEM_CLOCK, Clock
from certv6.errors import CertV6Error, ConfigError, InstallError, StoreError
from certv6.install import InstallSpec, Material, TargetReport
from certv6.service.install_hook import (
    DEPLOY_HOOK_TIMEOUT,
    DeployHook,
    deploy_hook_environment,
    run_deploy_hook,
)
from certv6.service.install_targets import (
    Certificate,
    Targets,
    done_already,
    install_tables,
    target_key,
)
from certv6.settings import Settings
from certv6.store import Lineage, Store, Version, hold_lock

log = logging.getLogger("certv6")

LOCK_WAIT = 60.0


@dataclass(frozen=True, slots=True)
class InstallConfig:
    specs: tuple[InstallSpec, ...]
    deploy_hook: install.Command | None
    deploy_hook_timeout: float


@dataclass(frozen=True, slots=True)
class InstallReport:
    name: str
    sha256: str
    version: Path
    targets: tuple[TargetReport, ...]
    deploy_hook_ran: bool
    already_done: tuple[str, ...] = ()  # owed_only: targets that had this version already

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "sha256": self.sha256,
            "store_version": str(self.version),
            "deploy_hook_ran": self.deploy_hook_ran,
            "already_done": list(self.already_done),
            "targets": [
                {
                    "target": report.target,
                    "directory": str(report.directory),
                    "version": report.version,
                    "snippet": str(report.snippet) if report.snippet else None,
                    "verified": [str(v.endpoint) for v in report.verified],
                    "timings": {step: round(s, 4) for step, s in report.timings.items()},
                }
                for report in self.targets
            ],
        }


def install_configured(
    settings: Settings, name: str, *, clock: Clock = SYSTEM_CLOCK, owed_only: bool = False
) -> InstallReport | None:
    """Install certificate ``name`` as configured; None when nothing is configured for it.

    ``owed_only``: skip the targets that already serve the current version.

    Raises:
        ConfigError: a bad install table.
        InstallError: writing, config test, reload, verification or the deploy hook failed.
    """
    config = install_config(settings, name)
    if not config.specs and config.deploy_hook is None:
        _nothing_to_install(settings, name, clock)
        return None
    return _install(settings, name, config, clock, owed_only=owed_only)


def install_certificate(
    settings: Settings, name: str, *, clock: Clock = SYSTEM_CLOCK
) -> InstallReport:
    """``certv6 install --name NAME``: nothing configured for NAME is an error here.

    It first finishes a switch a killed run left pending, so what it installs
    is the newest stored certificate.
    """
    lineage = Store(settings.state_dir).lineages.get(name)
    snapshot = lineage.snapshot()
    if snapshot is not None and snapshot.health.switch is not None:
        Store(settings.state_dir).ensure().recover(snapshot, clock.now())
    report = install_configured(settings, name, clock=clock)
    if report is None:
        raise ConfigError(
            f"certificate {name!r} has no install table and no deploy_hook",
            hint=f'add [[certificate.{name}.install]] with target = "nginx" (see docs/install.md)',
        )
    return report


def install_config(settings: Settings, name: str) -> InstallConfig:
    table = settings.certificates.get(name, {})
    base = settings.config_path.parent if settings.config_path else Path.cwd()
    specs = install.parse_install_tables(name, table.get("install", []), base)
    hook = table.get("deploy_hook")
    if hook is not None and not _is_command(hook):
        raise ConfigError(f"[certificate.{name}] deploy_hook must be a string or a list of strings")
    timeout = table.get("deploy_hook_timeout", DEPLOY_HOOK_TIMEOUT)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
        raise ConfigError(f"[certificate.{name}] deploy_hook_timeout must be positive seconds")
    return InstallConfig(specs, tuple(hook) if isinstance(hook, list) else hook, float(timeout))


def stored_lineage(settings: Settings, name: str) -> Lineage:
    lineage = Store(settings.state_dir).lineages.get(name)
    if not lineage.exists():
        raise ConfigError(
            f"certificate {name!r} is not in the store ({lineage.directory})",
            hint="certv6 list shows the stored certificates; certv6 issue makes one",
        )
    return lineage


def _nothing_to_install(settings: Settings, name: str, clock: Clock) -> None:
    lineage = Store(settings.state_dir).lineages.get(name)
    snapshot = lineage.snapshot()
    if snapshot is None or snapshot.problem or not snapshot.health.install_owed:
        return
    version = snapshot.current.rsplit("/", 1)[-1]
    lineage.record(lambda health: health.installed(version, clock.now()))


def install_many(
    settings: Settings, names: Sequence[str], *, clock: Clock = SYSTEM_CLOCK
) -> dict[str, InstallReport | CertV6Error | None]:
    """What each certificate owes its servers, installed together (``certv6 renew``).

    ``install_configured(..., owed_only=True)`` for every name, except that the
    install tables of one server get one config test and one reload for all the
    certificates (issue #19). Each name gets its report, None (nothing
    configured) or its error: one certificate's failure is its own.
    """
    results: dict[str, InstallReport | CertV6Error | None] = {}
    with contextlib.ExitStack() as locks:
        ready: list[_Prepared] = []
        for name in names:
            try:
                config = install_config(settings, name)
                if not config.specs and config.deploy_hook is None:
                    _nothing_to_install(settings, name, clock)
                    results[name] = None
                    continue
                ready.append(_prepare(settings, name, config, clock, locks, owed_only=True))
            except CertV6Error as error:
                results[name] = error
        installed = install_tables([p.certificate for p in ready], clock=clock)
        for prepared, targets in zip(ready, installed, strict=True):
            try:
                results[prepared.name] = _finish(prepared, targets, clock)
            except CertV6Error as error:
                results[prepared.name] = error
    return results


@dataclass(frozen=True, slots=True)
class _Prepared:
    """A certificate locked for its install, its material read, its install owed."""

    name: str
    lineage: Lineage
    version: Version
    config: InstallConfig
    certificate: Certificate
    done: frozenset[str]


def _install(
    settings: Settings, name: str, config: InstallConfig, clock: Clock, *, owed_only: bool
) -> InstallReport:
    with contextlib.ExitStack() as locks:
        prepared = _prepare(settings, name, config, clock, locks, owed_only=owed_only)
        (installed,) = install_tables([prepared.certificate], clock=clock)
        return _finish(prepared, installed, clock)


def _prepare(
    settings: Settings,
    name: str,
    config: InstallConfig,
    clock: Clock,
    locks: contextlib.ExitStack,
    *,
    owed_only: bool,
) -> _Prepared:
    lineage = stored_lineage(settings, name)
    store = Store(settings.state_dir).ensure()
    lock = store.lock_path(f"install-{name}")
    locks.enter_context(hold_lock(lock, wait=LOCK_WAIT, clock=clock, what=f"installing {name!r}"))
    version = lineage.current()
    material = _material(lineage, version)
    log.info("install: %s (%s)", name, version.directory)
    # Owed from now until every target is done: a run killed half-way through
    # leaves it owed, and the next run installs again (issue #23).
    lineage.record(lambda health: health.installing(version.name, clock.now()))
    done = done_already(lineage.health(), version.name) if owed_only else set()
    specs = tuple(spec for spec in config.specs if target_key(spec) not in done)
    certificate = Certificate(Targets(lineage, version, clock), material, specs)
    return _Prepared(name, lineage, version, config, certificate, frozenset(done))


def _finish(
    prepared: _Prepared, installed: tuple[TargetReport, ...] | InstallError, clock: Clock
) -> InstallReport:
    """The certificate's own deploy hook once its targets are done, then: installed."""
    if isinstance(installed, InstallError):
        raise installed
    lineage, version, config = prepared.lineage, prepared.version, prepared.config
    material = prepared.certificate.material
    if config.deploy_hook is not None:
        env = deploy_hook_environment(lineage, version, material, installed)
        run_deploy_hook(
            lineage, version, DeployHook(config.deploy_hook, config.deploy_hook_timeout), env, clock
        )
    lineage.record(lambda health: health.installed(version.name, clock.now()))
    return InstallReport(
        prepared.name,
        material.leaf_sha256(),
        version.directory,
        installed,
        config.deploy_hook is not None,
        tuple(sorted(prepared.done)),
    )


def _material(lineage: Lineage, version: Version) -> Material:
    from certv6 import keys  # noqa: PLC0415 (cryptography: issue checks tables long before)

    privkey, cert = version.read("privkey.pem"), version.read("cert.pem")
    # Never hand a server a key that does not match its certificate.
    if not keys.key_matches_certificate(
        keys.load_private_key(privkey, str(version.directory)), cert
    ):
        raise StoreError(f"{version.directory}: privkey.pem does not match cert.pem")
    domains = version.meta.get("domains") or lineage.config().get("domains") or [lineage.name]
    return Material(
        name=lineage.name,
        domains=tuple(str(d) for d in domains),
        privkey=privkey,
        cert=cert,
        chain=version.read("chain.pem"),
        fullchain=version.read("fullchain.pem"),
    )


def _is_command(value: object) -> bool:
    if isinstance(value, str):
        return bool(value.strip())
    return isinstance(value, list) and bool(value) and all(isinstance(v, str) for v in value)
