"""Throw-away secrets for one lab: TSIG keys and the TLS certificate of Pebble's listener."""

from __future__ import annotations

import base64
import datetime as dt
import os
import secrets
from pathlib import Path

from testpki import Authority


def _write_private(path: Path, data: bytes) -> None:
    # Created 0600 from the start: certv6 refuses secret files that others can read.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def write_tsig_key(path: Path, name: str) -> Path:
    """Write a key file in the format of ``tsig-keygen -a hmac-sha256 NAME``."""
    secret = base64.b64encode(secrets.token_bytes(32)).decode()
    text = f'key "{name}" {{\n\talgorithm hmac-sha256;\n\tsecret "{secret}";\n}};\n'
    _write_private(path, text.encode())
    return path


def tsig_secret(key_file: Path) -> str:
    """The secret of a key file in that format (for clients that take it bare: certbot, lego)."""
    for line in key_file.read_text().splitlines():
        words = line.strip().rstrip(";").split()
        if words[:1] == ["secret"]:
            return words[1].strip('"')
    raise ValueError(f"no secret in {key_file}")


def write_listener_tls(
    directory: Path, *, address: str, names: list[str]
) -> tuple[Path, Path, Path]:
    """Create a CA and a server certificate for ``address`` and ``names``.

    Returns (ca_bundle, cert, key).  Only this lab's clients trust the CA, through the bundle.
    Both are RFC 5280-correct (testpki), so clients on Python 3.13 accept them too.
    """
    lifetime = dt.timedelta(days=2)
    authority = Authority.create("certv6 lab listener CA", lifetime=lifetime)
    listener = authority.server(names[0], ips=[address], names=names, lifetime=lifetime)
    bundle = directory / "ca-bundle.pem"
    bundle.write_bytes(authority.pem())
    cert, key = listener.write(directory / "listener.pem", directory / "listener.key")
    return bundle, cert, key
