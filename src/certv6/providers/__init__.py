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
    keeps_records     optional, default True: False for a provider whose values do not
                      stay (standalone serves them only while certv6 runs, acme-dns
                      keeps the last two): it cannot publish a standing dns-persist-01
                      record (``certv6 persist --publish``).

Record types beyond dns-01 TXT (``certv6 aaaa``, issue #21) are optional:

    record_support    a RecordSupport: the types replace_rrsets() writes, whether
                      they exist only while certv6 runs, and (for the error a user
                      sees) why other types cannot be written. Without it a
                      provider writes dns-01 TXT values only; ``require_record_type``
                      says so before anything is written.
    replace_rrsets(changes)
                      for each RRsetChange: MUST delete exactly ``remove`` and add
                      ``add`` at ``owner``, leaving every other value of that type;
                      MUST apply it only while the RRset is still ``current`` when
                      the API can make that condition (RFC 2136 prerequisites), and
                      otherwise SHOULD compare just before writing; a mismatch raises
                      ConcurrentChange and changes nothing. One message per zone
                      where the API allows; returns without waiting for propagation.

Records arrive with their owner already at the end of any ``_acme-challenge``
CNAME chain, so a provider writes exactly where it is told. Owners may be one
label deeper (dns-account-01's ``_<label>._acme-challenge.<name>``) and values
longer than 255 octets (a dns-persist-01 record: one TXT record of several
character-strings, RFC 1035 3.3.14).

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
from certv6.errors import ConfigError, ProviderError
from certv6.model import ProviderHints, RRsetChange, TxtRecord
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
class RecordSupport:
    """What a provider writes besides dns-01 TXT values (its ``record_support``)."""

    types: frozenset[str] = frozenset()  # record types replace_rrsets() handles
    while_running: bool = False  # the records are served only while certv6 runs (standalone)
    note: str = ""  # why other types cannot be written, in the user's words


@runtime_checkable
class RecordWriter(Protocol):
    """A provider that can replace RRsets of other types (see the module doc)."""

    name: str
    record_support: RecordSupport

    def replace_rrsets(self, changes: Sequence[RRsetChange]) -> None: ...


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

    def __init__(self, provider: Provider | None) -> None:
        self.provider = provider  # None: a run that publishes nothing (dns-persist-01)

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


def record_support(provider: Provider) -> RecordSupport:
    """The provider's ``record_support``; TXT-only providers have none."""
    found = getattr(provider, "record_support", None)
    return found if isinstance(found, RecordSupport) else RecordSupport()


def require_record_type(provider: Provider, rdtype: str, *, long_running: bool) -> RecordWriter:
    """The provider as a RecordWriter for ``rdtype``, checked before anything is written.

    ``long_running``: certv6 stays up (``--watch``), so records that exist only
    while certv6 runs are acceptable.

    Raises:
        ProviderError: the provider cannot write ``rdtype`` records (or not lastingly).
    """
    support = record_support(provider)
    why = support.note or "it publishes dns-01 TXT values only"
    if rdtype not in support.types or not isinstance(provider, RecordWriter):
        raise ProviderError(
            f"provider {provider.name!r} cannot write {rdtype} records: {why}",
            provider=provider.name,
            operation="check",
            hint="use a provider that can (rfc2136, gandi, lexicon, exec with record_types)"
            " for these names: aaaa_provider = NAME",
        )
    if support.while_running and not long_running:
        raise ProviderError(
            f"provider {provider.name!r} serves {rdtype} records only while certv6 runs",
            provider=provider.name,
            operation="check",
            hint="run 'certv6 aaaa --watch' as a service to keep serving them",
        )
    return provider


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
