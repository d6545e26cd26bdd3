"""What a cold ``certv6 issue`` imports before its first request (issue #19).

acme, josepy, cryptography and requests take about a third of a cold start; issue.py
imports them on a thread while its first look-ups run (``service/preload.py``). Any
module the CLI and the issue use case import at start-up must leave them out, or that
work is serial again: the fleet's store backend once pulled in requests and
cryptography for every user, fleet or not.
"""

from __future__ import annotations

import subprocess
import sys

LATER = ("acme", "josepy", "cryptography", "requests")
START = ("certv6.cli.main", "certv6.cli.commands", "certv6.service.issue")


def test_the_start_of_an_issue_imports_none_of_the_later_modules() -> None:
    code = (
        "import importlib, sys\n"
        f"for name in {START!r}:\n"
        "    importlib.import_module(name)\n"
        f"print(' '.join(m for m in {LATER!r} if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.split() == []
