"""HTTP for the ACME client: certv6's network rules (httpnet) plus the retries acme lacks.

The acme library's ClientNetwork retries badNonce once and drops the
Retry-After header of a 429/503. Pebble rejects 5% of nonces by default, so
two bad nonces in a row are real; and a CA under load says when to come back.
This subclass keeps the last response's headers and retries within a deadline.
"""

from __future__ import annotations

import logging
from email.utils import parsedate_to_datetime
from typing import Any

import requests
from acme import client as acme_client
from acme import messages

from certv6 import httpnet
from certv6.clock import Clock
from certv6.errors import CaUnreachable

log = logging.getLogger(__name__)

ERROR_PREFIX = "urn:ietf:params:acme:error:"
RETRYABLE_ERRORS = {"badNonce", "rateLimited", "serverInternal"}
MAX_RETRY_AFTER = 60.0


class Network(acme_client.ClientNetwork):
    """ClientNetwork with IPv6-only connections, typed errors and bounded retries."""

    def __init__(
        self,
        key: Any,
        *,
        alg: Any,
        ca_bundle: str | None,
        clock: Clock,
        allow_ipv4: bool = False,
        timeout: int = 30,
        retry_budget: float = 60.0,
    ) -> None:
        super().__init__(
            key=key,
            alg=alg,
            # requests takes a CA bundle path here; acme's annotation says bool only.
            verify_ssl=ca_bundle or True,  # type: ignore[arg-type]
            user_agent="certv6/0.1 (+dns-01, IPv6-only)",
            timeout=timeout,
        )
        httpnet.configure(self.session, allow_ipv4=allow_ipv4)
        self.clock = clock
        self.retry_budget = retry_budget
        self.last_headers: dict[str, str] = {}

    def _send_request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        try:
            response = super()._send_request(method, url, *args, **kwargs)
        except requests.exceptions.RequestException as error:
            raise _unreachable(url, error) from error
        self.last_headers = dict(response.headers)
        return response

    def post(self, *args: Any, **kwargs: Any) -> Any:
        deadline = self.clock.monotonic() + self.retry_budget
        attempt = 0
        while True:
            attempt += 1
            try:
                return self._post_once(*args, **kwargs)
            except messages.Error as error:
                delay = self._retry_delay(error, attempt)
                if delay is None or self.clock.monotonic() + delay > deadline:
                    raise
                log.debug("retrying after %s in %.2f s", error.typ, delay)
                self.clock.sleep(delay)

    def _retry_delay(self, error: messages.Error, attempt: int) -> float | None:
        code = (error.typ or "").removeprefix(ERROR_PREFIX)
        if code not in RETRYABLE_ERRORS or attempt >= 8:
            return None
        if code == "badNonce":
            return 0.0  # a fresh nonce came with the error response
        return retry_after_seconds(self.last_headers, self.clock, default=min(2.0**attempt, 30))


def retry_after_seconds(headers: dict[str, str], clock: Clock, default: float) -> float:
    """Seconds to wait per a Retry-After header (RFC 9110 10.2.3), bounded to a minute."""
    value = headers.get("Retry-After") or headers.get("retry-after")
    if value is None:
        return default
    try:
        seconds = float(int(value))
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return default
        seconds = (when - clock.now()).total_seconds()
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def _unreachable(url: str, error: requests.exceptions.RequestException) -> CaUnreachable:
    message, hint = httpnet.explain(url, error, what="the CA")
    return CaUnreachable(message, hint=hint)
