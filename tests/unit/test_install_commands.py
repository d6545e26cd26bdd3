"""Running config tests, reloads and hooks: argv or shell, output tails, timeouts."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from certv6.errors import InstallError
from certv6.install import display, run_command


def test_argv_runs_without_a_shell_and_returns_the_output() -> None:
    assert run_command(("echo", "a;b", "$HOME"), step="reload", timeout=10) == "a;b $HOME\n"


def test_a_string_runs_through_the_shell() -> None:
    assert run_command("echo one && echo two >&2", step="reload", timeout=10) == "one\ntwo\n"


def test_failure_names_the_step_and_shows_the_tail_of_the_output() -> None:
    script = "for i in $(seq 1 20); do echo line$i; done >&2; exit 4"
    with pytest.raises(InstallError) as caught:
        run_command(script, step="config-test", timeout=10)
    error = caught.value
    assert error.step == "config-test" and error.exit_code == 10
    assert "exited with status 4" in error.message
    assert "line20" in error.message and "line12" not in error.message  # only the tail


def test_a_missing_program_is_an_install_error_with_a_hint() -> None:
    with pytest.raises(InstallError) as caught:
        run_command(("certv6-no-such-server", "-t"), step="config-test", timeout=10)
    assert "cannot run certv6-no-such-server -t" in caught.value.message
    assert "config_test" in caught.value.hint


def test_a_hanging_command_is_killed_with_its_children(tmp_path: Path) -> None:
    pidfile = tmp_path / "child.pid"
    script = f"sleep 300 & echo $! > {pidfile}; wait"
    with pytest.raises(InstallError, match="still running after") as caught:
        run_command(script, step="reload", timeout=0.5)
    assert caught.value.step == "reload"
    child = int(pidfile.read_text())
    # The background sleep was in the command's process group: it is gone (or a zombie
    # about to be reaped by init), never left running.
    deadline = time.monotonic() + 5
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child)


def test_a_daemon_keeping_the_output_open_does_not_block(tmp_path: Path) -> None:
    # Like a reload command that starts a server: the command exits, its child lives on.
    pidfile = tmp_path / "daemon.pid"
    script = f"setsid sleep 300 & echo $! > {pidfile}; echo started"
    try:
        assert run_command(script, step="reload", timeout=10) == "started\n"
    finally:
        os.kill(int(pidfile.read_text()), 9)


def test_display() -> None:
    assert display(("nginx", "-g", "daemon off;")) == "nginx -g 'daemon off;'"
    assert display("nginx -t && true") == "nginx -t && true"


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
