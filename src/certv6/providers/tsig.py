"""TSIG keys (RFC 8945) in BIND's key-file format: read, generate, write.

The format is what ``tsig-keygen`` writes and BIND (``include``), ``nsupdate -k``
and Knot's ``knsupdate -k`` read:

    key "certv6.acme.example.net" {
        algorithm hmac-sha256;
        secret "base64...";
    };

dnspython has no reader for this format (``dns.tsigkeyring`` converts between
dicts and keyrings only), so it is parsed here. Comments are BIND's three kinds
(``//`` and ``#`` to the end of the line, ``/* ... */``) and are dropped first,
outside quoted strings only: a base64 secret may contain ``/``.
"""

from __future__ import annotations

import base64
import re
import secrets
from dataclasses import dataclass

import dns.name
import dns.tsig

from certv6.errors import ConfigError

ALGORITHMS = {
    "hmac-sha256": dns.tsig.HMAC_SHA256,
    "hmac-sha224": dns.tsig.HMAC_SHA224,
    "hmac-sha384": dns.tsig.HMAC_SHA384,
    "hmac-sha512": dns.tsig.HMAC_SHA512,
    "hmac-sha1": dns.tsig.HMAC_SHA1,
    "hmac-md5": dns.tsig.HMAC_MD5,  # only when named explicitly in the config
}
DEFAULT_ALGORITHM = "hmac-sha256"
# Secret length = the hash's output size, as tsig-keygen does (RFC 8945 section 6).
SECRET_BYTES = {"hmac-sha224": 28, "hmac-sha256": 32, "hmac-sha384": 48, "hmac-sha512": 64}
_KEY_BLOCK = re.compile(r'key\s+"?([^"\s{]+)"?\s*\{(.*?)\}\s*;', re.S)
_STATEMENT = re.compile(r'(\w+)\s+"?([^";]+)"?\s*;')
_KEY_NAME = re.compile(r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*\.?$")


@dataclass(frozen=True, slots=True)
class TsigKey:
    name: str
    algorithm: str
    secret: str  # base64; never put it in a message, a log line or --json

    def __repr__(self) -> str:
        return f"TsigKey(name={self.name!r}, algorithm={self.algorithm!r}, secret=<hidden>)"

    @property
    def dns_name(self) -> dns.name.Name:
        return dns.name.from_text(self.name)

    def keyring(self) -> dict[dns.name.Name, dns.tsig.Key]:
        name = self.dns_name
        return {name: dns.tsig.Key(name, self.secret, ALGORITHMS[self.algorithm])}


def parse_key_file(text: str, origin: str, algorithm_override: str | None = None) -> TsigKey:
    """Read a BIND key file (what ``tsig-keygen`` writes).

    ``algorithm_override`` is the provider's ``algorithm`` option: it wins over the
    file, and it is the only way to get hmac-md5 (RFC 8945 section 6: MD5 is
    deprecated; certv6 uses it only when asked by name).

    Raises:
        ConfigError: no key block, no secret, or an algorithm certv6 will not use.
    """
    block = _KEY_BLOCK.search(strip_comments(text, origin))
    if block is None:
        raise ConfigError(
            f"{origin} is not a BIND key file",
            hint='expected: key "NAME" { algorithm hmac-sha256; secret "..."; };',
        )
    statements = dict(_STATEMENT.findall(block.group(2)))
    secret = statements.get("secret", "").strip()
    if not secret:
        raise ConfigError(f"{origin}: the key has no secret")
    algorithm = (algorithm_override or statements.get("algorithm", DEFAULT_ALGORITHM)).lower()
    check_algorithm(algorithm, origin, explicit=algorithm_override == "hmac-md5")
    _check_base64(secret, origin)
    return TsigKey(block.group(1).rstrip("."), algorithm, secret)


def strip_comments(text: str, origin: str) -> str:
    """``text`` without BIND comments; quoted strings are kept as they are.

    Raises:
        ConfigError: a ``/*`` comment that never ends.
    """
    kept: list[str] = []
    position, quoted = 0, False
    while position < len(text):
        char = text[position]
        if char == '"':
            quoted = not quoted
        elif not quoted and (char == "#" or text.startswith("//", position)):
            end = text.find("\n", position)
            position = len(text) if end < 0 else end
            continue
        elif not quoted and text.startswith("/*", position):
            end = text.find("*/", position + 2)
            if end < 0:
                raise ConfigError(f"{origin}: a /* comment is never closed")
            kept.append(" ")
            position = end + 2
            continue
        kept.append(char)
        position += 1
    return "".join(kept)


def check_algorithm(algorithm: str, origin: str, *, explicit: bool = False) -> None:
    """Raises ConfigError for an unknown algorithm, or hmac-md5 not asked for by name."""
    if algorithm not in ALGORITHMS:
        raise ConfigError(
            f"{origin}: unknown TSIG algorithm {algorithm!r}",
            hint="use hmac-sha256 (or hmac-sha224/384/512, hmac-sha1)",
        )
    if algorithm == "hmac-md5" and not explicit:
        raise ConfigError(
            f"{origin}: the key uses hmac-md5, which certv6 uses only when asked by name",
            hint='set algorithm = "hmac-md5" in [provider.rfc2136] if you really must',
        )


def generate_key(name: str, algorithm: str = DEFAULT_ALGORITHM) -> TsigKey:
    """A fresh random key, as ``tsig-keygen -a ALGORITHM NAME`` would make it.

    Raises:
        ConfigError: a bad key name, or an algorithm certv6 does not generate.
    """
    if not _KEY_NAME.match(name) or len(name) > 253:
        raise ConfigError(
            f"invalid TSIG key name {name!r}", hint="use a DNS name, like certv6.acme.example.net"
        )
    if algorithm not in SECRET_BYTES:
        raise ConfigError(
            f"certv6 does not generate {algorithm!r} keys",
            hint=f"choose one of {', '.join(SECRET_BYTES)}",
        )
    secret = base64.b64encode(secrets.token_bytes(SECRET_BYTES[algorithm])).decode()
    return TsigKey(name.rstrip("."), algorithm, secret)


def render_key_file(key: TsigKey) -> str:
    """The key in BIND key-file format (the file itself is the only place the secret goes)."""
    return f'key "{key.name}" {{\n\talgorithm {key.algorithm};\n\tsecret "{key.secret}";\n}};\n'


def render_knot_key(key: TsigKey) -> str:
    """The key as a Knot DNS ``key:`` section, for a file that knot.conf ``include:``s."""
    return f"key:\n  - id: {key.name}\n    algorithm: {key.algorithm}\n    secret: {key.secret}\n"


def _check_base64(secret: str, origin: str) -> None:
    try:
        base64.b64decode(secret, validate=True)
    except ValueError:
        raise ConfigError(
            f"{origin}: the key's secret is not base64", hint="regenerate it with tsig-keygen"
        ) from None
