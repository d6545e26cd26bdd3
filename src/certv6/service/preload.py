"""Import on a thread what a process needs only after its first request (issue #19).

``certv6 issue`` spends most of its start-up importing acme, cryptography and
asyncio, which it needs only once the CA answers; its first requests are DNS
look-ups and the provider's preflight. Imported on a thread while those wait,
they cost less of the run's time, and the first request goes out sooner.
"""

from __future__ import annotations

import importlib
import sys
import threading
from collections.abc import Sequence


def import_later(modules: Sequence[str]) -> threading.Thread:
    """Import ``modules`` on a thread (nothing to do for those imported already).

    Whoever uses one imports it too, and waits for this thread's import of it if
    it is still running. A failing import is left for that user to report.
    """

    def run() -> None:
        for module in (name for name in modules if name not in sys.modules):
            try:
                importlib.import_module(module)
            except Exception:  # the step that uses it imports it again and says why
                return

    # Not a daemon: a process that ends early (a config error) waits the few tenths of a
    # second for it; a daemon thread stopped inside an extension module's import aborts it.
    thread = threading.Thread(target=run, name="certv6-import")
    thread.start()
    return thread
