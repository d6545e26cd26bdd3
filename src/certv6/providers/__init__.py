"""DNS providers: publish and remove dns-01 TXT values.

The contract every provider keeps (docs/providers.md has the long form):

    present(records)  MUST add every value; MUST NOT touch other TXT values at the
                      same owner; MUST be idempotent; returns without waiting for
                      propagation (the checker does that).
    cleanup(records)  MUST delete exactly these values; absent values are fine;
                      MUST NOT assume present() succeeded.
    hints()           propagation timeout, poll interval, max values per owner.
    preflight()       credentials valid and endpoint reachable over IPv6; changes nothing.
    preflight_for(records)
                      optional: the same, proven for the owners this run will write
                      (values are placeholders); changes nothing. Used instead of
                      preflight() when the names are known (``preflight`` below).
    close()           optional: release what present() started (a server, a session);
                      called once at the end of every run, after cleanup.

Records arrive with their owner already at the end of any ``_acme-challenge``
CNAME chain, so a provider writes exactly where it is told.

Providers are found through the ``certv6.providers`` entry-point group; a
third party registers ``name = "package.module:Class"`` the same way.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from certv6.clock import SYSTEM_CLOCK, Clock
from certv6.dnsquery import Dns
from certv6.errors import ConfigError
from certv6.model import ProviderHints, TxtRecord
from certv6.settings import refuse_unknown

ENTRY_POINT_GROUP = "certv6.providers"
# Built-ins are also listed here so a source checkout without installed metadata works.
BUILTIN = {
    "rfc2136": "certv6.providers.rfc2136:Rfc2136Provider",
    "exec": "certv6.providers.execprog:ExecProvider",
    "acme-dns": "certv6.providers.acmedns:AcmeDnsProvider",
    "standalone": "certv6.providers.standalone:StandaloneProvider",
    "gandi": "certv6.providers.gandi:GandiProvider",
    "lexicon": "certv6.providers.lexicon:LexiconProvider",
}


@runtime_checkable
class Provider(Protocol):
    name: str

    def present(self, records: Sequence[TxtRecord]) -> None: ...

    def cleanup(self, records: Sequence[TxtRecord]) -> None: ...

    def hints(self) -> ProviderHints: ...

    def preflight(self) -> None: ...


@dataclass(frozen=True, slots=True)
class ProviderContext:
    """What a provider gets when it is built: its options and certv6's shared services."""

    name: str
    options: Mapping[str, Any]
    dns: Dns
    state_dir: Path
    clock: Clock = SYSTEM_CLOCK
    allow_insecure_secrets: bool = False
    allow_ipv4: bool = False

    def option(self, key: str, default: Any = None, *, required: bool = False) -> Any:
        if key in self.options:
            return self.options[key]
        if required:
            raise ConfigError(
                f"provider {self.name!r} needs the option {key!r}",
                hint=f"add {key} = ... under [provider.{self.name}]",
            )
        return default

    def check_options(self, known: Sequence[str]) -> None:
        for key in sorted(set(self.options) - set(known)):
            refuse_unknown(key, known, f"[provider.{self.name}]: unknown option {key!r}")


ProviderFactory = Callable[[ProviderContext], Provider]


class ProviderSession:
    """Calls a provider's optional ``close()`` (a server to stop, a session to close)."""

    def __init__(self, provider: Provider) -> None:
        self.provider = provider

    def close(self) -> None:
        close = getattr(self.provider, "close", None)
        if callable(close):
            close()


def preflight(
    provider: Provider, owners: Callable[[], Sequence[TxtRecord]] | None = None
) -> Sequence[TxtRecord]:
    """The provider's preflight, for the owners this run writes when it can check those.

    ``owners`` is called only for a provider with ``preflight_for``: finding them asks
    the DNS, which a provider such as standalone must be answering first. Returns the
    owners checked (empty when the plain ``preflight()`` ran).

    Raises:
        ProviderError: (or ConfigError) what ``preflight``/``preflight_for`` found.
    """
    scoped = getattr(provider, "preflight_for", None)
    records = owners() if owners is not None and callable(scoped) else ()
    if records and callable(scoped):
        scoped(records)
        return records
    provider.preflight()
    return ()


def available() -> dict[str, str]:
    """Provider name -> "module:attribute", built-ins and installed plugins."""
    return dict(_installed())


@functools.cache
def _installed() -> tuple[tuple[str, str], ...]:
    # Reading every installed distribution's entry points costs milliseconds; the
    # set does not change while certv6 runs, and renew builds a provider per lineage.
    found = dict(BUILTIN)
    for entry in metadata.entry_points(group=ENTRY_POINT_GROUP):
        found[entry.name] = entry.value
    return tuple(found.items())


def load_provider(context: ProviderContext) -> Provider:
    """Build the provider named ``context.name``.

    Raises:
        ConfigError: no provider of that name is installed.
    """
    target = available().get(context.name)
    if target is None:
        raise ConfigError(
            f"unknown provider {context.name!r}",
            hint=f"installed providers: {', '.join(sorted(available()))}",
        )
    module_name, _, attribute = target.partition(":")
    factory: ProviderFactory = getattr(importlib.import_module(module_name), attribute)
    return factory(context)
