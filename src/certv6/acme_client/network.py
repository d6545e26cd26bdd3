"""HTTP to the CA: signed POSTs with a shared nonce pool, and the retries unattended runs need.

certv6 owns this layer instead of using acme's ClientNetwork, whose useful parts
are private (nonce handling, response checks) and whose behaviour does not fit:
it retries badNonce once, drops the Retry-After of a 429/503, gives up on the
first dropped connection and turns every 409 into a bare ConflictError. acme's
public ``messages`` and ``challenges`` classes are still what goes over the wire.

Every request runs within one deadline (``retry_budget``):
- badNonce is retried at once with the fresh nonce of the error response;
- 429 and 5xx after Retry-After, or an exponential backoff; a Retry-After past
  the deadline ends the retries at once (the Problem keeps the headers);
- connection errors and timeouts with backoff, but only once the CA has answered
  in this session: a CA that never answered is a configuration problem (wrong
  URL, no IPv6 route, no proxy), and retrying would only delay the explanation.

Every POST attempt is signed again with a new nonce, never replayed. A POST
whose response was lost may have been processed: a retried newOrder can leave
a duplicate pending order at the CA (harmless, it expires).

Threads: requests of one order run in parallel (authorizations, challenge
answers), and ``certv6 renew`` shares one session per CA between the
lineages it renews side by side (issue #19). So the etiquette holds per CA,
whatever the number of threads: at most IN_FLIGHT requests at once, and a
Retry-After the CA sent with a 429 or 503 holds back every request of the
session, not only the one that got it. The nonce pool and that "not before"
are shared under locks; nothing else is mutable.

To add a request: ``post(url, payload)`` signs with the account (``kid``);
``embed_key=True`` puts the public key in the JWS instead (newAccount);
``key=`` signs with another key; a payload may be an acme message, a JSON
object (a keyChange's inner JWS from ``jws.sign``, ``{"status": "deactivated"}``)
or None for POST-as-GET.
"""

from __future__ import annotations

import collections
import contextlib
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import requests
from josepy.interfaces import JSONDeSerializable
from josepy.jwk import JWK

from certv6 import __version__, httpnet
from certv6.acme_client import jws
from certv6.acme_client.reply import Problem, Reply
from certv6.acme_client.retry import MAX_ATTEMPTS, backoff, problem_delay, requested_delay
from certv6.clock import Clock
from certv6.errors import AcmeError, CaUnreachable

log = logging.getLogger(__name__)

Payload = JSONDeSerializable | Mapping[str, Any] | None
IN_FLIGHT = 8  # requests to one CA at once, from every thread of the session
JOSE_JSON = "application/jose+json"
_NONCE = re.compile(r"^[A-Za-z0-9_-]+$")  # base64url (RFC 8555 6.5.1)


class NoncePool:
    """Replay-Nonce values not used yet; each is taken once, by one thread."""

    def __init__(self) -> None:
        self._nonces: list[str] = []
        self._lock = threading.Lock()

    def add_from(self, reply: Reply) -> None:
        # Every response may carry one, errors too (RFC 8555 6.5); a malformed one is
        # dropped and the next POST simply asks newNonce.
        nonce = reply.headers.get("Replay-Nonce", "")
        if _NONCE.match(nonce):
            with self._lock:
                self._nonces.append(nonce)

    def take(self) -> str | None:
        with self._lock:
            return self._nonces.pop() if self._nonces else None


