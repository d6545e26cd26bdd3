"""Configuration: TOML file, then CERTV6_* environment, then flags; loaded once, frozen.

    server = "letsencrypt"            # or letsencrypt-staging, or an https:// directory URL
    email = "ops@example.org"
    agree_tos = true
    state_dir = "/var/lib/certv6"
    ca_bundle = "/etc/certv6/extra-ca.pem"
    resolvers = ["[2001:db8::53]:53"]
    staging_server = "letsencrypt-staging"    # certv6 renew --dry-run (docs/renewal.md)
    deploy_hook = "systemctl reload nginx"    # also pre_hook, post_hook: certbot's
    metrics_file = "/var/lib/node_exporter/textfile/certv6.prom"  # after each renew
    renew_concurrency = 8             # certificates worked on at once (docs/renewal.md)

    [provider.rfc2136]
    key_file = "/etc/certv6/tsig.key"

Relative paths in the file are relative to the file. Environment variables are
``CERTV6_<SETTING>`` (``CERTV6_STATE_DIR``) and ``CERTV6_PROVIDER_<NAME>_<OPTION>``
(``CERTV6_PROVIDER_RFC2136_KEY_FILE``).
"""

from __future__ import annotations

import difflib
import ipaddress
import math
import os
import re
import stat
import tomllib
import types
import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from certv6.errors import ConfigError

DEFAULT_CONFIG = Path("/etc/certv6/certv6.toml")
SERVER_SHORTCUTS = {
    "letsencrypt": "https://acme-v02.api.letsencrypt.org/directory",
    "letsencrypt-staging": "https://acme-staging-v02.api.letsencrypt.org/directory",
}
KEY_TYPES = ("ec256", "ec384", "rsa2048", "rsa3072", "rsa4096")
POLICIES = ("all-reachable", "strict")
NAT64_PREFIX_LENGTHS = (32, 40, 48, 56, 64, 96)  # RFC 6052 section 2.2
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True, slots=True)
class ProviderSettings:
    name: str
    options: Mapping[str, Any] = field(default_factory=lambda: types.MappingProxyType({}))


@dataclass(frozen=True, slots=True)
class Settings:
    server: str = SERVER_SHORTCUTS["letsencrypt"]
    email: str | None = None
    agree_tos: bool = False
    state_dir: Path = Path("/var/lib/certv6")
    ca_bundle: Path | None = None
    resolvers: tuple[str, ...] = ()
    # The CA's CAA domain names (RFC 8659), when its directory publishes none.
    caa_identities: tuple[str, ...] = ()
    allow_ipv4: bool = False
    key_type: str = "ec256"
    propagation_timeout: float | None = None
    poll_interval: float | None = None
    propagation_policy: str = "all-reachable"
    nat64_prefix: str | None = None
    # RFC 7050: ask the resolver for ipv4only.arpa AAAA to find a NAT64 prefix.
    discover_nat64: bool = True
    # Extra wait for nameservers nobody could ask (docs/propagation.md); None: 5 s.
    unverified_grace: float | None = None
    eab_kid: str | None = None
    eab_hmac_key_file: Path | None = None
    preferred_chain: str | None = None
    insecure_secrets: bool = False
    # `certv6 renew`: the CA's staging directory for --dry-run (letsencrypt has one
    # built in), and shell commands run before, after and for each renewal (certbot's).
    staging_server: str | None = None
    pre_hook: str | None = None
    post_hook: str | None = None
    deploy_hook: str | None = None
    # Prometheus textfile-collector metrics, rewritten after every `certv6 renew`.
    metrics_file: Path | None = None
    # `certv6 renew`: certificates worked on at once; waiting (DNS, CA) holds no slot.
    renew_concurrency: int = 8
    providers: Mapping[str, ProviderSettings] = field(
        default_factory=lambda: types.MappingProxyType({})
    )
    certificates: Mapping[str, Mapping[str, Any]] = field(
        default_factory=lambda: types.MappingProxyType({})
    )
    config_path: Path | None = None


_PATHS = {"state_dir", "ca_bundle", "eab_hmac_key_file", "metrics_file"}
_BOOLS = {"agree_tos", "allow_ipv4", "insecure_secrets", "discover_nat64"}
# Numbers: positive seconds; seconds where 0 is allowed; whole numbers from 1.
_FLOATS = {"propagation_timeout", "poll_interval"}
_SECONDS = {"unverified_grace"}
_COUNTS = {"renew_concurrency"}
_TABLES = {"provider", "certificate"}
SETTING_NAMES = tuple(
    f.name for f in fields(Settings) if f.name not in {"providers", "certificates", "config_path"}
)


