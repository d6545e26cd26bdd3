"""A dns-lexicon-like client: ``Client(config)`` used as ``with ... as operations``.

It mirrors what dns-lexicon (>= 3.12) promises: ``create_record`` does nothing
when the same content exists, ``delete_record`` with a content removes only that
record and is fine when it is absent, ``list_records`` returns dicts with
``type``, ``name`` and ``content``. ``auth_token`` in the provider's options is
checked the way a hoster would (a wrong one raises on entering, as lexicon's
``authenticate()`` does).
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager


class AuthenticationError(Exception):
    """What lexicon providers raise when the hoster refuses the credentials."""


class FakeLexicon:
    def __init__(self, provider: str = "fakehoster") -> None:
        self.provider = provider
        self.token = secrets.token_urlsafe(16)
        self.records: set[tuple[str, str]] = set()  # (fqdn without final dot, content)
        # Other types (certv6 aaaa): (fqdn without final dot, type) -> contents.
        self.rrsets: dict[tuple[str, str], set[str]] = {}
        self.configs: list[Mapping[str, object]] = []
        self.lock = threading.Lock()

    def txt(self, owner: str) -> set[str]:
        with self.lock:
            return {content for name, content in self.records if name == owner.rstrip(".")}

    @contextmanager
    def __call__(self, config: Mapping[str, object]) -> Iterator[FakeLexicon.Operations]:
        self.configs.append(config)
        options = config.get(self.provider, {})
        if config.get("provider_name") != self.provider or not isinstance(options, Mapping):
            raise ValueError(f"This provider ({config.get('provider_name')}) is not supported")
        if options.get("auth_token") != self.token:
            raise AuthenticationError(f"401 Unauthorized for token {options.get('auth_token')}")
        yield FakeLexicon.Operations(self, str(config["domain"]))

    class Operations:
        def __init__(self, owner: FakeLexicon, domain: str) -> None:
            self.owner = owner
            self.domain = domain

        def create_record(self, rtype: str, name: str, content: str) -> bool:
            assert name.endswith(self.domain), (rtype, name, self.domain)
            with self.owner.lock:
                if rtype == "TXT":
                    self.owner.records.add((name, content))
                else:
                    self.owner.rrsets.setdefault((name, rtype), set()).add(content)
            return True

        def list_records(
            self, rtype: str | None = None, name: str | None = None, content: str | None = None
        ) -> list[dict[str, object]]:
            assert rtype is not None and rtype != "TXT" and name is not None
            with self.owner.lock:
                found = sorted(self.owner.rrsets.get((name, rtype), set()))
            return [
                {"id": f"{name}/{c}", "type": rtype, "name": name, "ttl": 300, "content": c}
                for c in found
                if content is None or c == content
            ]

        def delete_record(
            self,
            identifier: str | None = None,
            rtype: str | None = None,
            name: str | None = None,
            content: str | None = None,
        ) -> bool:
            assert identifier is None and rtype and content, "certv6 deletes by content"
            with self.owner.lock:
                if rtype == "TXT":
                    self.owner.records.discard((str(name), content))
                else:
                    self.owner.rrsets.get((str(name), rtype), set()).discard(content)
            return True
