"""What a ``[[certificate.NAME.install]]`` table asks for, checked once into frozen values.

    [[certificate.www.install]]
    target = "nginx"                  # nginx | apache | haproxy | postfix | dovecot | files
    verify = "[2001:db8::10]:443"     # or a list; SNI is the certificate's first name
    owner = "root"
    group = "www-data"

Every option and its default is listed in docs/install.md.
"""

from __future__ import annotations

import grp
import pwd
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from certv6.errors import ConfigError
from certv6.install.targets import LINKABLE, TARGETS, Command
from certv6.model import Endpoint, parse_endpoint
from certv6.settings import refuse_unknown

DEFAULT_ROOT = Path("/etc/ssl/certv6")
COMMAND_TIMEOUT = 60.0
VERIFY_TIMEOUT = 15.0
KEEP_VERSIONS = 3
STARTTLS = ("smtp", "imap")
# Every option of an install table: (name, default, meaning); docs/settings.md shows them.
OPTIONS = (
    ("target", "(required)", "nginx, apache, haproxy, postfix, dovecot or files"),
    ("directory", "`/etc/ssl/certv6/<name>/<target>`",
     "where the versions, `live` and the snippet live; one per table"),
    ("owner", "the user running certv6", "owner of the installed files (name or numeric id)"),
    ("group", "the user's group", "group of the installed files; a group makes the key 0640"),
    ("key_mode", "`0o640` with a group, else `0o600`",
     "mode of `privkey.pem` and `combined.pem`; nothing more open than 0640"),
    ("cert_mode", "`0o644`", "mode of the certificate files"),
    ("snippet", "`<directory>/<target>.conf`", "the include file (nginx, apache, dovecot)"),
    ("config_test", "the target's", "argv list, a string for `/bin/sh -c`, or `false` to skip"),
    ("reload", "`systemctl reload UNIT`, else the target's", "same forms as `config_test`"),
    ("service", "the target's unit", "systemd unit to reload"),
    ("verify", "none", '`"[IPv6]:port"` or `"name:port"` (AAAA only), or a list of them'),
    ("verify_sni", "the first name", "SNI sent when verifying (`*.x` becomes `certv6-verify.x`)"),
    ("verify_timeout", "15", "seconds to wait until the new leaf is served"),
    ("starttls", "by port: 25, 587 `smtp`; 143 `imap`", "speak STARTTLS before the handshake"),
    ("timeout", "60", "seconds for the config test and for the reload"),
    ("keep", "3", "versions kept in `directory/versions` (at least 2)"),
    *((name, "none", f"files target only: your path for {name}") for name in LINKABLE),
)  # fmt: skip
_KEYS = {name for name, _, _ in OPTIONS}


@dataclass(frozen=True, slots=True)
class InstallSpec:
    """One install table, validated; ``None`` commands mean "use the target's default"."""

    certificate: str
    target: str
    directory: Path
    uid: int = -1
    gid: int = -1
    key_mode: int = 0o600
    cert_mode: int = 0o644
    snippet: Path | None = None
    links: Mapping[str, Path] | None = None
    config_test: Command | None = None
    reload: Command | None = None
    service: str | None = None
    verify: tuple[Endpoint, ...] = ()
    verify_sni: str | None = None
    verify_timeout: float = VERIFY_TIMEOUT
    starttls: str | None = None
    timeout: float = COMMAND_TIMEOUT
    keep: int = KEEP_VERSIONS
    disabled: frozenset[str] = frozenset()  # "config_test" / "reload" set to false


def parse_install_tables(certificate: str, raw: Any, base: Path) -> tuple[InstallSpec, ...]:
    """The install tables of one certificate (``[[...install]]`` or a single table).

    Relative paths are relative to ``base`` (the config file's directory).

    Raises:
        ConfigError: unknown target or option, wrong type, unknown user or group.
    """
    tables = [raw] if isinstance(raw, Mapping) else raw
    if not isinstance(tables, list) or not all(isinstance(t, Mapping) for t in tables):
        raise ConfigError(f"certificate {certificate!r}: 'install' must be a list of tables")
    specs = tuple(_parse(certificate, table, base, index) for index, table in enumerate(tables))
    _check_distinct_directories(certificate, specs)
    return specs


def _parse(certificate: str, table: Mapping[str, Any], base: Path, index: int) -> InstallSpec:
    where = f"[[certificate.{certificate}.install]] #{index + 1}"
    for key in sorted(set(table) - _KEYS):
        refuse_unknown(key, sorted(_KEYS), f"{where}: unknown option {key!r}")
    try:
        return _build(certificate, table, base)
    except (TypeError, ValueError) as error:
        raise ConfigError(f"{where}: {error}", hint="see docs/install.md for the options") from None


