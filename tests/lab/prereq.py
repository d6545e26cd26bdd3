"""Can this machine run the lab?  Answer with one clear reason when it cannot."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from .errors import LabUnavailable

# Debian package that provides each binary, for the error message.
REQUIRED_BINARIES: dict[str, str] = {
    "ip": "iproute2",
    "named": "bind9",
    "nsupdate": "bind9-dnsutils",
    "unbound": "unbound",
    "pebble": "pebble",
    "tayga": "tayga",  # the NAT64 in front of ns4
    "sysctl": "procps",
}

# sbin directories are often missing from a non-login PATH, yet named and ip live there.
_EXTRA_DIRS = ("/usr/local/sbin", "/usr/sbin", "/sbin")


def find_binary(name: str) -> Path | None:
    search = os.pathsep.join([os.environ.get("PATH", ""), *_EXTRA_DIRS])
    found = shutil.which(name, path=search)
    return Path(found) if found else None


def binaries() -> dict[str, Path]:
    """Absolute paths of every binary the lab runs; raise LabUnavailable naming what is missing."""
    found: dict[str, Path] = {}
    missing: list[str] = []
    for name, package in REQUIRED_BINARIES.items():
        path = find_binary(name)
        if path is None:
            missing.append(f"{name} (apt package {package})")
        else:
            found[name] = path
    if missing:
        raise LabUnavailable("lab binaries not found: " + ", ".join(missing))
    return found


def check() -> dict[str, Path]:
    """Raise LabUnavailable unless we are root on Linux with every binary installed."""
    if not Path("/proc/self/ns/net").exists():
        raise LabUnavailable("network namespaces are not available (needs Linux)")
    if os.geteuid() != 0:
        raise LabUnavailable("the lab needs root (it creates network namespaces)")
    return binaries()
