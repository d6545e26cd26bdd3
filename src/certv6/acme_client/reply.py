"""What the CA answered: a response (``Reply``), or an error response (``Problem``, RFC 7807).

Plain values, independent of ``requests``: the session reads JSON, Location,
Link and Retry-After from them, and every error response (an RFC 8555 6.7
problem document or not) is one exception type carrying status and headers.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from requests.structures import CaseInsensitiveDict
from requests.utils import parse_header_links

ERROR_PREFIX = "urn:ietf:params:acme:error:"


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    headers: Mapping[str, str] = field(default_factory=dict)  # case-insensitive
    body: bytes = b""
    url: str = ""

    @classmethod
    def of(cls, status: int, headers: Mapping[str, str], body: bytes, url: str) -> Reply:
        return cls(status, CaseInsensitiveDict(headers), body, url)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The body as JSON. Raises ValueError for anything else."""
        return json.loads(self.body)

    @property
    def location(self) -> str | None:
        return self.headers.get("Location")

    def links(self, relation: str) -> list[str]:
        """Every Link URL with ``rel=relation`` (RFC 8288); RFC 8555 allows several."""
        header = self.headers.get("Link")
        if not header:
            return []
        found = parse_header_links(header)
        return [link["url"] for link in found if link.get("rel") == relation and "url" in link]


class Problem(Exception):
    """An error response from the CA; ``document`` is its problem document, if it sent one."""

    def __init__(self, reply: Reply) -> None:
        self.reply = reply
        self.document = _problem_document(reply)
        super().__init__(self.describe())

    @property
    def status(self) -> int:
        return self.reply.status

    @property
    def headers(self) -> Mapping[str, str]:
        return self.reply.headers

    @property
    def type(self) -> str:
        """The full type URN ("" without a document); compare this, never a short name."""
        return str(self.document.get("type") or "")

    @property
    def code(self) -> str:
        """The ACME error name ("badNonce") for ACME types, else the type as sent."""
        return self.type.removeprefix(ERROR_PREFIX)

    @property
    def detail(self) -> str:
        return str(self.document.get("detail") or "")

    @property
    def instance(self) -> str:
        return str(self.document.get("instance") or "")

    @property
    def subproblems(self) -> list[Mapping[str, Any]]:
        found = self.document.get("subproblems")
        return [p for p in found if isinstance(p, Mapping)] if isinstance(found, list) else []

    def describe(self) -> str:
        if not self.document:
            return f"HTTP {self.status}"
        return f"{self.code or 'error'} (HTTP {self.status}): {self.detail or 'no detail'}"


def _problem_document(reply: Reply) -> dict[str, Any]:
    # RFC 8555 6.7 says application/problem+json; some CAs send application/json:
    # any JSON object is read as the problem document.
    try:
        document = reply.json()
    except ValueError:
        return {}
    return document if isinstance(document, dict) else {}
