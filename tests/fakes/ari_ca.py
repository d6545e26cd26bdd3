"""The ACME parts Pebble 2.4 lacks -- renewal info (RFC 9773) and profiles -- in front of Pebble.

A TLS reverse proxy on an IPv6 address. It speaks the real JSON:

- ``GET <directory>``: Pebble's directory plus ``renewalInfo`` (and ``meta.profiles``
  when scripted);
- ``GET /renewal-info/<certID>``: the scripted suggested window, with ``Retry-After``
  and ``explanationURL`` (RFC 9773 4.2, 4.3); 404 for a certificate it has no window for;
- ``POST <newOrder>``: recorded (``replaces``, ``profile``, identifiers) and refused
  with 409 ``alreadyReplaced`` (RFC 9773 5) when scripted, or with 429
  ``rateLimited`` and a Retry-After (RFC 8555 6.6) for scripted identifiers,
  otherwise forwarded;
- scripted faults (``Script.faults``): a request to ``newOrder`` or to a path
  prefix (``/finalize-order/``) answered with a problem document instead, e.g.
  503 ``serverInternal`` or 429 ``rateLimited`` with a Retry-After, as a CA that
  cannot issue now answers (certv6 then falls back to its next CA);
- everything else: forwarded to Pebble unchanged.

Forwarding keeps the ``Host`` header, so Pebble writes URLs that point at the proxy
and checks each JWS ``url`` against the proxy's URL; Pebble does all of the real
work (accounts, nonces, validation over the lab's DNS, issuance) and ignores the
``replaces`` and ``profile`` fields it does not know.

Without an upstream it serves a minimal directory (and any newNonce / newOrder
itself), enough for unit tests on [::1]: the directory, renewal info, profiles
and the 409. Nothing here checks JWS signatures.
"""

from __future__ import annotations

import base64
import datetime as dt
import http.client
import http.server
import json
import secrets
import socket
import ssl
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROBLEM = "urn:ietf:params:acme:error:"
RENEWAL_INFO = "/renewal-info"
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length"}


@dataclass
class Script:
    """What the stand-in answers; tests change it between runs (under ``AriCa.lock``)."""

    windows: dict[str, tuple[dt.datetime, dt.datetime]] = field(default_factory=dict)
    default_window: tuple[dt.datetime, dt.datetime] | None = None
    retry_after: str | None = "21600"
    explanation_url: str | None = None
    renewal_info_status: int = 200  # e.g. 503 to test Retry-After on errors
    already_replaced: set[str] = field(default_factory=set)  # certIDs; "*" for any
    profiles: dict[str, str] | None = None
    faults: dict[str, Fault] = field(default_factory=dict)  # "newOrder" or a path prefix
    rate_limited: dict[str, str] = field(default_factory=dict)  # identifier -> Retry-After


@dataclass(frozen=True)
class Fault:
    """A problem document (RFC 8555 6.7) answered instead of forwarding."""

    status: int
    kind: str  # "serverInternal", "rateLimited", ...
    detail: str
    retry_after: str | None = None


@dataclass
class Seen:
    renewal_info: list[str] = field(default_factory=list)  # certIDs asked for
    orders: list[dict[str, Any]] = field(default_factory=list)  # newOrder payloads
    refused: list[str] = field(default_factory=list)  # replaces values answered 409
    faulted: list[str] = field(default_factory=list)  # "METHOD path" answered with a fault
    limited: list[str] = field(default_factory=list)  # identifiers answered 429
    requests: list[str] = field(default_factory=list)  # "METHOD path" of every request
    in_flight: int = 0  # requests being handled now
    most_in_flight: int = 0  # the most handled at once


