"""Step 5's second half: every install the run owes, then the deploy hooks, in order.

After the renewals, the new certificates and those an earlier run still owes
its servers (a failed or interrupted install, issue #13) are installed in one
go: the install tables of one server share one config test and one reload,
and every certificate is still verified as served (``service.install``'s
``install_many``, issue #19). Then, certificate by certificate in the order
of the report, the global deploy hook of each renewed one runs, as certbot
runs it. A failure stays with its certificate: its outcome is ``failed``, with
``renewed`` still true for a certificate that did renew.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from certv6.clock import Clock
from certv6.errors import CertV6Error
from certv6.service.install import InstallReport, install_many
from certv6.service.issue import IssueResult
from certv6.service.renew.plan import Candidate
from certv6.service.renew.report import FAILED, INSTALLED, RENEWED, Outcome
from certv6.service.renew.shell_hooks import run_hook
from certv6.settings import Settings
from certv6.store import Health, Lineage

log = logging.getLogger("certv6")

Installed = InstallReport | CertV6Error | None
Problem = tuple[str, str, str]  # what went wrong, the step, the hint; all "" when nothing did


def install_all(
    settings: Settings,
    renewed: Sequence[tuple[Candidate, IssueResult]],
    owed: Sequence[Candidate],
    *,
    clock: Clock,
) -> dict[str, Outcome]:
    """The installs and deploy hooks of ``renewed`` and ``owed``; an outcome for each."""
    names = [found.name for found, _ in renewed] + [found.name for found in owed]
    installed = _install_many(settings, names, clock)
    outcomes = {}
    for found, result in renewed:
        problem = _and_hook(found.lineage, result.domains, settings, installed[found.name])
        outcomes[found.name] = _renewed(found, result, problem)
    for found in owed:
        domains = found.configured_domains()
        problem = _and_hook(found.lineage, domains, settings, installed[found.name])
        outcomes[found.name] = _finished(found, domains, problem)
    return outcomes


def install_and_hook(lineage: Lineage, settings: Settings, clock: Clock) -> Problem:
    """What ``lineage`` owes its servers, then the global deploy hook (``certv6 sync``)."""
    try:
        domains = tuple(str(domain) for domain in lineage.config().get("domains") or ())
    except CertV6Error:
        domains = ()
    installed = _install_many(settings, [lineage.name], clock)
    return _and_hook(lineage, domains, settings, installed[lineage.name])


def _install_many(settings: Settings, names: list[str], clock: Clock) -> dict[str, Installed]:
    try:
        return install_many(settings, names, clock=clock)
    except Exception as error:  # a bug in the installer: each certificate says so
        log.debug("install: internal error", exc_info=True)
        bug = CertV6Error(f"internal error: {type(error).__name__}: {error} (--debug shows more)")
        return dict.fromkeys(names, bug)


def _and_hook(
    lineage: Lineage, domains: tuple[str, ...], settings: Settings, installed: Installed
) -> Problem:
    """Its install's outcome, then (when it worked) the global deploy hook it owes."""
    if isinstance(installed, CertV6Error):
        log.error("%s: installing the certificate failed: %s", lineage.name, installed)
        return f"installing failed: {installed}", "install", installed.hint
    install = lineage.health().install
    if install is None or not install.deploy_hook:
        return "", "", ""
    env = {"RENEWED_LINEAGE": str(lineage.current_link), "RENEWED_DOMAINS": " ".join(domains)}
    problem = run_hook("deploy", settings.deploy_hook, env)
    if problem:
        return problem, "deploy-hook", "it runs again at the next certv6 renew"
    lineage.record(Health.deploy_hook_ran)
    return "", "", ""


def _renewed(found: Candidate, result: IssueResult, problem: Problem) -> Outcome:
    text, step, hint = problem
    if not text:
        return Outcome(
            found.name, RENEWED, "renewed", result.domains, result.not_after, renewed=True
        )
    return Outcome(
        found.name,
        FAILED,
        f"renewed, valid until {result.not_after:%Y-%m-%d}",
        result.domains,
        result.not_after,
        text,
        hint,
        renewed=True,
        step=step,
    )


def _finished(found: Candidate, domains: tuple[str, ...], problem: Problem) -> Outcome:
    """What an earlier run owed the servers: installed now, or failed again."""
    install = found.health.install
    since = found.health.switch.since if found.health.switch else install.since if install else None
    owed = f" (owed since {since:%Y-%m-%d %H:%M} UTC)" if since else ""
    text, step, hint = problem
    if text:
        detail = f"install of {found.current}{owed} failed again"
        return Outcome(found.name, FAILED, detail, domains, problem=text, hint=hint, step=step)
    log.info("%s: installed %s%s", found.name, found.current, owed)
    return Outcome(found.name, INSTALLED, f"installed {found.current}{owed}", domains)
