"""docs/providers.md's example exec program: lego's convention, nsupdate does the work.

Written for tests that drive the exec provider against a real BIND primary. With
``server`` the script names the primary; without, nsupdate finds it itself (SOA
MNAME through the resolver of the namespace it runs in). An add of a value that is
there and a delete of one that is not are no-ops (RFC 2136 3.4.2): that is how the
script keeps the provider contract.
"""

from __future__ import annotations

from pathlib import Path

SCRIPT = """#!/bin/sh
# lego's exec convention: $1 = present|cleanup, $2 = FQDN, $3 = value.
set -eu
case "$1" in
  present) line="update add $2 60 TXT \\"$3\\"" ;;
  cleanup) line="update delete $2 TXT \\"$3\\"" ;;
  *) exit 0 ;;
esac
printf '{server}%s\\nsend\\n' "$line" | nsupdate -k {key}
"""


def write_nsupdate_hook(path: Path, key: Path, server: str | None = None) -> Path:
    """Write the script to ``path`` (mode 0755) and return it."""
    line = f"server {server}\\n" if server else ""
    path.write_text(SCRIPT.format(server=line, key=key))
    path.chmod(0o755)
    return path
