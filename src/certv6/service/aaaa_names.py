"""Which names ``certv6 aaaa`` keeps pointing at this host, and through which provider.

aaaa_names = ["www.example.org"]        # host-wide, with aaaa_provider (or the only one)

[certificate.www]
aaaa = true                              # every name of the certificate but wildcards
# aaaa = ["www.example.org"]             # or just these
# the certificate's own provider writes them, unless aaaa_provider says otherwise
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from certv6.errors import ConfigError
from certv6.model import parse_identifier
from certv6.service.runtime import choose_provider
from certv6.settings import DEFAULT_CONFIG, Settings
from certv6.store import Store


@dataclass(frozen=True, slots=True, order=True)
class FollowedName:
    name: str  # absolute, A-labels, lower case
    provider: str


def followed_names(
    settings: Settings,
    store: Store,
    *,
    names: Sequence[str] = (),
    certificate: str | None = None,
    provider: str | None = None,
) -> tuple[FollowedName, ...]:
    """The names to follow: given on the command line, one certificate's, or all configured.

    Raises:
        ConfigError: a bad name (or a wildcard), an unknown certificate, no provider.
    """
    if names:
        chosen = provider or settings.aaaa_provider or choose_provider(settings, None)
        return _checked((name, chosen) for name in names)
    if certificate is not None:
        if (
            certificate not in settings.certificates
            and not store.lineages.get(certificate).exists()
        ):
            raise ConfigError(
                f"no certificate named {certificate!r}", hint="see 'certv6 list', or use -d NAME"
            )
        return _checked(_certificate_names(settings, store, certificate, provider, explicit=True))
    found: list[tuple[str, str]] = []
    if settings.aaaa_names:
        chosen = provider or settings.aaaa_provider or choose_provider(settings, None)
        found += [(name, chosen) for name in settings.aaaa_names]
    for name in settings.certificates:
        found += _certificate_names(settings, store, name, provider, explicit=False)
    return _checked(found)


def _certificate_names(
    settings: Settings, store: Store, certificate: str, provider: str | None, *, explicit: bool
) -> list[tuple[str, str]]:
    setting = settings.certificates.get(certificate, {}).get("aaaa", False)
    if setting is False:
        if explicit:
            raise ConfigError(
                f"certificate {certificate!r} names no AAAA records to follow",
                hint=f"add aaaa = true under [certificate.{certificate}], or pass -d NAME",
            )
        return []
    lineage = store.lineages.get(certificate)
    config = lineage.config() if lineage.exists() else {}
    if setting is True:
        domains = [d for d in config.get("domains", ()) if not str(d).startswith("*.")]
        if not domains:
            raise ConfigError(
                f"[certificate.{certificate}] aaaa = true, but the certificate is not issued yet",
                hint="issue it first, or list the names: aaaa = ['www.example.org']",
            )
    elif isinstance(setting, list) and all(isinstance(d, str) for d in setting):
        domains = list(setting)
    else:
        raise ConfigError(
            f"[certificate.{certificate}] aaaa must be true or a list of names",
            hint="aaaa = true, or aaaa = ['www.example.org']",
        )
    chosen = (
        provider
        or settings.aaaa_provider
        or (str(config["provider"]) if config.get("provider") else None)
        or choose_provider(settings, None)
    )
    return [(str(domain), chosen) for domain in domains]


def _checked(pairs: Iterable[tuple[str, str]]) -> tuple[FollowedName, ...]:
    found: dict[str, FollowedName] = {}
    for text, provider in pairs:
        identifier = parse_identifier(text)
        if identifier.wildcard:
            raise ConfigError(
                f"{text}: certv6 keeps AAAA records of names, not wildcards",
                hint="list the names themselves (a wildcard AAAA record is yours to manage)",
            )
        name = identifier.name + "."
        earlier = found.get(name)
        if earlier is not None and earlier.provider != provider:
            raise ConfigError(
                f"{identifier.name} is configured with two providers"
                f" ({earlier.provider}, {provider})",
                hint="set aaaa_provider, or list the name only once",
            )
        found[name] = FollowedName(name, provider)
    return tuple(sorted(found.values()))


def aaaa_command(settings: Settings, name: str) -> str:
    """The command that points ``name`` at this host, as a user would type it."""
    config = settings.config_path
    prefix = f"--config {shlex.quote(str(config))} " if config and config != DEFAULT_CONFIG else ""
    return f"certv6 {prefix}aaaa -d {name.rstrip('.')}"


def follows_aaaa(settings: Settings) -> bool:
    """Does the config name AAAA records to keep current (so the timer runs certv6 aaaa)?"""
    return bool(settings.aaaa_names) or any(
        table.get("aaaa", False) is not False for table in settings.certificates.values()
    )
