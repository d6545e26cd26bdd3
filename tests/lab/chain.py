"""Does a stored lineage chain to a given root? (openssl, as an operator would check it)."""

from __future__ import annotations

import subprocess
from pathlib import Path


def verify_chain(live: Path, root: Path) -> subprocess.CompletedProcess[str]:
    """``openssl verify`` of ``live``/cert.pem through ``live``/chain.pem to ``root``."""
    return subprocess.run(
        [
            "openssl",
            "verify",
            "-CAfile",
            str(root),
            "-untrusted",
            str(live / "chain.pem"),
            str(live / "cert.pem"),
        ],
        capture_output=True,
        text=True,
    )
