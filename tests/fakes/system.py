"""Small facts about this machine that tests need: a pid nobody has, a required tool."""

from __future__ import annotations

import os
import shutil

import pytest


def dead_pid() -> int:
    """The pid of a process that has exited and was reaped (so nothing runs under it)."""
    child = os.fork()
    if child == 0:
        os._exit(0)
    os.waitpid(child, 0)
    return child


def require_tool(name: str, package: str) -> str:
    """The path of ``name``; a skip without it, or a failure where CI must have it."""
    found = shutil.which(name)
    if found is None:
        if os.environ.get("CERTV6_REQUIRE_LAB") == "1":
            pytest.fail(f"CI must run this test: install the Debian package {package}")
        pytest.skip(f"{name} is not installed")
    return found
