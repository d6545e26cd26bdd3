"""The kinds of value a setting can hold, each checked and converted in one function.

Every converter takes the raw value (TOML value, environment text or flag) and
the directory relative paths are resolved against, and returns the typed value
or raises TypeError/ValueError (settings.py adds the setting's name and origin)
or ConfigError (when the message needs its own hint). ``kind`` is what
docs/settings.md shows in its "type" column.
"""

from __future__ import annotations

import difflib
import ipaddress
import math
import os
import re
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from certv6.errors import ConfigError

SERVER_SHORTCUTS = {
    "letsencrypt": "https://acme-v02.api.letsencrypt.org/directory",
    "letsencrypt-staging": "https://acme-staging-v02.api.letsencrypt.org/directory",
    "zerossl": "https://acme.zerossl.com/v2/DV90",
    "google": "https://dv.acme-v02.api.pki.goog/directory",
    "google-staging": "https://dv.acme-v02.test-api.pki.goog/directory",
}
# The DNS challenges certv6 answers (docs/challenges.md): a value per order at
# _acme-challenge (RFC 8555 8.4), the same at a per-account label below it
# (draft-ietf-acme-dns-account-label), or a standing record (draft-ietf-acme-dns-persist).
DNS01 = "dns-01"
DNS_ACCOUNT01 = "dns-account-01"
DNS_PERSIST01 = "dns-persist-01"
CHALLENGE_TYPES = (DNS01, DNS_ACCOUNT01, DNS_PERSIST01)
NAT64_PREFIX_LENGTHS = (32, 40, 48, 56, 64, 96)  # RFC 6052 section 2.2
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True, slots=True)
class Kind:
    """A converter and the words docs/settings.md uses for it."""

    name: str
    convert: Callable[[Any, Path], Any]

    def __call__(self, value: Any, base: Path) -> Any:
        return self.convert(value, base)


def path(value: Any, base: Path) -> Path:
    if not isinstance(value, str | os.PathLike) or not str(value):
        raise TypeError("expected a path")
    return (base / Path(value).expanduser()).absolute()


def boolean(value: Any, base: Path | None = None) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"expected true or false, got {value!r}")


def seconds(value: Any, base: Path | None = None) -> float:
    number = _seconds(value)
    if not number > 0:
        raise ValueError("expected a positive number of seconds (and not infinity)")
    return number


def seconds_or_zero(value: Any, base: Path | None = None) -> float:
    number = _seconds(value)
    if not number >= 0:
        raise ValueError("expected 0 or more seconds (and not infinity)")
    return number


def _seconds(value: Any) -> float:
    if isinstance(value, bool):
        raise TypeError("expected a number of seconds")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError("expected a finite number of seconds")
    return number


def count(value: Any, base: Path | None = None) -> int:
    if isinstance(value, bool | float):
        raise TypeError("expected a whole number")
    number = int(value)
    if number <= 0:
        raise ValueError("expected a whole number above zero")
    return number


def ttl(value: Any, base: Path | None = None) -> int:
    if isinstance(value, bool | float):
        raise TypeError("expected a whole number of seconds")
    number = int(value)
    if not 0 < number <= 2**31 - 1:
        raise ValueError("expected a whole number of seconds above 0 (RFC 2181 section 8)")
    return number


def interface_identifier(value: Any, base: Path | None = None) -> str:
    """``::53`` or ``::1:2:3:4``: an interface identifier (RFC 4291 2.5.1), low 64 bits only."""
    token = text(value).strip()
    try:
        number = int(ipaddress.IPv6Address(token))
    except ValueError:
        raise ConfigError(
            f"token {token!r} is not an interface identifier", hint="write it like ::53"
        ) from None
    if number >> 64 or not number:
        raise ConfigError(
            f"token {token!r} must set only the low 64 bits (the interface identifier)",
            hint="write it like ::53 or ::1:2:3:4",
        )
    return token


def text(value: Any, base: Path | None = None) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {type(value).__name__}")
    return value


def text_list(value: Any, base: Path | None = None) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise TypeError("expected a list of strings")


def challenge_list(value: Any, base: Path | None = None) -> tuple[str, ...]:
    """``"dns-01"``, ``"dns-persist-01, dns-01"`` or a list: known types, no repeats.

    Raises:
        ValueError: empty, or a type certv6 does not answer.
        TypeError: neither a string nor a list of strings.
    """
    types = text_list(value)
    if not types:
        raise ValueError(f"expected one or more of {', '.join(CHALLENGE_TYPES)}")
    for kind in types:
        if kind not in CHALLENGE_TYPES:
            close = difflib.get_close_matches(kind, CHALLENGE_TYPES, n=1)
            also = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValueError(
                f"unknown challenge {kind!r}{also}; certv6 answers {', '.join(CHALLENGE_TYPES)}"
            )
    return tuple(dict.fromkeys(types))