def _build(certificate: str, table: Mapping[str, Any], base: Path) -> InstallSpec:
    target = _string(table, "target")
    if target not in TARGETS:
        raise ValueError(f"unknown target {target!r} (choose one of {', '.join(TARGETS)})")
    directory = _path(table.get("directory"), base) or DEFAULT_ROOT / certificate / target
    group = table.get("group")
    links = _links(table, base) if target == "files" else None
    if target == "files" and not links:
        raise ValueError(f"the files target needs at least one of {', '.join(LINKABLE)}")
    disabled = frozenset(k for k in ("config_test", "reload") if table.get(k) is False)
    if "snippet" in table and TARGETS[target].snippet is None:
        raise ValueError(f"{target} has no include file; see certv6 install --print-snippet")
    verify = table.get("verify", [])
    verify = [verify] if isinstance(verify, str) else verify
    if not isinstance(verify, list) or not all(isinstance(v, str) for v in verify):
        raise TypeError("'verify' must be \"[IPv6]:port\" or a list of them")
    return InstallSpec(
        certificate=certificate,
        target=target,
        directory=directory,
        uid=_uid(table.get("owner")),
        gid=_gid(group),
        key_mode=_mode(table.get("key_mode", 0o640 if group is not None else 0o600), key=True),
        cert_mode=_mode(table.get("cert_mode", 0o644), key=False),
        snippet=_path(table.get("snippet"), base),
        links=links,
        config_test=_command(table.get("config_test"), "config_test"),
        reload=_command(table.get("reload"), "reload"),
        service=_optional_string(table, "service"),
        verify=tuple(parse_verify_endpoint(v) for v in verify),
        verify_sni=_optional_string(table, "verify_sni"),
        verify_timeout=_seconds(table.get("verify_timeout", VERIFY_TIMEOUT), "verify_timeout"),
        starttls=_starttls(table.get("starttls")),
        timeout=_seconds(table.get("timeout", COMMAND_TIMEOUT), "timeout"),
        keep=_keep(table.get("keep", KEEP_VERSIONS)),
        disabled=disabled,
    )


def _check_distinct_directories(certificate: str, specs: tuple[InstallSpec, ...]) -> None:
    # Two targets sharing one directory would roll back each other's files.
    seen: set[Path] = set()
    for spec in specs:
        if spec.directory in seen:
            raise ConfigError(
                f"certificate {certificate!r}: two install tables use {spec.directory}",
                hint="give each install table its own directory = ...",
            )
        seen.add(spec.directory)


def _links(table: Mapping[str, Any], base: Path) -> dict[str, Path]:
    return {key: path for key in LINKABLE if (path := _path(table.get(key), base)) is not None}


def _string(table: Mapping[str, Any], key: str) -> str:
    value = table.get(key)
    if not isinstance(value, str) or not value:
        raise TypeError(f"{key!r} must be a non-empty string")
    return value


def _optional_string(table: Mapping[str, Any], key: str) -> str | None:
    return _string(table, key) if key in table else None


def _path(value: Any, base: Path) -> Path | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise TypeError("paths must be non-empty strings")
    return (base / Path(value).expanduser()).absolute()


def _command(value: Any, key: str) -> Command | None:
    if value is None or value is False:
        return None
    if isinstance(value, str) and value.strip():
        return value  # a string runs through /bin/sh -c, like certbot's hooks
    if isinstance(value, list) and value and all(isinstance(v, str) and v for v in value):
        return tuple(value)
    raise TypeError(f"{key!r} must be a list of strings (argv), a shell string, or false")


def _uid(value: Any) -> int:
    if value is None:
        return -1
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise TypeError("'owner' must be a user name or a numeric id")
    try:
        return value if isinstance(value, int) else pwd.getpwnam(str(value)).pw_uid
    except KeyError:
        raise ValueError(f"unknown user {value!r}") from None


def _gid(value: Any) -> int:
    if value is None:
        return -1
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise TypeError("'group' must be a group name or a numeric id")
    try:
        return value if isinstance(value, int) else grp.getgrnam(str(value)).gr_gid
    except KeyError:
        raise ValueError(f"unknown group {value!r}") from None


def _mode(value: Any, *, key: bool) -> int:
    mode = int(value, 8) if isinstance(value, str) else value
    if not isinstance(mode, int) or isinstance(mode, bool) or not 0 <= mode <= 0o777:
        raise TypeError("modes are octal numbers such as 0o640 or strings such as '0640'")
    if key and mode & 0o137:
        # A private key readable by others, or writable/executable by the group, is a mistake.
        raise ValueError(f"key_mode {mode:04o} is too open; use 0600, 0640, 0400 or 0440")
    return mode


def _seconds(value: Any, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise TypeError(f"{key!r} must be a positive number of seconds")
    return float(value)


def _starttls(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str) and value in STARTTLS:
        return value
    raise ValueError(f"starttls must be one of {', '.join(STARTTLS)}")


def _keep(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 2:
        raise TypeError("'keep' must be a whole number >= 2 (the current and the previous version)")
    return value


def parse_verify_endpoint(text: str) -> Endpoint:
    """``[2001:db8::10]:443`` or ``www.example.org:443``; IPv4 literals are refused.

    Raises:
        ValueError: not one of those forms (parse_install_tables adds the table's name).
    """
    try:
        endpoint = parse_endpoint(text, None)
    except ConfigError as error:
        raise ValueError(f"verify must be [IPv6]:port or name:port: {error.message}") from None
    if endpoint.ip_version == 4:
        raise ValueError(f"{text!r} is an IPv4 address; certv6 verifies over IPv6 only")
    return endpoint
