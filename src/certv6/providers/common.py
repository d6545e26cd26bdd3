"""Small pieces every provider shares: hint options, names, secrets kept out of text."""

from __future__ import annotations

import stat
from collections.abc import Iterable, Sequence
from pathlib import Path

from certv6 import fsatomic
from certv6.errors import ConfigError, ProviderError
from certv6.model import Owned, ProviderHints
from certv6.providers import ProviderContext
from certv6.settings import read_secret_file

# Every provider accepts these two: how long certv6 waits for its changes to show.
HINT_OPTIONS = ("propagation_timeout", "poll_interval")
REDACTED = "<redacted>"


def hints_from(
    context: ProviderContext,
    *,
    timeout: float,
    poll_interval: float,
    max_values_per_owner: int | None = None,
) -> ProviderHints:
    """The provider's defaults, overridden by its ``propagation_timeout`` / ``poll_interval``."""
    return ProviderHints(
        propagation_timeout=seconds(context, "propagation_timeout", timeout),
        poll_interval=seconds(context, "poll_interval", poll_interval),
        max_values_per_owner=max_values_per_owner,
    )


def owners_of(records: Sequence[Owned]) -> str:
    """``_acme-challenge.a.example. (+2 more)``: enough to find the record, short enough to read."""
    owners = sorted({record.owner for record in records})
    if not owners:
        return "(no records)"
    more = f" (+{len(owners) - 1} more)" if len(owners) > 1 else ""
    return owners[0] + more


def relative_name(owner: str, zone: str) -> str:
    """``_acme-challenge.www`` for ``_acme-challenge.www.example.org.`` in ``example.org.``."""
    owner, zone = owner.rstrip(".").lower(), zone.rstrip(".").lower()
    if owner == zone:
        return "@"
    if not owner.endswith("." + zone):
        raise ValueError(f"{owner} is not inside {zone}")
    return owner[: -len(zone) - 1]


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret (of 4 characters or more) replaced by <redacted>."""
    for secret in sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return text


def read_token(context: ProviderContext, option: str = "token_file") -> str:
    """A one-line credential from the file named by ``option`` (refused if others can read it).

    Raises:
        ConfigError: option missing, file unreadable, too open, or empty.
    """
    path = Path(context.option(option, required=True))
    data = read_secret_file(
        path, allow_insecure=context.allow_insecure_secrets, what=f"{context.name} {option}"
    )
    token = data.decode(errors="replace").strip()
    if not token or "\n" in token:
        raise ConfigError(
            f"{context.name} {option} {path} must hold exactly one line (the token)",
            hint="write only the token into the file, then chmod 600 it",
        )
    return token


def write_private(path: Path, data: bytes, *, provider: str) -> None:
    """Replace ``path`` atomically with a 0600 file (certv6.fsatomic's recipe).

    Raises:
        ProviderError: the directory cannot be created or written.
    """
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fsatomic.write(path, data, mode=stat.S_IRUSR | stat.S_IWUSR)
    except OSError as error:
        raise ProviderError(
            f"{provider}: cannot write {path}: {error.strerror}",
            provider=provider,
            hint="check that the state directory exists and is writable",
        ) from error


def seconds(context: ProviderContext, option: str, default: float) -> float:
    """A positive number of seconds from the provider's options (env values arrive as text).

    Raises:
        ConfigError: not a number, or not above zero.
    """
    value = context.option(option, default)
    try:
        number = float(value) if not isinstance(value, bool) else -1.0
    except (TypeError, ValueError):
        number = -1.0
    if not number > 0:
        raise ConfigError(
            f"provider {context.name!r}: {option} must be a positive number of seconds",
            hint=f"for example {option} = {default:g}",
        )
    return number


def ttl(context: ProviderContext, default: int, *, minimum: int = 0) -> int:
    """The ``ttl`` option: a whole number of seconds, at least ``minimum``.

    Raises:
        ConfigError: not a whole number, or below ``minimum``.
    """
    value = context.option("ttl", default)
    try:
        number = int(value) if not isinstance(value, bool | float) else -1
    except (TypeError, ValueError):
        number = -1
    if number < minimum or number > 2**31 - 1:
        raise ConfigError(
            f"provider {context.name!r}: ttl must be a whole number of seconds >= {minimum}",
            hint=f"for example ttl = {default}",
        )
    return number