def domain_name(value: Any, base: Path | None = None) -> str:
    # draft-ietf-acme-dns-persist 3: a domain name, as in a CAA issue property (RFC 8659 4.2).
    name = text(value)
    if not re.fullmatch(r"[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?", name):
        raise ConfigError(
            f"issuer_domain_name {name!r} is not a domain name",
            hint="the name your CA gives for dns-persist-01 records, e.g. letsencrypt.org",
        )
    return name


def choice(options: Sequence[str], what: str) -> Kind:
    def convert(value: Any, base: Path) -> str:
        if text(value) not in options:
            raise ConfigError(
                f"unknown {what} {value!r}", hint=f"choose one of {', '.join(options)}"
            )
        return str(value)

    return Kind(" | ".join(options), convert)


def ca_list(value: Any, base: Path | None = None) -> tuple[str, ...]:
    """``server``: one CA or a list (a string may list them separated by commas).

    Each entry is resolved (shortcut, ``[ca.NAME]`` table or URL) by certv6.cas,
    which sees the tables too.
    """
    return text_list(value if isinstance(value, list) else text(value))


def directory_url(
    value: Any, base: Path | None = None, *, key: str = "server", names: Sequence[str] = ()
) -> str:
    """An https:// ACME directory URL, or the URL of a shortcut.

    ``names`` are the ``[ca.NAME]`` tables, offered in the hint beside the shortcuts.
    """
    url = SERVER_SHORTCUTS.get(text(value), value)
    extra = [name for name in names if name not in SERVER_SHORTCUTS]
    hint = f"use an https:// directory URL or one of: {', '.join([*SERVER_SHORTCUTS, *extra])}"
    if "://" not in url and not any(c in url for c in "/[]:"):
        raise ConfigError(
            f"{key} {value!r} is not a known CA and not an https:// directory URL", hint=hint
        )
    if not url.startswith("https://"):
        raise ConfigError(f"{key} {value!r} is not an https:// directory URL", hint=hint)
    try:
        host = urllib.parse.urlsplit(url).hostname
    except ValueError as error:
        raise ConfigError(f"{key} {value!r} is not a valid URL: {error}", hint=hint) from None
    if not host or any(c.isspace() for c in url):
        raise ConfigError(f"{key} {value!r} has no valid host name", hint=hint)
    return str(url)


def email(value: Any, base: Path | None = None) -> str:
    # RFC 8555 7.3: a mailto: contact; the CA checks it properly, this catches typos.
    if not _EMAIL.match(text(value)):
        raise ConfigError(f"email {value!r} is not an e-mail address", hint="e.g. ops@example.org")
    return str(value)


def ca_bundle(value: Any, base: Path) -> Path:
    bundle = path(value, base)
    try:
        data = bundle.read_bytes()
    except OSError as error:
        raise ConfigError(f"cannot read ca_bundle {bundle}: {error.strerror}") from None
    if b"-----BEGIN CERTIFICATE-----" not in data:
        raise ConfigError(f"ca_bundle {bundle} holds no PEM certificate")
    return bundle


def nat64_prefix(value: Any, base: Path | None = None) -> str:
    prefix = text(value)
    try:
        network = ipaddress.IPv6Network(prefix)
    except ValueError as error:
        raise ConfigError(f"nat64_prefix {prefix!r} is not an IPv6 prefix: {error}") from None
    if network.prefixlen not in NAT64_PREFIX_LENGTHS:
        raise ConfigError(
            f"nat64_prefix {prefix!r}: RFC 6052 allows lengths "
            f"{', '.join(map(str, NAT64_PREFIX_LENGTHS))}",
            hint="e.g. 64:ff9b::/96",
        )
    return prefix


PATH = Kind("path", path)
BOOL = Kind("true | false", boolean)
SECONDS = Kind("seconds", seconds)
SECONDS_OR_ZERO = Kind("seconds (0 allowed)", seconds_or_zero)
BYTES = Kind("bytes", count)
TTL = Kind("seconds (whole, a DNS TTL)", ttl)
CHALLENGES = Kind("list of " + " | ".join(CHALLENGE_TYPES), challenge_list)
DOMAIN_NAME = Kind("domain name", domain_name)
INTERFACE_ID = Kind("interface identifier, like ::53", interface_identifier)
COUNT = Kind("whole number", count)
TEXT = Kind("string", text)
TEXT_LIST = Kind("list of strings", text_list)
URL = Kind(f"https:// URL or {' | '.join(SERVER_SHORTCUTS)}", directory_url)
CA_LIST = Kind(f"{URL.name} | [ca.NAME] name, or a list of them", ca_list)
EMAIL = Kind("e-mail address", email)
CA_BUNDLE = Kind("path (PEM)", ca_bundle)
NAT64_PREFIX = Kind("IPv6 prefix", nat64_prefix)


def staging_url(value: Any, base: Path) -> str:
    return directory_url(value, base, key="staging_server")


STAGING_URL = Kind(URL.name, staging_url)