def load_settings(
    config_path: Path | None,
    env: Mapping[str, str],
    flags: Mapping[str, Any] | None = None,
    provider_names: Iterable[str] = (),
) -> Settings:
    """Merge file, environment and flags (later wins) into one frozen Settings.

    ``config_path`` None means /etc/certv6/certv6.toml if it exists. ``flags``
    holds only the options the user actually gave.

    Raises:
        ConfigError: unreadable file, bad TOML, unknown or mistyped setting.
    """
    path = config_path or (DEFAULT_CONFIG if DEFAULT_CONFIG.exists() else None)
    raw = _read_toml(path) if path else {}
    base = path.parent if path else Path.cwd()
    values = _from_mapping(raw, base, origin=str(path))
    providers = _providers(raw.get("provider", {}), base, str(path))
    values.update(_from_env(env))
    _merge_provider_env(providers, env, [*providers, *provider_names])
    values.update(
        {k: _convert(k, v, Path.cwd(), "flag") for k, v in (flags or {}).items() if v is not None}
    )
    settings = replace(
        Settings(),
        **values,
        providers=types.MappingProxyType(providers),
        certificates=types.MappingProxyType(_certificates(raw.get("certificate", {}), str(path))),
        config_path=path,
    )
    return _validated(settings)


def read_secret_file(path: Path, *, allow_insecure: bool, what: str) -> bytes:
    """Read a credential file, refusing one that other users can read or write.

    Raises:
        ConfigError: missing, unreadable, or readable by others (unless allowed).
    """
    try:
        info = path.stat()
        data = path.read_bytes()
    except OSError as error:
        raise ConfigError(
            f"cannot read {what} {path}: {error.strerror}", hint=f"check the path of the {what}"
        ) from error
    if info.st_mode & (stat.S_IROTH | stat.S_IWOTH) and not allow_insecure:
        raise ConfigError(
            f"{what} {path} is readable by other users (mode {stat.S_IMODE(info.st_mode):o})",
            hint=f"chmod 600 {path}, or set insecure_secrets = true if you must",
        )
    return data


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except OSError as error:
        raise ConfigError(
            f"cannot read config {path}: {error.strerror}", hint="check --config / CERTV6_CONFIG"
        ) from error
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"config {path} is not valid TOML: {error}") from error


def _from_mapping(raw: Mapping[str, Any], base: Path, origin: str) -> dict[str, Any]:
    values = {}
    for key, value in raw.items():
        if key in _TABLES:
            continue
        if key not in SETTING_NAMES:
            raise ConfigError(f"unknown setting {key!r} in {origin}", hint=_did_you_mean(key))
        values[key] = _convert(key, value, base, origin)
    return values


def _from_env(env: Mapping[str, str]) -> dict[str, Any]:
    values = {}
    for key in SETTING_NAMES:
        name = f"CERTV6_{key.upper()}"
        if name in env:
            values[key] = _convert(key, env[name], Path.cwd(), name)
    return values


def _convert(key: str, value: Any, base: Path, origin: str) -> Any:
    try:
        if key in _PATHS:
            return _path(value, base)
        if key in _BOOLS:
            return _bool(value)
        if key in _FLOATS | _SECONDS | _COUNTS:
            return _number(key, value)
        if key in {"resolvers", "caa_identities"}:
            return _str_tuple(value)
        return _str(value)
    except (TypeError, ValueError) as error:
        raise ConfigError(f"{origin}: setting {key!r}: {error}") from None


def _providers(raw: Any, base: Path, origin: str) -> dict[str, ProviderSettings]:
    if not isinstance(raw, dict):
        raise ConfigError(f"{origin}: [provider] must be a table of tables")
    providers = {}
    for name, options in raw.items():
        if not isinstance(options, dict):
            raise ConfigError(f"{origin}: [provider.{name}] must be a table")
        resolved = {}
        for key, value in options.items():
            try:
                resolved[key] = _path(value, base) if key.endswith("_file") else value
            except TypeError as error:
                raise ConfigError(f"{origin}: [provider.{name}] {key}: {error}") from None
        providers[name] = ProviderSettings(name, types.MappingProxyType(resolved))
    return providers


def _merge_provider_env(
    providers: dict[str, ProviderSettings], env: Mapping[str, str], names: list[str]
) -> None:
    # Longest names first so CERTV6_PROVIDER_ACME_DNS_SERVER means acme-dns, not acme.
    claimed: set[str] = set()
    for name in sorted(set(names), key=len, reverse=True):
        prefix = f"CERTV6_PROVIDER_{name.upper().replace('-', '_')}_"
        mine = [k for k in env if k.startswith(prefix) and k not in claimed]
        claimed.update(mine)
        found = {k[len(prefix) :].lower(): env[k] for k in mine}
        if not found:
            continue
        options = dict(providers[name].options) if name in providers else {}
        for key, value in found.items():
            options[key] = _path(value, Path.cwd()) if key.endswith("_file") else value
        providers[name] = ProviderSettings(name, types.MappingProxyType(options))


