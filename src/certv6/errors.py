"""Every error certv6 raises on purpose, and the exit code each one maps to.

    CertV6Error                       exit 1 (only when nothing more specific applies)
    ├── ConfigError                   exit 3   bad config file, flag, name, key file
    ├── AcmeError                     exit 4   talking to the CA
    │   ├── AccountError                       account creation / lookup / terms
    │   ├── OrderError                         order refused, finalize failed
    │   ├── AcmeTimeout                        the CA did not finish in time
    │   ├── CaUnreachable                      no IPv6 route, TLS, connection refused
    │   ├── NoCaCouldIssue                     every CA of a server list failed (each named)
    │   └── ValidationFailed          exit 5   the CA looked and did not see the value
    ├── DnsError                      exit 6   looking things up in the DNS
    │   ├── ZoneNotFound
    │   ├── NoReachableNameserver
    │   └── ResolverUnreachable                no configured resolver answered
    ├── PropagationTimeout            exit 7   nameservers still lag at the deadline (has .report)
    ├── ProviderError                 exit 8   publishing or removing TXT values (or AAAA records)
    │   ├── ProviderAuthError
    │   ├── ProviderUnreachable
    │   ├── HookFailed
    │   └── ConcurrentChange                   the RRset changed since certv6 read it
    ├── StoreError                    exit 9   state directory, atomic writes
    │   ├── LockBusy                  exit 11  another certv6 holds the lock
    │   │   └── PeerHoldsLock                  another fleet host does (names it)
    │   ├── FleetUnreachable          exit 17  the shared store (etcd) cannot be reached,
    │   │                                      refuses the TLS handshake or the credentials
    │   └── LeaseLost                 exit 18  this host lost its lease on a lineage's lock
    │                                          and stopped before the next irreversible step
    ├── InstallError                  exit 10  config test, reload or verification failed
    ├── RenewFailed                   exit 12  `certv6 renew`: some certificates failed (others may
    │                                          have renewed; the summary says which)
    ├── CleanupIncomplete             exit 14  interrupted, and some published TXT values could
    │                                          not be removed: they are in the ledger
    ├── NoHostAddress                 exit 15  `certv6 aaaa`: no address of this host fits an AAAA
    │                                          record (none global, all temporary, deprecated, ...)
    ├── RenewPostponed                exit 16  `certv6 renew`: nothing failed, but the CA asked to
    │                                          wait (rate limit) for some due certificates
    └── SyncFailed                    exit 19  `certv6 sync`: some certificates were not
                                               brought here or installed (others were)

An interrupt (Ctrl-C, SIGTERM) whose cleanup worked exits 130 (EXIT_INTERRUPTED).

Third-party exceptions are converted once, in the module that owns the library,
with ``raise ... from`` so ``--debug`` still shows where they came from.
"""

from __future__ import annotations

import datetime
import errno
from typing import ClassVar

EXIT_INTERRUPTED = 130


class CertV6Error(Exception):
    """Root of every error certv6 raises on purpose.

    ``hint`` is one line telling the user what to do about it.
    """

    exit_code: ClassVar[int] = 1
    default_hint: ClassVar[str] = ""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint if hint is not None else self.default_hint

    def __str__(self) -> str:
        return self.message


class ConfigError(CertV6Error):
    exit_code = 3
    default_hint = "check the configuration file, environment and flags"


