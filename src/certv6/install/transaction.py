"""One install, start to finish: write, config test, reload, verify; on failure, go back.

Order and why:
1. the files target's own paths become links to ``live/`` (adopting what they
   held before the first install), then the new version directory is staged:
   nothing the server reads has changed yet
2. switch ``live`` (key and certificate change together, in one rename)
3. config test: the server parses the new files before anything is reloaded
4. reload, then 5. verify over IPv6 that the new leaf is served
If 3, 4 or 5 fails, ``live`` goes back to the previous version, the server is
reloaded again when it had been reloaded, and the error names the step. On a
first install there is no previous version: the new files stay (so the user can
include the snippet and run ``certv6 install`` again); the server was only
reloaded if its config test passed.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from certv6.clock import SYSTEM_CLOCK, Clock
from certv6.errors import InstallError
from certv6.install import commands as command_runner
from certv6.install.deploy import Checkpoint, Deployment
from certv6.install.material import Material
from certv6.install.spec import InstallSpec
from certv6.install.targets import TARGETS, Command, snippet_text
from certv6.install.verify import Verified, wait_until_served

log = logging.getLogger("certv6")


@dataclass(frozen=True, slots=True)
class TargetReport:
    target: str
    directory: Path
    version: str
    snippet: Path | None
    verified: tuple[Verified, ...]
    timings: Mapping[str, float] = field(default_factory=dict)


def snippet_path(spec: InstallSpec) -> Path | None:
    name = TARGETS[spec.target].snippet_name
    return spec.snippet or (spec.directory / name if name else None)


def install_target(
    spec: InstallSpec,
    material: Material,
    *,
    clock: Clock = SYSTEM_CLOCK,
    systemd: bool | None = None,
    checkpoint: Checkpoint | None = None,
) -> TargetReport:
    """Install ``material`` for one install table and prove it is served.

    Raises:
        InstallError: ``step`` is "write", "config-test", "reload" or "verify"; after
            a failing config test, reload or verification the previous files are back.
    """
    attempt = staged(spec, material, clock=clock, systemd=systemd, checkpoint=checkpoint)
    try:
        verified = attempt.run(material)
    except InstallError as error:
        raise attempt.failed(error) from error
    except BaseException as error:  # Ctrl-C, SIGTERM: put the old files back all the same
        attempt.roll_back_keeping(error)
        raise
    return attempt.done(verified)


def staged(
    spec: InstallSpec,
    material: Material,
    *,
    clock: Clock = SYSTEM_CLOCK,
    systemd: bool | None = None,
    checkpoint: Checkpoint | None = None,
) -> Attempt:
    """The new files written (not switched yet) and what comes next; see ``Attempt``.

    Raises:
        InstallError: the target's commands cannot be found, or writing failed.
    """
    commands = command_runner.commands_for(spec, systemd=systemd)
    deployment = Deployment(
        spec.directory,
        uid=spec.uid,
        gid=spec.gid,
        key_mode=spec.key_mode,
        cert_mode=spec.cert_mode,
        checkpoint=checkpoint,
    )
    timings: dict[str, float] = {}
    with _timed(timings, "write", clock):
        previous, version = _stage(spec, deployment, material)
    return Attempt(spec, deployment, commands, previous, version, clock, timings=timings)


def _stage(spec: InstallSpec, deployment: Deployment, material: Material) -> tuple[str | None, str]:
    """Write everything the switch needs; return (previous version, new version)."""
    if spec.links:
        # Adopt and link while ``live`` still shows the old files, so each path
        # turning into a link changes no bytes; the switch changes them all.
        deployment.adopt(spec.links)
        deployment.link_paths(spec.links)
    previous = deployment.live_version()
    return previous, deployment.stage(material.files())


@dataclass
class Attempt:
    """One certificate's new files for one install table: switch, test, reload, verify.

    ``install_target`` runs the steps for one certificate; ``batch.py`` switches
    several, tests and reloads their server once, then verifies each.
    """

    spec: InstallSpec
    deployment: Deployment
    commands: command_runner.Commands
    previous: str | None
    version: str
    clock: Clock
    reloaded: bool = False
    timings: dict[str, float] = field(default_factory=dict)

    def run(self, material: Material) -> list[Verified]:
        self.switch()
        self.config_test()
        self.reload()
        return self.verify(material)

    def switch(self) -> None:
        with _timed(self.timings, "write", self.clock):
            self.deployment.switch(self.version)
            _write_snippet(self.spec, self.deployment)
        log.info("%s: %s -> %s", self.spec.target, self.deployment.live, self.version)

    def config_test(self) -> None:
        if self.commands.config_test is None:
            return
        with _timed(self.timings, "config-test", self.clock):
            self._run(self.commands.config_test, "config-test")
        log.info("%s: config test passed", self.spec.target)

    def reload(self) -> None:
        if self.commands.reload is None:
            return
        # Counted as reloaded before it runs: a reload that fails half-way may still
        # have loaded the new files, so the rollback reloads again.
        self.reloaded = True
        with _timed(self.timings, "reload", self.clock):
            self._run(self.commands.reload, "reload")
        log.info(
            "%s: reloaded (%s)", self.spec.target, command_runner.display(self.commands.reload)
        )

    def verify(self, material: Material) -> list[Verified]:
        with _timed(self.timings, "verify", self.clock):
            return _verify(self.spec, material, self.clock)

    def done(self, verified: Sequence[Verified]) -> TargetReport:
        """Served as verified: prune old versions and report."""
        self.deployment.prune(self.spec.keep)
        return TargetReport(
            self.spec.target,
            self.spec.directory,
            self.version,
            snippet_path(self.spec),
            tuple(verified),
            self.timings,
        )

    def failed(self, error: InstallError, *, reload: bool = True) -> InstallError:
        """Roll back after ``error``; the error to raise says what the server has now."""
        outcome = self.roll_back_keeping(error, reload=reload)
        first = self.previous is None
        return InstallError(
            f"{self.spec.target}: {error.message}",
            step=error.step,
            hint=f"{outcome}; {_next(error, self.spec, first=first)}",
        )

    def roll_back_keeping(self, error: BaseException, *, reload: bool = True) -> str:
        """Roll back and say what the server now has; a failing rollback never hides ``error``."""
        try:
            return self.roll_back(reload=reload)
        except InstallError as failed:
            log.error("%s: rollback failed: %s", self.spec.target, failed)
            error.add_note(f"rollback failed too: {failed}")
            return f"the rollback failed too ({failed}); check {self.deployment.live}"

    def roll_back(self, *, reload: bool = True) -> str:
        """Put the previous files back; reload the server if it had been (and ``reload``)."""
        if self.previous is None:
            return "first install: nothing to go back to, the new files stay"
        self.deployment.switch(self.previous)
        self.deployment.discard(self.version)
        outcome = f"{self.deployment.live} is back on {self.previous}"
        log.info("%s: rolled back: %s", self.spec.target, outcome)
        if reload and self.reloaded and self.commands.reload is not None:
            try:
                self._run(self.commands.reload, "reload")
            except InstallError as again:  # the first error is the one to report
                log.warning("%s: reload after rollback failed too: %s", self.spec.target, again)
                return outcome + ", but reloading the server with it failed"
            outcome += " and the server was reloaded with it"
        return outcome

    def _run(self, command: Command, step: str) -> None:
        command_runner.run_command(command, step=step, timeout=self.spec.timeout)


def _write_snippet(spec: InstallSpec, deployment: Deployment) -> None:
    path = snippet_path(spec)
    text = snippet_text(TARGETS[spec.target], deployment.live, spec.certificate)
    if path is not None and text is not None and deployment.write_snippet(path, text):
        log.info(
            "%s: wrote %s (include it once: certv6 install --print-snippet %s --name %s)",
            spec.target,
            path,
            spec.target,
            spec.certificate,
        )


def _verify(spec: InstallSpec, material: Material, clock: Clock) -> list[Verified]:
    if not spec.verify:
        log.info('%s: not verified (set verify = "[addr]:port" to check)', spec.target)
        return []
    sni = spec.verify_sni or sni_for(material.domains)
    verified = wait_until_served(
        spec.verify,
        sni=sni,
        expected_der=material.leaf_der(),
        timeout=spec.verify_timeout,
        clock=clock,
        starttls=spec.starttls,
    )
    for each in verified:
        log.info(
            "%s: %s serves the new certificate (%.2f s)", spec.target, each.endpoint, each.seconds
        )
    return verified


def _next(error: InstallError, spec: InstallSpec, *, first: bool) -> str:
    again = f"certv6 install --name {spec.certificate}"
    if first and error.step == "verify":
        # The usual first run: the server does not use certv6's files yet.
        return (
            f"make the server use them (certv6 install --print-snippet {spec.target} "
            f"--name {spec.certificate}), then run {again}"
        )
    if error.hint:
        return error.hint
    if error.step == "config-test":
        return f"fix what the config test says, then run {again}"
    if error.step == "reload":
        return f"check the server's status and log, then run {again}"
    return f"the new certificate stays in the store; run {again} when fixed"


def sni_for(domains: tuple[str, ...]) -> str:
    """The first name; for a wildcard, a name it covers (SNI cannot carry a '*')."""
    first = domains[0] if domains else "localhost"  # ipv4-ok: a TLS server name, not an address
    return "certv6-verify." + first[2:] if first.startswith("*.") else first


@contextmanager
def _timed(timings: dict[str, float], step: str, clock: Clock) -> Iterator[None]:
    start = clock.monotonic()
    try:
        yield
    finally:
        timings[step] = timings.get(step, 0.0) + clock.monotonic() - start
