"""A dns-lexicon-like client: ``Client(config)`` used as ``with ... as operations``.

It mirrors what dns-lexicon (>= 3.12) promises: ``create_record`` does nothing
when the same content exists, ``delete_record`` with a content removes only that
record and is fine when it is absent. ``auth_token`` in the provider's options
is checked the way a hoster would (a wrong one raises on entering, as lexicon's
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
            assert rtype == "TXT" and name.endswith(self.domain), (rtype, name, self.domain)
            with self.owner.lock:
                self.owner.records.add((name, content))
            return True

        def delete_record(
            self,
            identifier: str | None = None,
            rtype: str | None = None,
            name: str | None = None,
            content: str | None = None,
        ) -> bool:
            assert identifier is None and rtype == "TXT" and content, "certv6 deletes by content"
            with self.owner.lock:
                self.owner.records.discard((str(name), content))
            return True
