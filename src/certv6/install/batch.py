"""Several certificates into one server at once: one config test, one reload (issue #19).

``certv6 renew`` renewing a hundred certificates that one nginx serves would
otherwise test its config and reload it a hundred times. Here every
certificate's files are staged and switched, the config is tested once and
the server reloaded once, and then every certificate is verified as served on
its own endpoints, as ``install_target`` verifies one.

A failure still fails only the certificate it belongs to:
- a config test or reload that fails cannot say which certificate broke it:
  every certificate goes back to its previous files (the server is reloaded
  with them if it had been), then each is installed on its own, exactly as
  ``install_target`` does, so the one that breaks the server fails alone;
- a certificate not served after the reload goes back to its previous files
  alone; the server is reloaded once more for all such certificates.

Install tables whose target has no config test and no reload (``files``, or
both turned off) have nothing to share and are installed one by one.
"""

from __future__ import annotations

import logging
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

from certv6.clock import SYSTEM_CLOCK, Clock
from certv6.errors import InstallError
from certv6.install.commands import commands_for
from certv6.install.material import Material
from certv6.install.spec import InstallSpec
from certv6.install.transaction import Attempt, TargetReport, install_target, staged
from certv6.install.verify import Verified

log = logging.getLogger("certv6")

Outcome = TargetReport | InstallError


@dataclass(frozen=True, slots=True)
class Job:
    spec: InstallSpec
    material: Material


def server_of(spec: InstallSpec, *, systemd: bool | None = None) -> Hashable | None:
    """What identifies the server an install table reloads; None: nothing to share."""
    try:
        commands = commands_for(spec, systemd=systemd)
    except InstallError:
        return None  # install_target reports it, for this table alone
    if commands.config_test is None and commands.reload is None:
        return None
    return (spec.target, commands.config_test, commands.reload)


def install_together(
    jobs: Sequence[Job], *, clock: Clock = SYSTEM_CLOCK, systemd: bool | None = None
) -> list[Outcome]:
    """Install every job into their one server; one outcome per job, in order.

    The jobs must share ``server_of``. Raises only what interrupts (Ctrl-C, SIGTERM),
    after putting every certificate's previous files back.
    """
    if len(jobs) == 1:
        return [_alone(jobs[0], clock, systemd)]
    outcomes: list[Outcome | None] = [None] * len(jobs)
    attempts: dict[int, Attempt] = {}
    for index, job in enumerate(jobs):
        try:
            attempts[index] = staged(job.spec, job.material, clock=clock, systemd=systemd)
        except InstallError as error:
            outcomes[index] = error
    try:
        together = _switch_test_reload(list(attempts.values()))
        if together:
            for index, attempt in attempts.items():
                outcomes[index] = _verified(attempt, jobs[index].material)
            _reload_after_rollbacks([a for i, a in attempts.items() if _rolled_back(outcomes[i])])
    except BaseException as error:  # interrupted: every certificate's old files back
        for attempt in attempts.values():
            attempt.roll_back_keeping(error)
        raise
    if not together:
        log.info("installing the %d certificates one at a time to find the one at fault", len(jobs))
        for index in attempts:
            outcomes[index] = _alone(jobs[index], clock, systemd)
    return [outcome for outcome in outcomes if outcome is not None]


def _switch_test_reload(attempts: list[Attempt]) -> bool:
    """Switch all, test once, reload once; False (everything rolled back) when that failed."""
    if not attempts:
        return True
    for attempt in attempts:
        attempt.switch()
    first = attempts[0]
    try:
        first.config_test()
        first.reload()
    except InstallError as error:
        log.warning("%s: %s, for %d certificates at once", first.spec.target, error, len(attempts))
        for attempt in attempts:
            attempt.roll_back_keeping(error, reload=False)
        if first.reloaded:  # the server may hold the new files: one reload puts all back
            _reload_after_rollbacks([first])
        return False
    for attempt in attempts[1:]:
        attempt.reloaded = first.reloaded
    return True


def _verified(attempt: Attempt, material: Material) -> Outcome:
    try:
        verified: list[Verified] = attempt.verify(material)
    except InstallError as error:
        return _Failed(attempt, error)
    return attempt.done(verified)


class _Failed(InstallError):
    """Not served: rolled back without a reload yet (one reload follows for all of them)."""

    def __init__(self, attempt: Attempt, error: InstallError) -> None:
        failed = attempt.failed(error, reload=False)
        super().__init__(failed.message, step=failed.step, hint=failed.hint)
        self.attempt = attempt


def _rolled_back(outcome: Outcome | None) -> bool:
    return isinstance(outcome, _Failed) and outcome.attempt.previous is not None


def _reload_after_rollbacks(attempts: list[Attempt]) -> None:
    if not attempts or attempts[0].commands.reload is None:
        return
    try:
        attempts[0].reload()
    except InstallError as error:  # each one's own error is the one to report
        log.warning("%s: reload after rollback failed too: %s", attempts[0].spec.target, error)


def _alone(job: Job, clock: Clock, systemd: bool | None) -> Outcome:
    try:
        return install_target(job.spec, job.material, clock=clock, systemd=systemd)
    except InstallError as error:
        return error
