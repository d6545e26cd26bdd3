"""etcd v3 over its JSON gateway (``/v3/``), on certv6's HTTP rules (httpnet).

Why not a client library: the gRPC ones pull grpcio (a large compiled
dependency) and ``etcd3gw`` makes its own requests session, so it would not
bind an IPv6 source, would not refuse plain HTTP and would not explain a TLS
or connection failure the way every other certv6 connection does. What a fleet
needs (range, put, delete, one transaction, leases, a watch, password auth) is
a dozen small JSON requests; they are all here.

Rules: endpoints are ``https://[v6]:2379``; TLS is always verified (``ca_file``),
optionally with a client certificate; plain http:// is refused like anywhere
else. A connection failure moves on to the next endpoint; "no leader" and
"leader changed" (an election in progress) are retried for ``retry_for``
seconds. Keys and values are bytes here; the gateway's base64 stays inside.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import urllib.parse
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import requests

from certv6 import httpnet
from certv6.clock import SYSTEM_CLOCK, Clock
from certv6.errors import ConfigError, FleetUnreachable

log = logging.getLogger("certv6")

# etcd's gRPC codes in the gateway's error body that an election explains (Unavailable)
# and the messages that mean "the same request will work in a moment".
_ELECTION = ("no leader", "leader changed", "timed out", "too many requests", "not capable")
_UNAVAILABLE = 14
_UNAUTHENTICATED = 16
_BAD_TOKEN = ("invalid auth token", "user name is empty")


@dataclass(frozen=True, slots=True)
class KeyValue:
    key: bytes
    value: bytes
    create_revision: int
    mod_revision: int
    lease: int


@dataclass(frozen=True, slots=True)
class Range:
    kvs: tuple[KeyValue, ...]
    revision: int  # the store's revision when it was read


@dataclass(frozen=True, slots=True)
class Txn:
    succeeded: bool
    revision: int
    ranges: tuple[Range, ...]  # the range results of the branch that ran, in order


COMPACTED = "COMPACTED"


@dataclass(frozen=True, slots=True)
class Event:
    kind: str  # "PUT", "DELETE", or COMPACTED: events were lost, read everything again
    kv: KeyValue


def check_endpoint(url: str, *, allow_ipv4: bool) -> str:
    """``https://[v6]:port`` (or a name); refuse plain HTTP and, unless allowed, IPv4 literals.

    Raises:
        ConfigError: what is wrong with the endpoint, and the fix.
    """
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "https":
        raise ConfigError(
            f"etcd endpoint {url!r} is not https://",
            hint="serve etcd's clients over TLS (--cert-file/--key-file/--client-cert-auth, "
            "docs/fleet.md) and write https://[addr]:2379; certv6 never sends keys over plain HTTP",
        )
    host = parts.hostname or ""
    if not host:
        raise ConfigError(f"etcd endpoint {url!r} names no host", hint="https://[addr]:2379")
    if not allow_ipv4 and _is_ipv4_literal(host):
        raise ConfigError(
            f"etcd endpoint {url!r} is an IPv4 address",
            hint="give etcd's IPv6 address ([2001:db8::1]:2379), or set allow_ipv4 = true",
        )
    return url.rstrip("/")


def _is_ipv4_literal(host: str) -> bool:
    pieces = host.split(".")
    return len(pieces) == 4 and all(p.isdigit() for p in pieces)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def prefix_end(prefix: bytes) -> bytes:
    """The first key after every key that starts with ``prefix`` (etcd's range_end)."""
    data = bytearray(prefix)
    while data and data[-1] == 0xFF:
        data.pop()
    if not data:
        return b"\0"
    data[-1] += 1
    return bytes(data)


# --- transaction parts (etcd's Compare and RequestOp, in the gateway's JSON) -------------


def modified_at(key: bytes, revision: int) -> dict[str, Any]:
    """Compare: ``key`` was last changed at ``revision`` (0: the key does not exist)."""
    if revision == 0:
        return {"key": b64(key), "target": "CREATE", "result": "EQUAL", "create_revision": "0"}
    return {"key": b64(key), "target": "MOD", "result": "EQUAL", "mod_revision": str(revision)}


def held_with(key: bytes, lease: int) -> dict[str, Any]:
    """Compare: ``key`` exists attached to ``lease`` (a lock still ours)."""
    return {"key": b64(key), "target": "LEASE", "result": "EQUAL", "lease": str(lease)}


def put_op(key: bytes, value: bytes, lease: int = 0) -> dict[str, Any]:
    body: dict[str, Any] = {"key": b64(key), "value": b64(value)}
    if lease:
        body["lease"] = str(lease)
    return {"request_put": body}


def range_op(key: bytes) -> dict[str, Any]:
    return {"request_range": {"key": b64(key)}}


def delete_op(key: bytes, *, prefix: bool = False) -> dict[str, Any]:
    body = {"key": b64(key)}
    if prefix:
        body["range_end"] = b64(prefix_end(key))
    return {"request_delete_range": body}


class EtcdClient:
    """One fleet's etcd cluster: its endpoints, TLS material and credentials."""

    def __init__(
        self,
        endpoints: Sequence[str],
        *,
        ca_file: str | None,
        cert: tuple[str, str] | None = None,
        credentials: tuple[str, str] | None = None,
        allow_ipv4: bool = False,
        timeout: float = 5.0,
        retry_for: float = 15.0,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.endpoints = [check_endpoint(url, allow_ipv4=allow_ipv4) for url in endpoints]
        if not self.endpoints:
            raise ConfigError("[store.etcd] endpoints is empty", hint="list etcd's client URLs")
        self._session = httpnet.new_session(ca_bundle=ca_file, allow_ipv4=allow_ipv4)
        if cert is not None:
            self._session.cert = cert
        self._credentials = credentials
        self._token: str | None = None
        self._allow_ipv4 = allow_ipv4
        self.timeout = timeout
        self.retry_for = retry_for
        self._clock = clock
        self._preferred = 0
        self._lock = threading.Lock()
        self.requests = 0  # how many requests this client sent (bench/fleet.py counts them)

    # --- key-value ----------------------------------------------------------------------

    def get(self, key: bytes) -> KeyValue | None:
        found = self.range(key)
        return found.kvs[0] if found.kvs else None

    def range(
        self, key: bytes, *, prefix: bool = False, keys_only: bool = False, revision: int = 0
    ) -> Range:
        body: dict[str, Any] = {"key": b64(key)}
        if prefix:
            body["range_end"] = b64(prefix_end(key))
        if keys_only:
            body["keys_only"] = True
        if revision:
            body["revision"] = str(revision)
        return _range(self.call("kv/range", body))

    def put(self, key: bytes, value: bytes, *, lease: int = 0) -> int:
        """Returns the store's revision after the put."""
        body = put_op(key, value, lease)["request_put"]
        return _revision(self.call("kv/put", body))

    def delete(self, key: bytes, *, prefix: bool = False) -> int:
        """Returns how many keys went."""
        answer = self.call("kv/deleterange", delete_op(key, prefix=prefix)["request_delete_range"])
        return int(answer.get("deleted", 0))

    def txn(
        self,
        compare: Sequence[Mapping[str, Any]],
        success: Sequence[Mapping[str, Any]],
        failure: Sequence[Mapping[str, Any]] = (),
    ) -> Txn:
        """One etcd transaction: ``success`` runs if every ``compare`` holds, else ``failure``."""
        body = {"compare": list(compare), "success": list(success), "failure": list(failure)}
        answer = self.call("kv/txn", body)
        ranges = tuple(
            _range(item["response_range"])
            for item in answer.get("responses", [])
            if "response_range" in item
        )
        return Txn(bool(answer.get("succeeded", False)), _revision(answer), ranges)

    # --- leases -------------------------------------------------------------------------

    def grant(self, ttl: int) -> int:
        return int(self.call("lease/grant", {"TTL": str(ttl)})["ID"])

    def keepalive(self, lease: int) -> int:
        """Refresh ``lease``; its TTL now (0 or less: it expired, and is gone)."""
        answer = self.call("lease/keepalive", {"ID": str(lease)})
        return int(answer.get("result", {}).get("TTL", 0))

    def time_to_live(self, lease: int) -> int:
        """Seconds left on ``lease``; -1 when it no longer exists (expired or revoked).

        The gateway leaves a 0 out (proto3 JSON), so a missing TTL is 0: about to expire.
        """
        return int(self.call("kv/lease/timetolive", {"ID": str(lease)}).get("TTL", 0))

    def revoke(self, lease: int) -> None:
        self.call("kv/lease/revoke", {"ID": str(lease)}, missing_ok=True)

    def status(self) -> dict[str, Any]:
        return dict(self.call("maintenance/status", {}))

    # --- watch --------------------------------------------------------------------------

    def watch(
        self, prefix: bytes, *, start_revision: int, stop: threading.Event, idle: float = 30.0
    ) -> Iterator[Event]:
        """Events under ``prefix`` from ``start_revision`` on, until ``stop`` is set.

        The gateway streams one JSON object per line. A stream that ends (member
        restarted) is opened again from the next revision, on any endpoint.
        """
        revision = start_revision
        while not stop.is_set():
            body = {
                "create_request": {
                    "key": b64(prefix),
                    "range_end": b64(prefix_end(prefix)),
                    "start_revision": str(revision),
                }
            }
            try:
                for event, seen in self._watch_stream(body, idle):
                    revision = max(revision, seen + 1)
                    if event is not None:
                        yield event
                    if stop.is_set():
                        return
            except FleetUnreachable as error:
                log.warning("etcd watch: %s; watching again", error)
                self._clock.sleep(1.0)

    def _watch_stream(
        self, body: Mapping[str, Any], idle: float
    ) -> Iterator[tuple[Event | None, int]]:
        url = self.endpoints[self._preferred] + "/v3/watch"
        self.requests += 1
        try:
            response = self._session.post(
                url, json=body, headers=self._headers(), stream=True, timeout=(self.timeout, idle)
            )
            for line in response.iter_lines():
                if not line:
                    continue
                result = json.loads(line).get("result", {})
                revision = int(result.get("header", {}).get("revision", 0))
                compacted = int(result.get("compact_revision", 0))
                if result.get("canceled") and compacted:
                    # Fell behind a compaction: the caller reads everything again.
                    yield Event(COMPACTED, KeyValue(b"", b"", 0, compacted - 1, 0)), compacted - 1
                    return
                events = result.get("events", [])
                if not events:
                    yield None, max(0, revision - 1)
                for item in events:
                    kv = _kv(item.get("kv", {}))
                    yield Event(item.get("type", "PUT"), kv), kv.mod_revision
        except requests.exceptions.ReadTimeout:
            return  # idle: open it again (also notices a member that went away)
        except (requests.exceptions.RequestException, ValueError) as error:
            self._preferred = (self._preferred + 1) % len(self.endpoints)
            raise FleetUnreachable(f"watch at {url} broke: {error}", endpoint=url) from error

    # --- one request --------------------------------------------------------------------

    def call(self, path: str, body: Mapping[str, Any], *, missing_ok: bool = False) -> Any:
        """POST ``body`` to ``/v3/<path>`` on a working endpoint; the decoded answer.

        Raises:
            FleetUnreachable: no endpoint answered within ``retry_for`` s, TLS failed,
                the credentials were refused, or etcd refused the request.
        """
        deadline = self._clock.monotonic() + self.retry_for
        attempt = 0
        while True:
            attempt += 1
            problem = self._try_each(path, body, missing_ok=missing_ok)
            if isinstance(problem, dict):
                return problem
            error, transient = problem
            if not transient or self._clock.monotonic() >= deadline:
                raise error
            log.debug("etcd: %s; trying again", error)
            self._clock.sleep(min(httpnet.backoff(attempt, first=0.2, limit=2.0), 2.0))

    def _try_each(
        self, path: str, body: Mapping[str, Any], *, missing_ok: bool
    ) -> dict[str, Any] | tuple[FleetUnreachable, bool]:
        last: tuple[FleetUnreachable, bool] = (FleetUnreachable("no etcd endpoint"), False)
        count = len(self.endpoints)
        for step in range(count):
            index = (self._preferred + step) % count
            outcome = self._post(self.endpoints[index], path, body, missing_ok=missing_ok)
            if isinstance(outcome, dict):
                self._preferred = index
                return outcome
            last = outcome
            if not outcome[1]:
                return outcome  # TLS, credentials, a refused request: no other endpoint helps
        return last

    def _post(
        self, endpoint: str, path: str, body: Mapping[str, Any], *, missing_ok: bool
    ) -> dict[str, Any] | tuple[FleetUnreachable, bool]:
        url = f"{endpoint}/v3/{path}"
        try:
            self.requests += 1
            response = self._session.post(
                url, json=body, headers=self._headers(), timeout=self.timeout
            )
        except requests.exceptions.RequestException as error:
            message, hint = httpnet.explain(url, error, "etcd", allow_ipv4=self._allow_ipv4)
            if isinstance(error, requests.exceptions.SSLError):
                hint = "ca_file in [store.etcd] must hold the CA that signed etcd's certificate"
            return FleetUnreachable(message, endpoint=url, hint=hint), httpnet.is_transient(error)
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if response.ok and isinstance(answer, dict):
            return answer
        return self._refused(url, response.status_code, answer, missing_ok=missing_ok)

    def _refused(
        self, url: str, status: int, answer: Any, *, missing_ok: bool
    ) -> dict[str, Any] | tuple[FleetUnreachable, bool]:
        detail = str(answer.get("error") or answer.get("message")) if answer else f"HTTP {status}"
        code = int(answer.get("code", 0)) if isinstance(answer, dict) else 0
        if missing_ok and "not found" in detail:
            return {}
        expired = code == _UNAUTHENTICATED or any(text in detail for text in _BAD_TOKEN)
        if expired and self._credentials is not None and self._token is not None:
            # etcd's simple tokens last 5 minutes: log in again and repeat the request.
            self._token = None
            return FleetUnreachable(f"etcd at {url}: {detail}", endpoint=url), True
        if "authentication failed" in detail or "permission denied" in detail:
            return (
                FleetUnreachable(
                    f"etcd at {url} refused: {detail}",
                    endpoint=url,
                    hint="check username and password_file in [store.etcd], and the role's "
                    "permissions on the prefix (docs/fleet.md, RBAC)",
                ),
                False,
            )
        transient = code == _UNAVAILABLE or status >= 500 or any(t in detail for t in _ELECTION)
        return FleetUnreachable(f"etcd at {url}: {detail}", endpoint=url), transient

    def _headers(self) -> dict[str, str]:
        if self._credentials is None:
            return {}
        with self._lock:
            if self._token is None:
                self._token = self._authenticate()
            return {"Authorization": self._token}

    def _authenticate(self) -> str:
        name, password = self._credentials or ("", "")
        saved, self._credentials = self._credentials, None  # the login itself carries no token
        try:
            answer = self.call("auth/authenticate", {"name": name, "password": password})
        finally:
            self._credentials = saved
        token = answer.get("token")
        if not isinstance(token, str) or not token:
            raise FleetUnreachable(
                "etcd accepted the login but sent no token",
                hint="enable authentication in etcd ('etcdctl auth enable'), or drop username",
            )
        return token

    def close(self) -> None:
        self._session.close()


def _range(answer: Mapping[str, Any]) -> Range:
    kvs = tuple(_kv(item) for item in answer.get("kvs", []))
    return Range(kvs, _revision(answer))


def _kv(item: Mapping[str, Any]) -> KeyValue:
    return KeyValue(
        base64.b64decode(item.get("key", "")),
        base64.b64decode(item.get("value", "")),
        int(item.get("create_revision", 0)),
        int(item.get("mod_revision", 0)),
        int(item.get("lease", 0)),
    )


def _revision(answer: Mapping[str, Any]) -> int:
    return int(answer.get("header", {}).get("revision", 0))
