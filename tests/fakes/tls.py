"""A throw-away CA and a server certificate for the stand-ins' TLS (only tests trust it)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

from testpki import DAY, Authority, Flaw


@dataclass(frozen=True)
class TlsFiles:
    ca_bundle: Path
    cert: Path
    key: Path


def make_tls(
    directory: Path,
    *,
    ips: Sequence[str] = ("::1",),
    names: Sequence[str] = (),
    flaws: Collection[Flaw] = (),
    lifetime: dt.timedelta = DAY,
) -> TlsFiles:
    """Write ca.pem, server.pem and server.key into ``directory``.

    RFC 5280-correct (testpki); ``flaws`` makes a CA like the home-made ones users have, and a
    negative ``lifetime`` an expired server certificate.
    """
    authority = Authority.create("certv6 test stand-in CA", flaws=flaws)
    server = authority.server("stand-in", ips=ips, names=names, lifetime=lifetime)
    bundle = directory / "ca.pem"
    bundle.write_bytes(authority.pem())
    cert, key = server.write(directory / "server.pem", directory / "server.key")
    return TlsFiles(bundle, cert, key)