class AriCa:
    """``AriCa(...).bind()`` then ``serve_forever()`` on a thread; ``shutdown()`` at the end."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        cert: Path,
        key: Path,
        upstream: tuple[str, int] | None = None,
        upstream_ca: Path | None = None,
    ) -> None:
        self.host, self.port = host, port
        self.script = Script()
        self.seen = Seen()
        self.lock = threading.Lock()
        self._tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._tls.load_cert_chain(cert, key)
        self._upstream = upstream
        self._upstream_tls = ssl.create_default_context(
            cafile=str(upstream_ca) if upstream_ca else None
        )
        self._new_order_path = "/new-order"
        self._server: http.server.ThreadingHTTPServer | None = None

    @property
    def base(self) -> str:
        return f"https://[{self.host}]:{self.port}"

    @property
    def directory_url(self) -> str:
        return f"{self.base}/dir"

    def bind(self) -> None:
        """Create the listening socket -- in the calling thread's network namespace."""
        server = _Server((self.host, self.port), _handler(self))
        server.socket = self._tls.wrap_socket(server.socket, server_side=True)
        self.port = server.server_address[1]
        self._server = server

    def serve_forever(self) -> None:
        assert self._server is not None, "bind() first"
        self._server.serve_forever(poll_interval=0.05)

    def shutdown(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    # --- requests -------------------------------------------------------------------

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Reply:
        with self.lock:
            self.seen.requests.append(f"{method} {path}")
            self.seen.in_flight += 1
            self.seen.most_in_flight = max(self.seen.most_in_flight, self.seen.in_flight)
        try:
            return self._handle(method, path, headers, body)
        finally:
            with self.lock:
                self.seen.in_flight -= 1

    def _handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Reply:
        if method == "GET" and path == "/dir":
            return self._directory(headers)
        if method == "GET" and path.startswith(RENEWAL_INFO + "/"):
            return self._renewal_info(path.removeprefix(RENEWAL_INFO + "/"))
        if method == "POST" and path == self._new_order_path:
            refused = self._new_order(body, headers)  # recorded, faulted or not
            if refused is not None:
                return refused
        fault = self._fault(method, path)
        if fault is not None:
            extra = {"Retry-After": fault.retry_after} if fault.retry_after else {}
            return self._with_nonce(
                _problem(fault.status, fault.kind, fault.detail, extra), headers
            )
        if self._upstream is None:
            return self._standalone(method, path)
        return self._forward(method, path, headers, body)

    def _directory(self, headers: dict[str, str]) -> Reply:
        if self._upstream is None:
            directory: dict[str, Any] = {
                name: f"{self.base}/{name}"
                for name in ("newNonce", "newAccount", "revokeCert", "keyChange")
            }
            directory["newOrder"] = self.base + self._new_order_path
        else:
            directory = json.loads(self._forward("GET", "/dir", headers, b"").body)
            self._new_order_path = "/" + directory["newOrder"].split("/", 3)[3]
        host = headers.get("host", f"[{self.host}]:{self.port}")
        directory["renewalInfo"] = f"https://{host}{RENEWAL_INFO}"
        with self.lock:
            if self.script.profiles is not None:
                directory.setdefault("meta", {})["profiles"] = dict(self.script.profiles)
        return Reply(200, json.dumps(directory).encode(), {"Content-Type": "application/json"})

    def _renewal_info(self, cert_id: str) -> Reply:
        with self.lock:
            self.seen.renewal_info.append(cert_id)
            script = self.script
            window = script.windows.get(cert_id, script.default_window)
            extra = {"Retry-After": script.retry_after} if script.retry_after else {}
            if script.renewal_info_status != 200:
                return _problem(script.renewal_info_status, "serverInternal", "try later", extra)
        if window is None:
            return _problem(404, "malformed", f"no such certificate: {cert_id}", extra)
        body: dict[str, Any] = {
            "suggestedWindow": {"start": _rfc3339(window[0]), "end": _rfc3339(window[1])}
        }
        if script.explanation_url:
            body["explanationURL"] = script.explanation_url
        headers = {"Content-Type": "application/json", **extra}
        return Reply(200, json.dumps(body).encode(), headers)

    def _new_order(self, body: bytes, headers: dict[str, str]) -> Reply | None:
        payload = _jws_payload(body)
        names = [str(i.get("value")) for i in payload.get("identifiers", []) if isinstance(i, dict)]
        with self.lock:
            self.seen.orders.append(payload)
            replaces = payload.get("replaces")
            refuse = replaces and ({"*", replaces} & self.script.already_replaced)
            if refuse:
                self.seen.refused.append(str(replaces))
            limited = [name for name in names if name in self.script.rate_limited]
            if limited and not refuse:
                self.seen.limited.append(limited[0])
                wait = self.script.rate_limited[limited[0]]
        if limited and not refuse:
            detail = f"too many certificates already issued for {limited[0]}"
            reply = _problem(429, "rateLimited", detail, {"Retry-After": wait})
        elif refuse:
            reply = _problem(409, "alreadyReplaced", f"{replaces} was already replaced", {})
        else:
            return None
        return self._with_nonce(reply, headers)

    def _fault(self, method: str, path: str) -> Fault | None:
        with self.lock:
            for where, fault in self.script.faults.items():
                prefix = self._new_order_path if where == "newOrder" else where
                if method == "POST" and path.startswith(prefix):
                    self.seen.faulted.append(f"{method} {path}")
                    return fault
        return None

    def _with_nonce(self, reply: Reply, headers: dict[str, str]) -> Reply:
        """Like a real CA, a fresh nonce with the error (RFC 8555 6.5)."""
        if self._upstream is not None:
            nonce = self._forward("HEAD", "/nonce-plz", headers, b"").headers.get("Replay-Nonce")
            reply.headers["Replay-Nonce"] = nonce or ""
        return reply

    def _forward(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Reply:
        assert self._upstream is not None
        host, port = self._upstream
        connection = http.client.HTTPSConnection(host, port, context=self._upstream_tls, timeout=30)
        try:
            sent = {k: v for k, v in headers.items() if k.lower() not in HOP_BY_HOP}
            connection.request(method, path, body=body or None, headers=sent)
            response = connection.getresponse()
            data = response.read()
            kept = {k: v for k, v in response.getheaders() if k.lower() not in HOP_BY_HOP}
            return Reply(response.status, data, kept)
        finally:
            connection.close()

    def _standalone(self, method: str, path: str) -> Reply:
        if path == "/newNonce":
            return Reply(200 if method == "HEAD" else 204, b"", {"Replay-Nonce": _nonce()})
        if method == "POST" and path == self._new_order_path:
            order = {"status": "pending", "authorizations": [], "finalize": self.base + "/fin"}
            headers = {"Location": self.base + "/order/1", "Replay-Nonce": _nonce()}
            return Reply(201, json.dumps(order).encode(), headers)
        return _problem(404, "malformed", f"the stand-in does not serve {path}", {})


@dataclass
class Reply:
    status: int
    body: bytes
    headers: dict[str, str]


class _Server(http.server.ThreadingHTTPServer):
    address_family = socket.AF_INET6
    daemon_threads = True


def _handler(owner: AriCa) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            reply = owner.handle(self.command, self.path, headers, body)
            self.send_response(reply.status)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(reply.body)

        do_GET = do_HEAD = do_POST = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep test output clean

    return Handler


def _problem(status: int, kind: str, detail: str, headers: dict[str, str]) -> Reply:
    body = json.dumps({"type": PROBLEM + kind, "detail": detail, "status": status}).encode()
    return Reply(status, body, {"Content-Type": "application/problem+json", **headers})


def _jws_payload(body: bytes) -> dict[str, Any]:
    try:
        encoded = json.loads(body)["payload"]
        data = json.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
    except (ValueError, KeyError, TypeError):
        return {}
    return data if isinstance(data, dict) else {}


def _rfc3339(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _nonce() -> str:
    return secrets.token_urlsafe(16)
