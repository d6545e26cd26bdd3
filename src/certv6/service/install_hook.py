"""A certificate's own deploy hook, run once every install table of it is done.

    [certificate.www]
    deploy_hook = "systemctl restart myapp"     # string: /bin/sh -c; list: argv
    deploy_hook_timeout = 600

It gets certbot's variables (RENEWED_LINEAGE, RENEWED_DOMAINS) and certv6's
own (CERTV6_*). Its outcome is kept in the lineage's health next to the
targets' ("deploy-hook"): a failing hook stays owed and runs again.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

from certv6 import install
from certv6.clock import Clock
from certv6.errors import InstallError
from certv6.install import Material, TargetReport
from certv6.store import Lineage, Version

log = logging.getLogger("certv6")

DEPLOY_HOOK_TIMEOUT = 600.0
DEPLOY_HOOK = "deploy-hook"  # its state is kept next to the targets'


@dataclass(frozen=True, slots=True)
class DeployHook:
    command: install.Command
    timeout: float = DEPLOY_HOOK_TIMEOUT


def run_deploy_hook(
    lineage: Lineage,
    version: Version,
    hook: DeployHook,
    variables: dict[str, str],
    clock: Clock,
) -> None:
    # No rollback when it fails: the servers already serve the new certificate, verified.
    # It stays owed, so the next run runs it again.
    now = clock.now()
    try:
        install.run_command(
            hook.command,
            step=DEPLOY_HOOK,
            timeout=hook.timeout,
            env={**os.environ, **variables},
        )
    except InstallError as error:
        failed = error.message
        lineage.record(
            lambda h: h.target_failed(
                DEPLOY_HOOK, version.name, now, error=failed, step=DEPLOY_HOOK
            ),
        )
        raise
    lineage.record(
        lambda h: h.target_done(DEPLOY_HOOK, version.name, now, verified=(), not_after=None),
    )
    log.info("deploy hook ran: %s", install.display(hook.command))


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