def _certificates(raw: Any, origin: str) -> dict[str, Mapping[str, Any]]:
    if not isinstance(raw, dict) or not all(isinstance(v, dict) for v in raw.values()):
        raise ConfigError(f"{origin}: [certificate.NAME] must be tables")
    return {name: types.MappingProxyType(dict(table)) for name, table in raw.items()}


def _validated(settings: Settings) -> Settings:
    server = _directory_url(settings.server, "server")
    if settings.key_type not in KEY_TYPES:
        raise ConfigError(
            f"unknown key type {settings.key_type!r}", hint=f"choose one of {', '.join(KEY_TYPES)}"
        )
    if settings.propagation_policy not in POLICIES:
        raise ConfigError(
            f"unknown propagation_policy {settings.propagation_policy!r}",
            hint=f"choose one of {', '.join(POLICIES)}",
        )
    staging = settings.staging_server
    staging = _directory_url(staging, "staging_server") if staging else None
    _check_email(settings.email)
    _check_ca_bundle(settings.ca_bundle)
    _check_eab(settings)
    _check_nat64_prefix(settings.nat64_prefix)
    return replace(settings, server=server, staging_server=staging)


def _directory_url(value: str, key: str) -> str:
    url = SERVER_SHORTCUTS.get(value, value)
    hint = f"use an https:// URL or one of: {', '.join(SERVER_SHORTCUTS)}"
    if not url.startswith("https://"):
        raise ConfigError(f"{key} {value!r} is not an https:// directory URL", hint=hint)
    try:
        host = urllib.parse.urlsplit(url).hostname
    except ValueError as error:
        raise ConfigError(f"{key} {value!r} is not a valid URL: {error}", hint=hint) from None
    if not host or any(c.isspace() for c in url):
        raise ConfigError(f"{key} {value!r} has no valid host name", hint=hint)
    return url


def _check_email(email: str | None) -> None:
    # RFC 8555 7.3: a mailto: contact; the CA checks it properly, this catches typos.
    if email is not None and not _EMAIL.match(email):
        raise ConfigError(f"email {email!r} is not an e-mail address", hint="e.g. ops@example.org")


def _check_ca_bundle(path: Path | None) -> None:
    if path is None:
        return
    try:
        text = path.read_bytes()
    except OSError as error:
        raise ConfigError(f"cannot read ca_bundle {path}: {error.strerror}") from None
    if b"-----BEGIN CERTIFICATE-----" not in text:
        raise ConfigError(f"ca_bundle {path} holds no PEM certificate")


def _check_eab(settings: Settings) -> None:
    if settings.eab_kid and settings.eab_hmac_key_file is None:
        raise ConfigError(
            "eab_kid is set but eab_hmac_key_file is not",
            hint="both come from your CA's account page",
        )
    if settings.eab_hmac_key_file is not None and not settings.eab_hmac_key_file.is_file():
        raise ConfigError(f"cannot read EAB HMAC key file {settings.eab_hmac_key_file}")


def _check_nat64_prefix(prefix: str | None) -> None:
    if prefix is None:
        return
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


def _did_you_mean(key: str) -> str:
    close = difflib.get_close_matches(key, SETTING_NAMES, n=1)
    return f"did you mean {close[0]!r}?" if close else f"known settings: {', '.join(SETTING_NAMES)}"


def _path(value: Any, base: Path) -> Path:
    if not isinstance(value, str | os.PathLike) or not str(value):
        raise TypeError("expected a path")
    return (base / Path(value).expanduser()).absolute()


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"expected true or false, got {value!r}")


def _positive_float(value: Any) -> float:
    if isinstance(value, bool):
        raise TypeError("expected a number of seconds")
    number = float(value)
    if not number > 0 or not math.isfinite(number):
        raise ValueError("expected a positive number of seconds (and not infinity)")
    return number


def _seconds(value: Any) -> float:
    if isinstance(value, bool):
        raise TypeError("expected a number of seconds")
    number = float(value)
    if not number >= 0 or not math.isfinite(number):
        raise ValueError("expected 0 or more seconds (and not infinity)")
    return number


def _number(key: str, value: Any) -> float | int:
    if key in _COUNTS:
        return _count(value)
    return _seconds(value) if key in _SECONDS else _positive_float(value)


def _count(value: Any) -> int:
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        raise TypeError(f"expected a whole number, got {value!r}")
    try:
        number = int(value if isinstance(value, int | float) else str(value).strip())
    except ValueError:
        raise ValueError(f"expected a whole number, got {value!r}") from None
    if number < 1:
        raise ValueError("expected 1 or more")
    return number


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {type(value).__name__}")
    return value


def _str_tuple(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise TypeError("expected a list of strings")
