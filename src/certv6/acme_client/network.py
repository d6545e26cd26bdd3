"""HTTP for the ACME client: certv6's network rules (httpnet) plus the retries acme lacks.

The acme library's ClientNetwork retries badNonce once, drops the Retry-After
header of a 429/503 and gives up on the first connection error. Pebble rejects
5% of nonces by default, so two bad nonces in a row are real; a CA under load
says when to come back; a CA that restarts mid-order drops connections.

This subclass retries, within one deadline per request (``retry_budget``):
- badNonce at once, with the fresh nonce the error response carried
  (RFC 8555 6.5: servers SHOULD send one with errors too);
- 429 and 5xx after Retry-After (RFC 9110 10.2.3), or an exponential backoff;
  never earlier than asked: a Retry-After past the deadline ends the retries at
  once (``last_headers`` keeps it for the caller, e.g. ARI);
- connection errors and timeouts with backoff, but only once the CA has answered
  in this session: a CA that never answered is a configuration problem (wrong
  URL, no IPv6 route, no proxy), and retrying would only delay the explanation.

Every POST attempt is signed again with a new nonce (``_post_once`` pops one),
never replayed. A POST whose response was lost may have been processed: a
retried newOrder can then leave a duplicate pending order at the CA (harmless,
it expires); a retried finalize can be refused as orderNotReady. After the
deadline a connection problem is raised as CaUnreachable with its explanation.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from email.utils import parsedate_to_datetime
from typing import Any

import requests
from acme import client as acme_client
from acme import errors as acme_errors
from acme import messages

from certv6 import httpnet
from certv6.clock import Clock
from certv6.errors import CaUnreachable

log = logging.getLogger(__name__)

ERROR_PREFIX = "urn:ietf:params:acme:error:"
RETRYABLE_ERRORS = {"badNonce", "rateLimited", "serverInternal"}
MAX_RETRY_AFTER = 60.0
MAX_ATTEMPTS = 8
MAX_BAD_NONCE_ATTEMPTS = 30
MAX_BACKOFF = 30.0


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
        # Our session (environment read once per origin, IPv6 only, no plain HTTP);
        # acme passes verify= and the User-Agent with every request itself.
        self.session.close()
        self.session = httpnet.new_session(
            ca_bundle=ca_bundle, allow_ipv4=allow_ipv4, user_agent=self.user_agent
        )
        self.allow_ipv4 = allow_ipv4
        self.clock = clock
        self.retry_budget = retry_budget
        # Requests of one order may run in parallel threads (authorizations,
        # challenge answers): what "the last response" was is per thread, and
        # the nonce pool is shared under a lock.
        self._local = threading.local()
        self._nonce_lock = threading.Lock()
        self.answered = False  # the CA has sent at least one HTTP response

    @property
    def last_headers(self) -> dict[str, str]:
        return getattr(self._local, "headers", {})

    @last_headers.setter
    def last_headers(self, headers: dict[str, str]) -> None:
        self._local.headers = headers

    @property
    def last_status(self) -> int | None:
        return getattr(self._local, "status", None)

    @last_status.setter
    def last_status(self, status: int | None) -> None:
        self._local.status = status

    def _get_nonce(self, url: str, new_nonce_url: str) -> str:
        # acme's version checks the pool, fetches, then pops: with parallel threads
        # another one can take the fetched nonce in between. Fetch outside the
        # lock (threads fetch concurrently), take under it, a bounded few times.
        for _ in range(MAX_ATTEMPTS):
            with self._nonce_lock:
                if self._nonces:
                    return self._nonces.pop()
            if new_nonce_url is None:
                response = self.head(url)
            else:
                response = self._check_response(self.head(new_nonce_url), content_type=None)
            self._add_nonce(response)
        raise acme_errors.Error("could not get a fresh nonce from the CA")

    def _add_nonce(self, response: requests.Response) -> None:
        with self._nonce_lock:
            super()._add_nonce(response)

    def _send_request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        response = super()._send_request(method, url, *args, **kwargs)
        self.answered = True
        self.last_status = response.status_code
        self.last_headers = dict(response.headers)
        if not response.ok:
            self._keep_nonce(response)
        return response

    def get(self, url: str, *args: Any, **kwargs: Any) -> Any:
        parent = acme_client.ClientNetwork.get
        return self._with_retries(url, lambda: parent(self, url, *args, **kwargs))

    def post(self, url: str, *args: Any, **kwargs: Any) -> Any:
        # A HEAD for a fresh nonce happens inside _post_once, so this loop covers it too.
        return self._with_retries(url, lambda: self._post_once(url, *args, **kwargs))

    def _with_retries(self, url: str, send: Callable[[], Any]) -> Any:
        deadline = self.clock.monotonic() + self.retry_budget
        attempt = 0
        while True:
            attempt += 1
            try:
                return send()
            except requests.exceptions.RequestException as error:
                delay = self._connection_retry(error, attempt)
                if delay is None or self.clock.monotonic() + delay > deadline:
                    raise _unreachable(url, error, attempt, self.allow_ipv4) from error
                reason = httpnet.root_cause(error)
            except (messages.Error, acme_errors.ClientError) as error:
                delay = self._answer_retry(error, attempt)
                if delay is None or self.clock.monotonic() + delay > deadline:
                    raise
                reason = _describe(error, self.last_status)
            log.info("the CA: %s; retrying in %.1f s (attempt %d)", reason, delay, attempt + 1)
            self.clock.sleep(delay)

    def _connection_retry(
        self, error: requests.exceptions.RequestException, attempt: int
    ) -> float | None:
        if not self.answered or attempt >= MAX_ATTEMPTS or not httpnet.is_transient(error):
            return None
        return backoff(attempt)

    def _answer_retry(
        self, error: messages.Error | acme_errors.ClientError, attempt: int
    ) -> float | None:
        status = self.last_status or 0
        code = ""
        if isinstance(error, messages.Error):
            code = (error.typ or "").removeprefix(ERROR_PREFIX)
            if code == "badNonce":
                # Free to retry (no wait), and a CA may reject many valid nonces:
                # Pebble's fault mode rejects half, so 8 tries fail 1 request in 256.
                # The error response's nonce is in the pool already.
                return 0.0 if attempt < MAX_BAD_NONCE_ATTEMPTS else None
        if attempt >= MAX_ATTEMPTS:
            return None
        if code not in RETRYABLE_ERRORS and status != 429 and status < 500:
            return None
        # Never earlier than asked: a Retry-After beyond the deadline ends the retries.
        requested = requested_delay(self.last_headers, self.clock)
        return backoff(attempt) if requested is None else requested

    def _keep_nonce(self, response: requests.Response) -> None:
        # acme only stores the nonce of a successful response; an error's is just as fresh.
        # Without one (or with a malformed one) the next POST simply asks newNonce.
        with contextlib.suppress(acme_errors.Error):
            self._add_nonce(response)


def backoff(attempt: int) -> float:
    """1, 2, 4, ... seconds, at most MAX_BACKOFF."""
    return float(min(2.0 ** (attempt - 1), MAX_BACKOFF))


def retry_after_seconds(headers: dict[str, str], clock: Clock, default: float) -> float:
    """Seconds to wait per a Retry-After header (RFC 9110 10.2.3), bounded to a minute."""
    requested = requested_delay(headers, clock)
    if requested is None:
        return default
    return min(requested, MAX_RETRY_AFTER)


def requested_delay(headers: dict[str, str], clock: Clock) -> float | None:
    """The Retry-After header in seconds (a number or an HTTP date), unbounded; None if absent."""
    value = headers.get("Retry-After") or headers.get("retry-after")
    if value is None:
        return None
    try:
        return float(max(int(value), 0))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max((when - clock.now()).total_seconds(), 0.0)


def _describe(error: messages.Error | acme_errors.ClientError, status: int | None) -> str:
    if isinstance(error, messages.Error):
        return f"{(error.typ or '').removeprefix(ERROR_PREFIX)} (HTTP {status})"
    return f"HTTP {status}"


def _unreachable(
    url: str, error: requests.exceptions.RequestException, attempts: int, allow_ipv4: bool
) -> CaUnreachable:
    message, hint = httpnet.explain(url, error, what="the CA", allow_ipv4=allow_ipv4)
    if attempts > 1:
        message += f" (gave up after {attempts} attempts)"
    return CaUnreachable(message, hint=hint)
