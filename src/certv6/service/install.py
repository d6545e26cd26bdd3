"""Use case: put a stored certificate into the servers its config names, then run its deploy hook.

    [certificate.www]
    deploy_hook = "systemctl restart myapp"     # optional; string: /bin/sh -c, list: argv

    [[certificate.www.install]]
    target = "nginx"
    verify = "[2001:db8::10]:443"

Called by ``certv6 install`` and after every issuance and renewal. Each install
table is tried even when an earlier one failed (a broken Postfix must not keep
nginx on an old certificate); the deploy hook runs only when all succeeded.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from certv6 import install, keys
from certv6.clock import SYSTEM_CLOCK, Clock
from certv6.errors import ConfigError, InstallError, StoreError
from certv6.install import InstallSpec, Material, TargetReport
from certv6.settings import Settings
from certv6.store import Lineage, Store, Version, hold_lock

log = logging.getLogger("certv6")

LOCK_WAIT = 60.0
DEPLOY_HOOK_TIMEOUT = 600.0


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

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "sha256": self.sha256,
            "store_version": str(self.version),
            "deploy_hook_ran": self.deploy_hook_ran,
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
    settings: Settings, name: str, *, clock: Clock = SYSTEM_CLOCK
) -> InstallReport | None:
    """Install certificate ``name`` as configured; None when nothing is configured for it.

    Raises:
        ConfigError: a bad install table.
        InstallError: writing, config test, reload, verification or the deploy hook failed.
    """
    config = install_config(settings, name)
    if not config.specs and config.deploy_hook is None:
        return None
    return _install(settings, name, config, clock)


def install_certificate(
    settings: Settings, name: str, *, clock: Clock = SYSTEM_CLOCK
) -> InstallReport:
    """``certv6 install --name NAME``: nothing configured for NAME is an error here."""
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


def _install(settings: Settings, name: str, config: InstallConfig, clock: Clock) -> InstallReport:
    lineage = stored_lineage(settings, name)
    store = Store(settings.state_dir).ensure()
    with hold_lock(
        store.lock_path(f"install-{name}"), wait=LOCK_WAIT, clock=clock, what=f"installing {name!r}"
    ):
        version = lineage.current()
        material = _material(lineage, version)
        log.info("install: %s (%s)", name, version.directory)
        targets = _install_targets(config.specs, material, clock)
        if config.deploy_hook is not None:
            env = deploy_hook_environment(lineage, version, material, targets)
            _run_deploy_hook(config.deploy_hook, config.deploy_hook_timeout, env)
    return InstallReport(
        name, material.leaf_sha256(), version.directory, targets, config.deploy_hook is not None
    )


def _install_targets(
    specs: tuple[InstallSpec, ...], material: Material, clock: Clock
) -> tuple[TargetReport, ...]:
    reports: list[TargetReport] = []
    failures: list[InstallError] = []
    for spec in specs:
        try:
            reports.append(install.install_target(spec, material, clock=clock))
        except InstallError as error:
            failures.append(error)
    if not failures:
        return tuple(reports)
    for later in failures[1:]:
        log.error("%s (%s)", later, later.hint)
    first = failures[0]
    if len(failures) == 1:
        raise first
    raise InstallError(
        f"{first.message}\n  ({len(failures) - 1} more target(s) failed, see above)",
        step=first.step,
        hint=first.hint,
    ) from first


def _material(lineage: Lineage, version: Version) -> Material:
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


def _run_deploy_hook(hook: install.Command, timeout: float, variables: dict[str, str]) -> None:
    # No rollback when it fails: the servers already serve the new certificate, verified.
    install.run_command(hook, step="deploy-hook", timeout=timeout, env={**os.environ, **variables})
    log.info("deploy hook ran: %s", install.display(hook))


def deploy_hook_environment(
    lineage: Lineage, version: Version, material: Material, targets: tuple[TargetReport, ...]
) -> dict[str, str]:
    """certbot's variables (RENEWED_LINEAGE, RENEWED_DOMAINS) plus certv6's own."""
    live = lineage.current_link
    return {
        "RENEWED_LINEAGE": str(live),
        "RENEWED_DOMAINS": " ".join(material.domains),
        "CERTV6_NAME": material.name,
        "CERTV6_DOMAINS": " ".join(material.domains),
        "CERTV6_CERT": str(live / "cert.pem"),
        "CERTV6_KEY": str(live / "privkey.pem"),
        "CERTV6_CHAIN": str(live / "chain.pem"),
        "CERTV6_FULLCHAIN": str(live / "fullchain.pem"),
        "CERTV6_VERSION_DIR": str(version.directory),
        "CERTV6_SHA256": material.leaf_sha256(),
        "CERTV6_INSTALLED": " ".join(f"{t.target}:{t.directory}/live" for t in targets),
    }


def _is_command(value: object) -> bool:
    if isinstance(value, str):
        return bool(value.strip())
    return isinstance(value, list) and bool(value) and all(isinstance(v, str) for v in value)