class AcmeError(CertV6Error):
    """``code`` is the RFC 8555 error type without its URN prefix, when the CA sent one;
    ``status`` the HTTP status of the CA's error response (0: none, or not an answer);
    ``retry_after`` how long the CA asked to wait (its Retry-After), when it did."""

    exit_code = 4

    def __init__(
        self,
        message: str,
        *,
        code: str = "",
        status: int = 0,
        hint: str | None = None,
        retry_after: datetime.timedelta | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.code = code
        self.status = status
        self.retry_after = retry_after


class AccountError(AcmeError):
    pass


class OrderError(AcmeError):
    pass


class AcmeTimeout(AcmeError):
    default_hint = "the CA is slow or stuck; run again later (the order is resumed or replaced)"


class CaUnreachable(AcmeError):
    default_hint = "check that the CA has an IPv6 address, or set HTTPS_PROXY"


class NoCaCouldIssue(AcmeError):
    """Every CA of ``server = [...]`` failed with its own trouble (service/fallback.py);
    ``errors`` holds each CA's, in the order of the list."""

    def __init__(
        self,
        message: str,
        *,
        errors: tuple[CertV6Error, ...] = (),
        code: str = "",
        hint: str | None = None,
    ) -> None:
        super().__init__(message, code=code, hint=hint)
        self.errors = errors


class ValidationFailed(AcmeError):
    exit_code = 5

    def __init__(self, message: str, *, identifier: str = "", hint: str | None = None) -> None:
        super().__init__(message, code="incorrectResponse", hint=hint)
        self.identifier = identifier


class DnsError(CertV6Error):
    exit_code = 6

    def __init__(
        self, message: str, *, qname: str = "", nameserver: str = "", hint: str | None = None
    ) -> None:
        super().__init__(message, hint=hint)
        self.qname = qname
        self.nameserver = nameserver


class ZoneNotFound(DnsError):
    default_hint = "check that the name exists in the public DNS and your resolver answers"


class NoReachableNameserver(DnsError):
    default_hint = "none of the zone's nameservers has an IPv6 address this host can reach"


class ResolverUnreachable(DnsError):
    """The recursive resolvers certv6 uses did not answer at all."""

    default_hint = (
        "check resolvers = [...] in the config (default: the IPv6 nameserver lines of "
        "/etc/resolv.conf) and that they answer this host over IPv6"
    )


class PropagationTimeout(CertV6Error):
    """Some authoritative nameserver still did not serve every value at the deadline.

    ``report`` is the propagation report (certv6.propagation.Report) of the last round.
    """

    exit_code = 7
    default_hint = "the lagging nameservers are listed above; raise propagation_timeout if slow"

    def __init__(self, message: str, *, report: object = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.report = report


class ProviderError(CertV6Error):
    exit_code = 8

    def __init__(
        self,
        message: str,
        *,
        provider: str = "",
        operation: str = "",
        record: str = "",
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.provider = provider
        self.operation = operation
        self.record = record


class ProviderAuthError(ProviderError):
    default_hint = "check the provider's credentials and what they are allowed to change"


class ProviderUnreachable(ProviderError):
    default_hint = "check that the provider's endpoint has an IPv6 address, or set HTTPS_PROXY"


class HookFailed(ProviderError):
    pass


class ConcurrentChange(ProviderError):
    """An RRset was not what certv6 read just before: nothing was written (RFC 2136 2.4)."""

    default_hint = "someone else changed these records a moment ago; run again to see the new state"


class StoreError(CertV6Error):
    exit_code = 9
    default_hint = "check that the state directory exists, is writable and has free space"


class LockBusy(StoreError):
    exit_code = 11
    default_hint = "another certv6 run is working on this; wait for it to finish"


class PeerHoldsLock(LockBusy):
    """Another fleet host holds a lineage's lock; ``holder`` names it (host, pid, since)."""

    default_hint = "that host is renewing it; 'certv6 sync' brings its result here"

    def __init__(self, message: str, *, holder: str = "", hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.holder = holder


class FleetUnreachable(StoreError):
    """The shared store (etcd, docs/fleet.md) did not answer, or refused this host.

    ``endpoint`` is the last endpoint tried, when one was.
    """

    exit_code = 17
    default_hint = "check [store.etcd] endpoints and that this host reaches them over IPv6"

    def __init__(self, message: str, *, endpoint: str = "", hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.endpoint = endpoint


class LeaseLost(StoreError):
    """This host's lease on a lineage's fleet lock expired (partition, etcd failover).

    Raised before finalize and before commit: nothing irreversible happened after it.
    """

    exit_code = 18
    default_hint = (
        "another host may now hold the lock and renew; the next run (or 'certv6 sync') "
        "picks up whatever the fleet stored"
    )


class InstallError(CertV6Error):
    exit_code = 10

    def __init__(self, message: str, *, step: str = "", hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.step = step


class CleanupIncomplete(CertV6Error):
    """Interrupted (SIGINT/SIGTERM), and removing the published TXT values failed too."""

    exit_code = 14
    default_hint = "run 'certv6 cleanup --stale' once the DNS provider answers again"


class SyncFailed(CertV6Error):
    """``certv6 sync``: some lineages were not brought here or installed (``failed``)."""

    exit_code = 19
    default_hint = "the reasons are above; the other certificates are in place"

    def __init__(
        self, message: str, *, failed: tuple[str, ...] = (), hint: str | None = None
    ) -> None:
        super().__init__(message, hint=hint)
        self.failed = failed


class RenewFailed(CertV6Error):
    """Some certificates of a ``certv6 renew`` run failed; ``failed`` names them."""

    exit_code = 12
    default_hint = "the reasons are above; the other certificates were renewed or not yet due"

    def __init__(
        self, message: str, *, failed: tuple[str, ...] = (), hint: str | None = None
    ) -> None:
        super().__init__(message, hint=hint)
        self.failed = failed


class NoHostAddress(CertV6Error):
    """No IPv6 address of this host may be published in an AAAA record (certv6 aaaa)."""

    exit_code = 15  # 13: doctor found a failing check; 14: CleanupIncomplete (#13+#23)
    default_hint = "give the host a stable global IPv6 address"


class RenewPostponed(CertV6Error):
    """Nothing failed, but some due certificates were postponed: the CA asked to wait."""

    exit_code = 16  # 15 is NoHostAddress (`certv6 aaaa`, issue #21)
    default_hint = (
        "the CA rate-limited them; the first certv6 renew after the time shown renews them"
    )

    def __init__(
        self, message: str, *, postponed: tuple[str, ...] = (), hint: str | None = None
    ) -> None:
        super().__init__(message, hint=hint)
        self.postponed = postponed


# Why a socket could not send, in words. Linux turns each kind of route into its own
# errno: "blackhole" gives EINVAL, "prohibit" EACCES, "unreachable" EHOSTUNREACH, and a
# missing route ENETUNREACH. Shown raw, EINVAL reads "Invalid argument", which points
# at certv6 instead of the network.
_SOCKET_ERRORS = {
    errno.ECONNREFUSED: "connection refused (nothing listens on that port)",
    errno.ENETUNREACH: "no route to this address (network unreachable)",
    errno.EHOSTUNREACH: "no route to this address (host unreachable)",
    errno.EINVAL: "no route to this address (a blackhole route drops it)",
    errno.EACCES: "a route or firewall rule of this host prohibits sending there",
    errno.EPERM: "a firewall rule of this host prohibits sending there",
    errno.EADDRNOTAVAIL: "this host has no source address that can reach it",
    errno.ENETDOWN: "the network interface is down",
    errno.ECONNRESET: "the connection was reset",
}


def describe_socket_error(error: OSError) -> str:
    """One phrase for a failed connect/send: what the network did, never a bare errno text."""
    known = _SOCKET_ERRORS.get(error.errno or 0)
    if known is not None:
        return known
    return error.strerror or str(error) or type(error).__name__
