"""Config tests, reloads and deploy hooks: which command, and running it with a timeout.

An argv list runs as is; a string runs through ``/bin/sh -c`` (as certbot runs
its hooks), so users can write pipes and ``&&``. Every command gets its own
process group, so a timeout kills whatever it started too.
"""

from __future__ import annotations

import contextlib
import os
import pty
import select
import shlex
import signal
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from certv6.errors import InstallError
from certv6.install.spec import InstallSpec
from certv6.install.targets import TARGETS, Command

SYSTEMD_RUNTIME = Path("/run/systemd/system")  # exists only when systemd is PID 1 (sd_booted)
UNIT_DIRS = (
    Path("/etc/systemd/system"),
    Path("/lib/systemd/system"),
    Path("/usr/lib/systemd/system"),
)
TAIL_LINES = 8
# Programs that write their reasons only to syslog unless stderr is a terminal
# (postfix: "postfix check" said just "exited with status 1"): run on a pty.
ON_TERMINAL = frozenset({"postfix"})


@dataclass(frozen=True, slots=True)
class Commands:
    config_test: Command | None
    reload: Command | None


def commands_for(spec: InstallSpec, *, systemd: bool | None = None) -> Commands:
    """The configured commands, else the target's defaults (systemctl when systemd runs).

    Raises:
        InstallError: (step "reload") the target has no reload without systemd and none is set.
    """
    target = TARGETS[spec.target]
    systemd = SYSTEMD_RUNTIME.is_dir() if systemd is None else systemd
    config_test = spec.config_test or target.config_test
    reload = spec.reload or _default_reload(spec, systemd)
    if target.units and reload is None and "reload" not in spec.disabled:
        raise InstallError(
            f"{spec.target} has no reload command of its own without systemd",
            step="reload",
            hint="set reload = [...] in the install table (e.g. a kill -USR2 of the master)",
        )
    return Commands(
        None if "config_test" in spec.disabled else config_test,
        None if "reload" in spec.disabled else reload,
    )


def run_command(
    command: Command,
    *,
    step: str,
    timeout: float,
    env: Mapping[str, str] | None = None,
) -> str:
    """Run ``command``; return its combined output.

    Raises:
        InstallError: (``step``) not found, non-zero exit, or still running after ``timeout``.
    """
    argv = ["/bin/sh", "-c", command] if isinstance(command, str) else list(command)
    shown = display(command)
    if Path(argv[0]).name in ON_TERMINAL:
        return _run_on_terminal(argv, shown, step=step, timeout=timeout, env=env)
    # Output goes to a file, not a pipe: a reload that starts a daemon which keeps
    # the descriptor open must not make certv6 wait for that daemon to exit.
    with tempfile.TemporaryFile() as output:
        try:
            process = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                env=dict(env) if env is not None else None,
                start_new_session=True,
            )
        except OSError as error:
            raise InstallError(
                f"{step}: cannot run {shown}: {error.strerror}",
                step=step,
                hint=f"install {argv[0]} or set the {step.replace('-', '_')} command in the config",
            ) from error
        _wait(process, shown, step, timeout)
        output.seek(0)
        text = output.read().decode(errors="replace")
    if process.returncode != 0:
        raise InstallError(
            f"{step}: {shown} exited with status {process.returncode}{_tail(text)}",
            step=step,
        )
    return text


def _run_on_terminal(
    argv: list[str], shown: str, *, step: str, timeout: float, env: Mapping[str, str] | None
) -> str:
    """``run_command`` for programs that tell their reasons only to a terminal."""
    primary, secondary = pty.openpty()
    try:
        try:
            process = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=secondary, stderr=secondary,
                env=dict(env) if env is not None else None, start_new_session=True,
            )  # fmt: skip
        except OSError as error:
            raise InstallError(
                f"{step}: cannot run {shown}: {error.strerror}", step=step
            ) from error
        finally:
            os.close(secondary)
        _wait(process, shown, step, timeout)
        text = _drain(primary).replace("\r\n", "\n")
    finally:
        os.close(primary)
    if process.returncode != 0:
        raise InstallError(
            f"{step}: {shown} exited with status {process.returncode}{_tail(text)}", step=step
        )
    return text


def _drain(primary: int) -> str:
    chunks = []
    # Bounded: a daemon the command left behind may keep the terminal open.
    while select.select([primary], [], [], 0.2)[0]:
        try:
            chunk = os.read(primary, 65536)
        except OSError:  # EIO: every writer has closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks).decode(errors="replace")


def display(command: Command) -> str:
    return command if isinstance(command, str) else shlex.join(command)


def _default_reload(spec: InstallSpec, systemd: bool) -> Command | None:
    target = TARGETS[spec.target]
    if systemd and target.units:
        return ("systemctl", "reload", spec.service or _unit(target.units))
    return target.reload_without_systemd


def _unit(candidates: tuple[str, ...]) -> str:
    # Debian calls Apache "apache2", Fedora "httpd": reload the one that is installed.
    for unit in candidates:
        if any((directory / f"{unit}.service").exists() for directory in UNIT_DIRS):
            return unit
    return candidates[0]


def _wait(process: subprocess.Popen[bytes], shown: str, step: str, timeout: float) -> None:
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(process)
        raise InstallError(
            f"{step}: {shown} still running after {timeout:.0f} s; killed it",
            step=step,
            hint="raise timeout = ... in the install table if the server is just slow",
        ) from None
    except BaseException:  # Ctrl-C / SIGTERM while waiting: leave nothing running
        _kill_group(process)
        raise


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def _tail(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()][-TAIL_LINES:]
    return (":\n  " + "\n  ".join(lines)) if lines else " (no output)"
