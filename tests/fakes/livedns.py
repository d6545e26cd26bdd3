"""Gandi LiveDNS v5, as its documentation describes it, for the gandi provider's tests.

Base path /v5/livedns; ``Authorization: Bearer <personal access token>``;
record sets per (name, type) at /domains/{fqdn}/records/{name}/{type}: GET gives
``{"rrset_name", "rrset_type", "rrset_ttl", "rrset_values", "rrset_href"}``, PUT
replaces the set (201 ``{"message": "DNS Record Created"}``), DELETE removes it
(204). TXT values are stored as quoted strings: LiveDNS quotes a bare value.
Errors are ``{"code", "message", "object", "cause"}``.
"""

from __future__ import annotations

import re
import threading
import urllib.parse
from collections.abc import Iterable

from fakes.https import Reply, Request

BASE = "/v5/livedns"
_RECORD = re.compile(rf"^{BASE}/domains/([^/]+)/records/([^/]+)/([A-Z]+)$")


def _error(code: int, message: str, cause: str, kind: str) -> Reply:
    return Reply(code, {"code": code, "message": message, "object": kind, "cause": cause})


class LiveDns:
    """The app: ``HttpsServer(LiveDns(...), tls)``; ``records`` is the state a test reads."""

    def __init__(self, token: str, domains: Iterable[str], *, allowed: Iterable[str] | None = None):
        self.token = token
        self.domains = set(domains)
        self.allowed = set(self.domains if allowed is None else allowed)  # the token's scope
        self.records: dict[tuple[str, str, str], tuple[int, list[str]]] = {}
        self.lock = threading.Lock()

    def txt(self, domain: str, name: str) -> set[str]:
        """Values at ``name`` without LiveDNS's quotes."""
        with self.lock:
            _, values = self.records.get((domain, name, "TXT"), (0, []))
        return {value.strip('"') for value in values}

    def __call__(self, request: Request) -> Reply:
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return _error(
                401,
                "The server could not verify that you are authorized",
                "Unauthorized",
                "HTTPUnauthorized",
            )
        path = urllib.parse.urlsplit(request.path).path
        if request.method == "GET" and path == f"{BASE}/domains":
            return Reply(
                200,
                [{"fqdn": d, "domain_href": f"{BASE}/domains/{d}"} for d in sorted(self.allowed)],
            )
        match = _RECORD.match(path)
        if match is None:
            return _error(404, "The resource could not be found.", "Not Found", "HTTPNotFound")
        domain, name, kind = (urllib.parse.unquote(part) for part in match.groups())
        if domain not in self.domains:
            return _error(404, "Domain not found", "Not Found", "domain")
        if domain not in self.allowed:
            return _error(403, "Access was denied to this resource.", "Forbidden", "HTTPForbidden")
        return self._record(request, (domain, name, kind))

    def _record(self, request: Request, key: tuple[str, str, str]) -> Reply:
        with self.lock:
            if request.method == "GET":
                if key not in self.records:
                    return _error(
                        404,
                        f"Can't find the DNS record {key[1]}/{key[2]} in the zone",
                        "Not Found",
                        "dns-record",
                    )
                ttl, values = self.records[key]
                href = f"{BASE}/domains/{key[0]}/records/{key[1]}/{key[2]}"
                return Reply(
                    200,
                    {
                        "rrset_name": key[1],
                        "rrset_type": key[2],
                        "rrset_ttl": ttl,
                        "rrset_values": values,
                        "rrset_href": href,
                    },
                )
            if request.method == "PUT":
                body = request.json()
                if body.get("rrset_ttl", 10800) < 300:
                    return _error(400, "rrset_ttl: must be >= 300", "Bad Request", "HTTPBadRequest")
                values = [_quoted(v) if key[2] == "TXT" else v for v in body["rrset_values"]]
                self.records[key] = (body.get("rrset_ttl", 10800), values)
                return Reply(201, {"message": "DNS Record Created"})
            if request.method == "DELETE":
                self.records.pop(key, None)
                return Reply(204)
        return _error(405, "Method not allowed", "Method Not Allowed", "HTTPMethodNotAllowed")


def _quoted(value: str) -> str:
    return value if value.startswith('"') else f'"{value}"'
