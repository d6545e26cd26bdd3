"""Open the configured store backend: ``[store] backend = "file" | "etcd"`` (docs/fleet.md).

The etcd client (requests) and the sealing (cryptography) are imported only for an etcd
store: with the file store, ``certv6 issue`` sends its first request before it imports
them (issue #19).
"""

from __future__ import annotations

import math
import socket
from typing import TYPE_CHECKING

from certv6.clock import Clock
from certv6.errors import ConfigError
from certv6.settings import EtcdSettings, Settings, read_secret_file
from certv6.store import Store
from certv6.store.filebackend import FileBackend
from certv6.store.shared import Backend

if TYPE_CHECKING:
    from certv6 import etcdnet


def host_name(settings: Settings) -> str:
    return settings.store.host or socket.gethostname()


def open_backend(settings: Settings, clock: Clock, *, backend: str | None = None) -> Backend:
    """The store named by ``backend`` (default: ``[store] backend``), ready to use.

    Raises:
        ConfigError: incomplete ``[store.etcd]``, unreadable secret files.
        FleetUnreachable: no endpoint answered, TLS or the credentials were refused.
        StoreError: the prefix holds keys certv6 did not write.
    """
    kind = backend or settings.store.backend
    if kind == "file":
        return FileBackend(Store(settings.state_dir), host=host_name(settings), clock=clock)
    from certv6.store.etcd import EtcdBackend  # noqa: PLC0415 (see the module docstring)
    from certv6.store.sealing import Sealer  # noqa: PLC0415

    etcd = settings.store.etcd
    client = etcd_client(settings, clock)
    sealer = Sealer.from_file(
        etcd.fleet_key_file, encrypt=etcd.encrypt_keys, allow_insecure=settings.insecure_secrets
    )
    opened = EtcdBackend(
        client,
        etcd.prefix,
        sealer,
        host=host_name(settings),
        lease_ttl=max(2, math.ceil(etcd.lease_ttl)),
        clock=clock,
    )
    opened.claim_prefix()
    return opened


def etcd_client(settings: Settings, clock: Clock) -> etcdnet.EtcdClient:
    from certv6 import etcdnet  # noqa: PLC0415 (see the module docstring)

    etcd = settings.store.etcd
    if not etcd.endpoints:
        raise ConfigError(
            '[store] backend = "etcd" needs [store.etcd] endpoints',
            hint='endpoints = ["https://[2001:db8::1]:2379", ...] (docs/fleet.md)',
        )
    _check_prefix(etcd.prefix)
    return etcdnet.EtcdClient(
        etcd.endpoints,
        ca_file=str(etcd.ca_file) if etcd.ca_file else None,
        cert=_client_certificate(etcd, settings.insecure_secrets),
        credentials=_credentials(etcd, settings.insecure_secrets),
        allow_ipv4=settings.allow_ipv4,
        timeout=etcd.timeout,
        clock=clock,
    )


def _check_prefix(prefix: str) -> None:
    if not prefix.startswith("/") or not prefix.endswith("/") or prefix == "/":
        raise ConfigError(
            f"[store.etcd] prefix {prefix!r} must start and end with '/' and not be '/' alone",
            hint='prefix = "/certv6/" (one prefix per fleet, used by nothing else)',
        )


def _client_certificate(etcd: EtcdSettings, insecure: bool) -> tuple[str, str] | None:
    if etcd.cert_file is None and etcd.key_file is None:
        return None
    if etcd.cert_file is None or etcd.key_file is None:
        raise ConfigError("[store.etcd] cert_file and key_file go together")
    read_secret_file(etcd.key_file, allow_insecure=insecure, what="etcd client key")
    if not etcd.cert_file.is_file():
        raise ConfigError(f"cannot read etcd client certificate {etcd.cert_file}")
    return str(etcd.cert_file), str(etcd.key_file)


def _credentials(etcd: EtcdSettings, insecure: bool) -> tuple[str, str] | None:
    if etcd.username is None:
        if etcd.password_file is not None:
            raise ConfigError("[store.etcd] password_file is set but username is not")
        return None
    if etcd.password_file is None:
        raise ConfigError(
            "[store.etcd] username is set but password_file is not",
            hint="put the etcd user's password in a file of its own, mode 0600",
        )
    password = read_secret_file(etcd.password_file, allow_insecure=insecure, what="etcd password")
    return etcd.username, password.decode().strip()
