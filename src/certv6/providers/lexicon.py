"""The long tail of DNS hosters through dns-lexicon (optional: ``pip install certv6[lexicon]``).

    [provider.lexicon]
    provider = "cloudflare"                              # a dns-lexicon provider name
    credentials_file = "/etc/certv6/cloudflare.toml"     # its secrets: auth_token = "..." (0600)
    settings = { }                                        # its other options, if any
    # ca_bundle = "/etc/certv6/api-ca.pem"               # extra trust for the API's TLS

dns-lexicon is the only code here that talks to the hoster, so the rules certv6
keeps for its own HTTP (IPv6 only, HTTPS_PROXY) hold as far as lexicon's
``requests`` calls go: name look-ups are limited to IPv6 while lexicon runs,
and proxies come from the environment as usual. lexicon looks the zone up
again itself (``resolve_zone_name``, through dnspython's default resolver); it
asks certv6's resolvers while it runs, so it finds the zone certv6 found. Every
lexicon exception is converted here, with the credentials redacted from its text.

AAAA sets (``certv6 aaaa``) are changed record by record (``list_records``,
``create_record``, ``delete_record``): lexicon has no conditional write, so the
set is listed just before and compared with what certv6 read from the zone's
primary; a difference stops the change.

Tested against the real thing: dns-lexicon's ``powerdns`` provider driving a
PowerDNS Authoritative server's HTTP API behind TLS (tests/servers/powerdns.py),
for dns-01 TXT values and for AAAA sets.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import socket
import threading
import tomllib
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Protocol, TypeVar

import urllib3.util.connection

from certv6.errors import ConcurrentChange, ConfigError, ProviderError
from certv6.model import Owned, ProviderHints, RRsetChange, TxtRecord, canonical_value
from certv6.providers import ProviderContext, RecordSupport
from certv6.providers.common import HINT_OPTIONS, hints_from, redact, ttl
from certv6.settings import read_secret_file

log = logging.getLogger(__name__)
OwnedT = TypeVar("OwnedT", bound=Owned)

OPTIONS = ("provider", "credentials_file", "settings", "ttl", "ca_bundle", *HINT_OPTIONS)
_GLOBALS_LOCK = threading.Lock()  # lexicon runs with process-wide settings changed (below)


class RecordOperations(Protocol):
    """What ``with lexicon.client.Client(config) as operations`` yields (dns-lexicon >= 3.12)."""

    def create_record(self, rtype: str, name: str, content: str) -> bool: ...

    def delete_record(
        self,
        identifier: str | None = None,
        rtype: str | None = None,
        name: str | None = None,
        content: str | None = None,
    ) -> bool: ...

    def list_records(
        self, rtype: str | None = None, name: str | None = None, content: str | None = None
    ) -> list[dict[str, object]]: ...


# Builds a client for one zone from a lexicon config dict; the seam for tests.
ClientFactory = Callable[[Mapping[str, object]], AbstractContextManager[RecordOperations]]


class LexiconProvider:
    name = "lexicon"
    record_support = RecordSupport(types=frozenset({"AAAA"}))

    def __init__(
        self, context: ProviderContext, client_factory: ClientFactory | None = None
    ) -> None:
        context.check_options(OPTIONS)
        self._context = context
        # Hosters behind lexicon differ widely; assume a slow one unless told.
        # Checked now: a bad propagation_timeout must not surface after the order.
        self._hints = hints_from(context, timeout=600.0, poll_interval=5.0)
        self.lexicon_provider = str(context.option("provider", required=True))
        self._credentials = _credentials(context)
        settings = context.option("settings", {})
        if not isinstance(settings, Mapping):
            raise ConfigError("lexicon: settings must be a table of the provider's options")
        self._settings = dict(settings)
        _refuse_plain_http(self._settings)
        self._ca_bundle = _ca_bundle(context)
        self._ttl = ttl(context, 60)
        self._factory = client_factory or _lexicon_client_factory()

    def hints(self) -> ProviderHints:
        return self._hints

    def present(self, records: Sequence[TxtRecord]) -> None:
        self._each("present", records, lambda ops, r: ops.create_record("TXT", _fqdn(r), r.value))

    def cleanup(self, records: Sequence[TxtRecord]) -> None:
        self._each(
            "cleanup",
            records,
            lambda ops, r: ops.delete_record(rtype="TXT", name=_fqdn(r), content=r.value),
        )

    def replace_rrsets(self, changes: Sequence[RRsetChange]) -> None:
        self._each("update", changes, _replace)

    def preflight(self) -> None:
        """Nothing more to check: dns-lexicon was found when the provider was built, and
        lexicon cannot authenticate without a zone, which is known only with the records."""

    def config(self, zone: str) -> dict[str, object]:
        """The lexicon configuration for one zone (credentials included: never log it)."""
        return {
            "provider_name": self.lexicon_provider,
            "domain": zone.rstrip("."),
            # Ask the DNS for the zone (certv6 already found it) instead of tldextract,
            # which would fetch the public suffix list over the network.
            "resolve_zone_name": True,
            "ttl": self._ttl,
            self.lexicon_provider: {**self._settings, **self._credentials},
        }

    def _each(
        self,
        operation: str,
        records: Sequence[OwnedT],
        act: Callable[[RecordOperations, OwnedT], object],
    ) -> None:
        by_zone: dict[str, list[OwnedT]] = defaultdict(list)
        for record in records:
            by_zone[self._context.dns.find_zone(record.owner)].append(record)
        for zone, batch in by_zone.items():
            record = batch[0]
            try:
                with (
                    _lexicon_environment(not self._context.allow_ipv4, self._ca_bundle),
                    self._context.dns.as_library_default(),
                    self._factory(self.config(zone)) as ops,
                ):
                    for record in batch:
                        act(ops, record)
            except ConcurrentChange:
                raise
            except Exception as error:  # lexicon and its providers raise anything at all
                raise self._failed(operation, record, error) from error
            log.info(
                "lexicon %s: %s, %d value(s) in %s",
                operation,
                self.lexicon_provider,
                len(batch),
                zone,
            )

    def _failed(self, operation: str, record: Owned, error: Exception) -> ProviderError:
        text = redact(" ".join(str(error).split())[:300], _secret_values(self._credentials))
        return ProviderError(
            f"lexicon ({self.lexicon_provider}) {operation} of {record}: "
            f"{type(error).__name__}: {text or 'no details'}",
            provider=self.name,
            operation=operation,
            record=str(record),
            hint=f"check credentials_file and the {self.lexicon_provider} account's DNS rights",
        )


def _lexicon_client_factory() -> ClientFactory:
    """dns-lexicon's Client on a ConfigResolver, or a ConfigError that says how to install it.

    The resolver reads the nested dict (``{"powerdns": {"auth_token": ...}}``)
    and then LEXICON_* variables. Not a plain dict: lexicon reads that as its
    2.x "legacy" form, files every unknown key (the provider's own table,
    ``resolve_zone_name``) under the provider's options where nothing finds
    them, and also reads lexicon config files from the working directory.
    """
    try:
        client_module = importlib.import_module("lexicon.client")
        config_module = importlib.import_module("lexicon.config")
    except ImportError as error:
        raise ConfigError(
            "the lexicon provider needs dns-lexicon, which is not installed",
            hint="pip install 'certv6[lexicon]' (or pip install dns-lexicon)",
        ) from error

    def factory(config: Mapping[str, object]) -> AbstractContextManager[RecordOperations]:
        resolver = config_module.ConfigResolver().with_dict(dict(config)).with_env()
        client: AbstractContextManager[RecordOperations] = client_module.Client(resolver)
        return client

    return factory


def _credentials(context: ProviderContext) -> dict[str, object]:
    path_option = context.option("credentials_file")
    if path_option is None:
        return {}  # lexicon also reads LEXICON_<PROVIDER>_<OPTION> from the environment
    path = Path(path_option)
    data = read_secret_file(
        path, allow_insecure=context.allow_insecure_secrets, what="lexicon credentials_file"
    )
    try:
        return dict(tomllib.loads(data.decode(errors="replace")))
    except tomllib.TOMLDecodeError as error:
        # The parser's message may quote the line, and the line may hold the secret.
        raise ConfigError(
            f"lexicon credentials_file {path} is not TOML (line {getattr(error, 'lineno', '?')})",
            hint='write one option per line: auth_token = "..."',
        ) from None


def _secret_values(credentials: Mapping[str, object]) -> list[str]:
    return [str(value) for value in credentials.values() if isinstance(value, str | int)]


def _fqdn(record: Owned) -> str:
    return record.owner.rstrip(".")


def _replace(ops: RecordOperations, change: RRsetChange) -> None:
    """Compare the listed set with what certv6 read, then add before removing."""
    listed = ops.list_records(rtype=change.rdtype, name=_fqdn(change))
    current = frozenset(
        canonical_value(str(entry.get("content", "")), change.rdtype) for entry in listed
    )
    if current != change.current:
        raise ConcurrentChange(
            f"lexicon update of {change}: the hoster has {sorted(current) or 'none'}",
            provider="lexicon",
            operation="update",
            record=str(change),
        )
    for value in sorted(change.add):
        ops.create_record(change.rdtype, _fqdn(change), value)
    for value in sorted(change.remove):
        ops.delete_record(rtype=change.rdtype, name=_fqdn(change), content=value)


@contextlib.contextmanager
def _lexicon_environment(ipv6_only: bool, ca_bundle: str | None) -> Iterator[None]:
    """certv6's HTTP rules for lexicon's own requests sessions, while lexicon runs.

    lexicon builds its sessions itself, so certv6's IPv6 adapter cannot be
    mounted. Instead urllib3 resolves only AAAA (its documented hook for the
    address family it asks getaddrinfo for: an IPv4-only API fails at once,
    not after a connect timeout), and ``ca_bundle`` is what requests trusts
    (REQUESTS_CA_BUNDLE, which every requests session reads).
    """
    with _GLOBALS_LOCK:
        original = urllib3.util.connection.allowed_gai_family
        saved_bundle = os.environ.get("REQUESTS_CA_BUNDLE")
        if ipv6_only:
            urllib3.util.connection.allowed_gai_family = _ipv6_family
        if ca_bundle is not None:
            os.environ["REQUESTS_CA_BUNDLE"] = ca_bundle
        try:
            yield
        finally:
            urllib3.util.connection.allowed_gai_family = original
            if ca_bundle is not None:
                if saved_bundle is None:
                    os.environ.pop("REQUESTS_CA_BUNDLE", None)
                else:
                    os.environ["REQUESTS_CA_BUNDLE"] = saved_bundle


def _refuse_plain_http(settings: Mapping[str, object]) -> None:
    """certv6 talks to provider APIs over HTTPS only; lexicon would follow any URL given."""
    for key, value in settings.items():
        if isinstance(value, str) and value.lower().startswith("http://"):
            raise ConfigError(
                f"lexicon: settings.{key} is a plain http:// URL",
                hint="certv6 talks to DNS provider APIs over HTTPS only: use https://",
            )


def _ca_bundle(context: ProviderContext) -> str | None:
    value = context.option("ca_bundle")
    if value is None:
        return None
    path = Path(value)
    if not path.is_file():
        raise ConfigError(
            f"lexicon: ca_bundle {path} is not a file",
            hint="give the path of a PEM file with the CA certificates to trust",
        )
    return str(path)


def _ipv6_family() -> socket.AddressFamily:
    return socket.AF_INET6
