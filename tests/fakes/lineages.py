"""Lineages laid out as certv6 writes them, without a CA: for tests that need a store.

The files are not real PEMs (nothing that decides a renewal reads them); the
facts a renewal needs are in meta.json, as certv6 writes it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from certv6 import renewal
from certv6.store import FILES, Lineage, Store

DAY = dt.timedelta(days=1)
CLOSED_CA = "https://[::1]:9/dir"  # nothing listens: any request would fail the test


def make_lineage(
    store: Store,
    name: str,
    *,
    now: dt.datetime,
    age: dt.timedelta = 5 * DAY,
    lifetime: dt.timedelta = 90 * DAY,
    ari: bool = True,
    meta: bool = True,
    installed: bool = True,
    files: dict[str, bytes] | None = None,
    **config: Any,
) -> Lineage:
    """A lineage whose current certificate was issued ``age`` ago.

    ``installed``: its install is done (as after a successful run); False leaves it owed.
    """
    lineage = store.lineages.get(name)
    not_before = now - age
    facts = {
        "domains": [f"{name}.example"],
        "serial": f"{sum(map(ord, name)):x}{len(lineage.versions()) + 1}",
        "not_before": not_before.isoformat(),
        "not_after": (not_before + lifetime).isoformat(),
        "sha256": "00" * 32,
    }
    settings = {"domains": [f"{name}.example"], "provider": "rfc2136", "server": CLOSED_CA}
    settings.update(config)
    content = files or {f: b"not a PEM\n" for f in FILES}
    version = lineage.add_version(content, facts if meta else {}, settings, now=not_before)
    if installed:
        lineage.update_health(lambda health: health.installed(version.name, not_before))
    if ari:
        certificate = renewal.Certificate(str(facts["serial"]), not_before, not_before + lifetime)
        lineage.save_ari_state(renewal.not_offered(certificate, now=now).to_json())
    return lineage
