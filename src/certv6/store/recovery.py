"""The next run's half of every multi-step change: finish it, or clear away what is left.

A run killed at any moment leaves one of these in a lineage, and ``recover``
(called by every command that runs unattended) deals with each:

- a pending switch (health.json's write-ahead intent): finished when its
  version was stored complete, dropped when it was not (certv6.store.lineage)
- a directory with no certificate at all (a first issuance killed before it
  stored one): removed
- temp files and half-written version directories of dead writers: removed

It works only under the certificate's lock, taken without waiting: a lineage
that a live run holds is that run's business, and is left alone.
"""

from __future__ import annotations

import datetime
import logging
from pathlib import Path

from certv6.store.locks import lock_is_free
from certv6.store.snapshot import Snapshot

log = logging.getLogger("certv6")


def needs_recovery(snapshot: Snapshot) -> bool:
    return snapshot.health.switch is not None or snapshot.empty or bool(snapshot.leftovers)


def recover(snapshot: Snapshot, lock: Path, now: datetime.datetime) -> list[str]:
    """Finish or clear what a killed run left in ``snapshot``'s lineage; say what was done.

    Raises:
        StoreError: a step could not be written (the lineage stays as it was).
    """
    if not needs_recovery(snapshot):
        return []
    lineage = snapshot.lineage
    done: list[str] = []
    with lock_is_free(lock) as free:
        if not free:
            return []
        switch = lineage.health().switch
        if switch is not None:
            version = lineage.finish_switch(now)
            done.append(
                f"made version {switch.version} current (an interrupted run had stored it)"
                if version is not None
                else f"dropped the intent for version {switch.version} (never stored)"
            )
        fresh = lineage.snapshot()
        if fresh is not None and fresh.empty:
            lineage.remove()
            done.append("removed the directory of an issuance that never stored a certificate")
        elif fresh is not None and fresh.leftovers:
            swept = lineage.sweep()
            if swept:
                done.append(f"removed what a killed run left: {', '.join(swept)}")
    for line in done:
        log.info("%s: %s", lineage.name, line)
    return done
