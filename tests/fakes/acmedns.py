"""acme-dns's HTTP API (joohoi/acme-dns), for the acme-dns provider's tests.

POST /register -> 201 {username, password, fulldomain, subdomain, allowfrom};
POST /update with X-Api-User / X-Api-Key and {"subdomain", "txt"} -> 200 {"txt"};
a wrong user, key or subdomain -> 401 {"error": "forbidden"}; a txt that is not
43 characters -> 400 {"error": "bad_txt"}; GET /health -> 200. Like the real
server it keeps the two most recent values per subdomain.

The tests read ``values(subdomain)`` (the HTTP state) rather than DNS: serving
those values over DNS is acme-dns's own job, not the client's.
"""

from __future__ import annotations

import secrets
import threading
import uuid
from collections import deque

from fakes.https import Reply, Request


class AcmeDns:
    def __init__(self, domain: str = "auth.acme-dns.test") -> None:
        self.domain = domain
        self.accounts: dict[str, tuple[str, str]] = {}  # username -> (password, subdomain)
        self.txt: dict[str, deque[str]] = {}
        self.lock = threading.Lock()

    def values(self, subdomain: str) -> set[str]:
        with self.lock:
            return set(self.txt.get(subdomain, ()))

    def __call__(self, request: Request) -> Reply:
        if request.method == "GET" and request.path == "/health":
            return Reply(200, b"")
        if request.method == "POST" and request.path == "/register":
            return self._register(request)
        if request.method == "POST" and request.path == "/update":
            return self._update(request)
        return Reply(404, {"error": "not_found"})

    def _register(self, request: Request) -> Reply:
        username, subdomain = str(uuid.uuid4()), str(uuid.uuid4())
        password = secrets.token_urlsafe(30)[:40]
        allow = (request.json() or {}).get("allowfrom", []) if request.body else []
        with self.lock:
            self.accounts[username] = (password, subdomain)
        return Reply(
            201,
            {
                "username": username,
                "password": password,
                "fulldomain": f"{subdomain}.{self.domain}",
                "subdomain": subdomain,
                "allowfrom": allow,
            },
        )

    def _update(self, request: Request) -> Reply:
        body = request.json() or {}
        with self.lock:
            password, subdomain = self.accounts.get(request.headers.get("x-api-user", ""), ("", ""))
            if (
                not password
                or request.headers.get("x-api-key") != password
                or body.get("subdomain") != subdomain
            ):
                return Reply(401, {"error": "forbidden"})
            txt = body.get("txt", "")
            if len(txt) != 43:
                return Reply(400, {"error": "bad_txt"})
            self.txt.setdefault(subdomain, deque(maxlen=2)).append(txt)
        return Reply(200, {"txt": txt})