class NotBefore:
    """A moment before which no request goes to the CA (its Retry-After, for everyone)."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._until = 0.0
        self._lock = threading.Lock()

    def hold(self, seconds: float) -> None:
        with self._lock:
            self._until = max(self._until, self._clock.monotonic() + seconds)

    def wait(self) -> None:
        left = self._until - self._clock.monotonic()
        if left > 0:
            log.info("the CA asked to wait: %.1f s before the next request", left)
            self._clock.sleep(left)


class Pace:
    """How many requests in flight hide the CA's latency (Little's law).

    Each request a thread sends alone is timed twice: from send to answer (wall)
    and the CPU this process spent on it (signing, TLS, HTTP). While the CPU work
    of one request is not done, a second one cannot start any sooner: Python runs
    one thread at a time. So ``wall / CPU`` requests in flight keep the CPU busy
    and hide the round trip; more only add threads taking turns, which costs CPU
    (issue #19: a CA on the same host answers in a millisecond, and 100
    authorizations on 8 threads took 40% more CPU than one after the other). A CA
    across the Internet answers in tens of milliseconds: all IN_FLIGHT are used.
    Until a few requests were timed, the most is assumed.
    """

    SAMPLES = 9

    def __init__(self) -> None:
        self._ratios: collections.deque[float] = collections.deque(maxlen=self.SAMPLES)
        self._lock = threading.Lock()

    def note(self, wall: float, cpu: float) -> None:
        if wall > 0 and cpu > 0:
            with self._lock:
                self._ratios.append(wall / cpu)

    def in_flight(self, most: int, *, recent: int = SAMPLES) -> int:
        """The requests in flight worth having for a batch, at most ``most``, judged
        by the ``recent`` requests timed last."""
        with self._lock:
            ratios = sorted(list(self._ratios)[-recent:])
        if len(ratios) < min(3, recent):
            return most
        # Rounded down: a second thread that must wait for the first costs CPU, saves nothing.
        return max(1, min(most, int(ratios[len(ratios) // 2])))


class Network:
    """One account key talking to one CA over certv6's network rules (httpnet)."""

    def __init__(
        self,
        key: JWK,
        *,
        ca_bundle: str | None,
        clock: Clock,
        allow_ipv4: bool = False,
        timeout: float = 30.0,
        retry_budget: float = 60.0,
    ) -> None:
        jws.algorithm_for(key)  # a key that cannot sign fails here, not at the first POST
        self.key = key
        self.clock = clock
        self.allow_ipv4 = allow_ipv4
        self.timeout = timeout
        self.retry_budget = retry_budget
        self.account_url: str | None = None  # the JWS "kid" once the account is known
        self.new_nonce_url: str | None = None  # from the directory
        self.answered = False  # the CA has sent at least one HTTP response
        self.nonces = NoncePool()
        self.not_before = NotBefore(clock)
        self._in_flight = threading.BoundedSemaphore(IN_FLIGHT)
        self.pace = Pace()
        self._sending = 0  # requests being sent now, from every thread
        self._started = 0  # requests started so far
        self._sending_lock = threading.Lock()
        self._session = httpnet.new_session(
            ca_bundle=ca_bundle,
            allow_ipv4=allow_ipv4,
            user_agent=f"certv6/{__version__} (+dns-01, IPv6-only)",
        )

    def close(self) -> None:
        self._session.close()

    def get(self, url: str, *, retries: bool = True) -> Reply:
        """An unauthenticated GET (directory, renewalInfo). Raises Problem or CaUnreachable."""
        send = lambda: self._send("GET", url)  # noqa: E731
        return self._with_retries(url, send) if retries else self._once(url, send)

    def post(
        self, url: str, payload: Payload, *, key: JWK | None = None, embed_key: bool = False
    ) -> Reply:
        """A signed POST (RFC 8555 6.2). Raises Problem, CaUnreachable or AcmeError."""
        body = _payload_bytes(payload)
        return self._with_retries(url, lambda: self._post_once(url, body, key, embed_key))

    def post_as_get(self, url: str) -> Reply:
        """A POST-as-GET (RFC 8555 6.3): the empty payload, signed with the account."""
        return self.post(url, None)

    def _post_once(self, url: str, body: bytes, key: JWK | None, embed_key: bool) -> Reply:
        kid = None if embed_key else self.account_url
        if kid is None and not embed_key:
            raise AcmeError(f"cannot sign a request to {url}: no account yet")
        signed = jws.sign(body, key=key or self.key, url=url, nonce=self._nonce(), kid=kid)
        data = json.dumps(signed).encode()
        return self._send("POST", url, data=data, headers={"Content-Type": JOSE_JSON})

    def _nonce(self) -> str:
        # Fetch outside the lock (threads may fetch at once), take under it; another
        # thread may take the nonce just fetched, so a bounded few rounds.
        for _ in range(MAX_ATTEMPTS):
            nonce = self.nonces.take()
            if nonce is not None:
                return nonce
            if self.new_nonce_url is None:
                raise AcmeError("the CA's directory has no newNonce URL")
            reply = self._send("HEAD", self.new_nonce_url)
            if "Replay-Nonce" not in reply.headers:
                raise AcmeError(f"the CA sent no Replay-Nonce from {self.new_nonce_url}")
        raise AcmeError("could not get a fresh nonce from the CA")

    def _send(
        self,
        method: str,
        url: str,
        *,
        data: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        self.not_before.wait()
        with self._in_flight, self._timed():
            response = httpnet.request_once(
                self._session, method, url, timeout=self.timeout, data=data, headers=headers
            )
        self.answered = True
        reply = Reply.of(response.status, response.headers, response.body, url)
        log.debug("%s %s -> HTTP %d", method, url, reply.status)
        self.nonces.add_from(reply)
        if not reply.ok:
            raise Problem(reply)
        return reply

    @contextlib.contextmanager
    def _timed(self) -> Iterator[None]:
        """Time a request for ``pace`` when it is the only one being sent (and got an
        answer: a refused connection says nothing about the CA's pace)."""
        with self._sending_lock:
            self._sending += 1
            self._started += 1
            alone, mine = self._sending == 1, self._started
        wall, cpu = time.perf_counter(), time.thread_time()
        try:
            yield
        finally:
            with self._sending_lock:
                alone = alone and self._started == mine  # nobody started one meanwhile
                self._sending -= 1
        if alone:
            self.pace.note(time.perf_counter() - wall, time.thread_time() - cpu)

    def _once(self, url: str, send: Callable[[], Reply]) -> Reply:
        try:
            return send()
        except requests.exceptions.RequestException as error:
            raise _unreachable(url, error, 1, self.allow_ipv4) from error

    def _with_retries(self, url: str, send: Callable[[], Reply]) -> Reply:
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
            except Problem as problem:
                delay = problem_delay(problem, attempt, self.clock)
                if delay is None or self.clock.monotonic() + delay > deadline:
                    raise
                if problem.status in (429, 503) and requested_delay(problem.headers, self.clock):
                    self.not_before.hold(delay)  # the CA is busy for everyone, not one request
                reason = problem.describe()
            log.info("the CA: %s; retrying in %.1f s (attempt %d)", reason, delay, attempt + 1)
            self.clock.sleep(delay)

    def _connection_retry(
        self, error: requests.exceptions.RequestException, attempt: int
    ) -> float | None:
        if not self.answered or attempt >= MAX_ATTEMPTS or not httpnet.is_transient(error):
            return None
        return backoff(attempt)


def _payload_bytes(payload: Payload) -> bytes:
    if payload is None:
        return b""  # POST-as-GET: the empty string, not "{}" (RFC 8555 6.3)
    if isinstance(payload, JSONDeSerializable):
        return payload.json_dumps().encode()
    return json.dumps(payload).encode()


def _unreachable(
    url: str, error: requests.exceptions.RequestException, attempts: int, allow_ipv4: bool
) -> CaUnreachable:
    message, hint = httpnet.explain(url, error, what="the CA", allow_ipv4=allow_ipv4)
    if attempts > 1:
        message += f" (gave up after {attempts} attempts)"
    return CaUnreachable(message, hint=hint)
