"""The CAs certv6 orders from: ``server`` (one, or a list tried in order) and ``[ca.NAME]``.

    server = ["letsencrypt", "zerossl"]   # every order: the first CA, then the next

    [ca.zerossl]                          # options of one CA (docs/accounts.md)
    eab_kid = "kid-from-the-account-page"
    eab_hmac_key_file = "/etc/certv6/zerossl.hmac"
    account_key_type = "ec384"
    # url = "https://..."                 # needed when NAME is not a shortcut
    # issuer_domain_name = "..."          # its dns-persist-01 name, if its challenges omit it

An entry of ``server`` is a shortcut, the name of a ``[ca.NAME]`` table, or an
https:// directory URL; a table whose ``url`` is that URL gives it its options.
The top-level ``eab_kid``, ``eab_hmac_key_file``, ``caa_identities`` and
``issuer_domain_name`` belong to one CA, so they apply only when ``server``
names one; ``account_key_type`` is every CA's default. (A standing
dns-persist-01 record names one CA's issuer domain name: with a list, each CA
is checked with its own, issue #15.)

Settings are checked here without reading any file: the HMAC key is read (and
its permissions and encoding checked) where the account needs it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from certv6.errors import ConfigError
from certv6.values import SERVER_SHORTCUTS, directory_url

# What a [ca.NAME] table may set; every key but ``url`` is also a top-level setting.
TABLE_KEYS = (
    "url",
    "eab_kid",
    "eab_hmac_key_file",
    "account_key_type",
    "caa_identities",
    "issuer_domain_name",
)
SINGLE_CA_KEYS = ("eab_kid", "eab_hmac_key_file", "caa_identities", "issuer_domain_name")


@dataclass(frozen=True, slots=True)
class CaSettings:
    """One CA: its directory URL, and what its account and CAA check need."""

    name: str  # as the user wrote it: a shortcut, a [ca.NAME] name, or the URL
    url: str
    account_key_type: str = "ec256"
    eab_kid: str | None = None
    eab_hmac_key_file: Path | None = None
    caa_identities: tuple[str, ...] = ()
    issuer_domain_name: str | None = None  # dns-persist-01, when its challenges name none


def resolve(
    entries: Sequence[str],
    tables: Mapping[str, Mapping[str, Any]],
    defaults: Mapping[str, Any],
    *,
    origin: str,
) -> tuple[CaSettings, ...]:
    """The CAs ``server`` names, in order, each with its options.

    ``tables`` are the ``[ca.NAME]`` tables (values already converted), ``defaults``
    the top-level values of TABLE_KEYS (None when unset).

    Raises:
        ConfigError: an unknown name, a bad URL, a CA listed twice, or a
            single-CA setting (EAB, CAA names) at the top level beside a list.
    """
    if not entries:
        raise ConfigError(f"{origin}: server lists no CA", hint=_server_hint(tables))
    single = [key for key in SINGLE_CA_KEYS if defaults.get(key)]
    if len(entries) > 1 and single:
        raise ConfigError(
            f"{', '.join(single)} belongs to one CA, but server lists {len(entries)}",
            hint=f"move it into the [ca.NAME] table of the CA that needs it: {_doc}",
        )
    found = [_one(entry, tables, defaults) for entry in entries]
    urls = [ca.url for ca in found]
    twice = sorted({url for url in urls if urls.count(url) > 1})
    if twice:
        raise ConfigError(f"server lists the CA {twice[0]} twice", hint="name each CA once")
    return tuple(found)


def _one(
    entry: str, tables: Mapping[str, Mapping[str, Any]], defaults: Mapping[str, Any]
) -> CaSettings:
    table = tables.get(entry)
    if table is not None:
        url = table.get("url") or SERVER_SHORTCUTS.get(entry)
        if url is None:
            raise ConfigError(
                f"[ca.{entry}] has no url, and {entry!r} is not a shortcut",
                hint='add url = "https://..." (the CA\'s ACME directory) to the table',
            )
        url = directory_url(str(url), key=f"[ca.{entry}] url")
    else:
        url = directory_url(entry, key="server", names=list(tables))
        table = next((t for t in tables.values() if _table_url(t) == url), {})
    options = {key: table.get(key) for key in TABLE_KEYS}
    # With one CA (resolve() checked), a top-level value from the file, the
    # environment or a flag wins over its table; EAB's two values go together.
    if defaults.get("eab_kid") or defaults.get("eab_hmac_key_file"):
        options["eab_kid"] = defaults.get("eab_kid")
        options["eab_hmac_key_file"] = defaults.get("eab_hmac_key_file")
    for key in ("caa_identities", "issuer_domain_name"):
        if defaults.get(key):
            options[key] = defaults[key]
    ca = CaSettings(
        name=entry,
        url=url,
        account_key_type=str(
            options["account_key_type"] or defaults.get("account_key_type") or "ec256"
        ),
        eab_kid=options["eab_kid"],
        eab_hmac_key_file=options["eab_hmac_key_file"],
        caa_identities=tuple(options["caa_identities"] or ()),
        issuer_domain_name=options["issuer_domain_name"],
    )
    _check_eab(ca)
    return ca


def _table_url(table: Mapping[str, Any]) -> str | None:
    url = table.get("url")
    return SERVER_SHORTCUTS.get(str(url), str(url)) if url else None


def _check_eab(ca: CaSettings) -> None:
    where = "" if ca.name == ca.url else f" for {ca.name}"
    if ca.eab_kid and ca.eab_hmac_key_file is None:
        raise ConfigError(
            f"eab_kid is set{where} but eab_hmac_key_file is not",
            hint="both come from your CA's account page (docs/accounts.md)",
        )
    if ca.eab_hmac_key_file is not None and not ca.eab_kid:
        raise ConfigError(
            f"eab_hmac_key_file is set{where} but eab_kid is not",
            hint="both come from your CA's account page (docs/accounts.md)",
        )


def _server_hint(tables: Mapping[str, Any]) -> str:
    names = [*SERVER_SHORTCUTS, *(name for name in tables if name not in SERVER_SHORTCUTS)]
    return f"use an https:// directory URL or one of: {', '.join(names)}"


_doc = "docs/accounts.md"
