"""Renewal hooks, run the way certbot runs them, so existing hook scripts keep working.

    pre_hook     once, before the first renewal of a run (only when something is due)
    deploy_hook  once per renewed certificate, after the installer:
                 RENEWED_LINEAGE (its live directory) and RENEWED_DOMAINS (space-separated)
    post_hook    once, after every renewal was attempted (also when some failed):
                 RENEWED_DOMAINS and FAILED_DOMAINS, each space-separated

Hooks are shell commands (``/bin/sh -c``). A failing hook is reported and makes
the run exit 12, but never stops the renewals: like certbot, a renewed
certificate is kept whatever a hook says. The per-certificate ``deploy_hook``
of a ``[certificate.NAME]`` table belongs to the installer, which runs it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import tempfile
from collections.abc import Mapping

log = logging.getLogger("certv6")

HOOK_TIMEOUT = 600.0
SHOWN_LINES = 20


def run_hook(kind: str, command: str | None, env: Mapping[str, str]) -> str | None:
    """Run one hook; return what went wrong, or None when it succeeded (or there is none)."""
    if not command:
        return None
    log.info("running the %s hook: %s", kind, command)
    # Output goes to a file, not a pipe: a hook that starts a daemon which keeps
    # the descriptor open must not make certv6 wait for that daemon.
    with tempfile.TemporaryFile() as output:
        try:
            process = subprocess.Popen(
                ["/bin/sh", "-c", command],
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                env={**os.environ, **env},
                start_new_session=True,
            )
        except OSError as error:
            return f"cannot run the {kind} hook: {error.strerror}"
        code = _wait(process)
        output.seek(0)
        _show(kind, output.read().decode(errors="replace"))
    if code is None:
        return f"the {kind} hook was still running after {HOOK_TIMEOUT:.0f} s: {command}"
    if code != 0:
        return f"the {kind} hook exited with status {code}: {command}"
    return None


def _wait(process: subprocess.Popen[bytes]) -> int | None:
    try:
        return process.wait(timeout=HOOK_TIMEOUT)
    except subprocess.TimeoutExpired:
        # The hook's whole process group: a shell's children would outlive it otherwise.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        return None


def _show(kind: str, text: str) -> None:
    for line in text.splitlines()[-SHOWN_LINES:]:
        log.info("  %s hook: %s", kind, line)
