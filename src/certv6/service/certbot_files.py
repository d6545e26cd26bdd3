"""The files of a take-over from certbot: certbot's to read, certv6's config to extend."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from certv6 import fsatomic
from certv6.errors import ConfigError
from certv6.settings import Settings


def read_renewal_conf(path: Path) -> dict[str, Any]:
    """certbot's renewal file (ConfigObj syntax): top-level keys and ``[section]`` dicts."""
    top: dict[str, Any] = {}
    section: dict[str, Any] = top
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            depth = len(line) - len(line.lstrip("["))
            if depth == 1:
                section = top.setdefault(line.strip("[]").strip(), {})
            continue  # [[webroot_map]] and deeper: not needed for dns-01
        key, sep, value = line.partition("=")
        if sep:
            section[key.strip()] = value.strip().strip("'\"")
    return top


def read_ini(path: Path) -> dict[str, str]:
    try:
        lines = path.read_text().splitlines()
    except OSError as error:
        raise ConfigError(f"cannot read certbot's credentials {path}: {error.strerror}") from None
    found = {}
    for line in lines:
        key, sep, value = line.partition("=")
        if sep and not key.strip().startswith(("#", ";")):
            found[key.strip()] = value.strip()
    return found


def write_config(
    path: Path,
    text: str,
    root_keys: Mapping[str, str],
    tables: list[str],
    reload: Callable[[], Settings],
) -> None:
    """Put ``root_keys`` before the first table and append ``tables``; keep it only if it loads.

    Raises:
        ConfigError: the new text does not load (the old text is back in place).
    """
    head = "".join(f"{key} = {toml_string(value)}\n" for key, value in root_keys.items())
    stamp = "# taken over from certbot by certv6 import certbot\n"
    new = (stamp + head if head else "") + text
    new += ("\n" if new and not new.endswith("\n\n") else "") + "\n".join(tables)
    path.parent.mkdir(parents=True, exist_ok=True)
    fsatomic.write(path, new.encode(), mode=0o644)
    try:
        reload()
    except ConfigError:
        # The old config stays in force; nothing was written to the store yet.
        if text:
            fsatomic.write(path, text.encode(), mode=0o644)
        else:
            path.unlink()
        raise


def toml_string(value: str) -> str:
    return json.dumps(value)  # a JSON string is a valid TOML basic string
