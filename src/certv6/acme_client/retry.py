"""When to ask the CA again: backoff, Retry-After (RFC 9110 10.2.3), what is worth retrying."""

from __future__ import annotations

from collections.abc import Mapping

from certv6 import httpnet
from certv6.acme_client.reply import Problem
from certv6.clock import Clock
from certv6.httpnet import requested_delay

__all__ = ["backoff", "problem_delay", "requested_delay", "retry_after_seconds"]

RETRYABLE_ERRORS = {"badNonce", "rateLimited", "serverInternal"}
MAX_RETRY_AFTER = 60.0
MAX_ATTEMPTS = 8
MAX_BAD_NONCE_ATTEMPTS = 30
MAX_BACKOFF = 30.0


def backoff(attempt: int) -> float:
    """1, 2, 4, ... seconds, at most MAX_BACKOFF."""
    return httpnet.backoff(attempt, first=1.0, limit=MAX_BACKOFF)


def problem_delay(problem: Problem, attempt: int, clock: Clock) -> float | None:
    """Seconds before asking again after ``problem``, or None: do not retry.

    badNonce costs nothing to retry (the error carried a fresh nonce, RFC 8555
    6.5), and a CA may reject many valid nonces: Pebble's fault mode rejects
    half, so 30 tries fail about one request in a billion. 429 and 5xx wait for
    Retry-After, else back off; never earlier than asked.
    """
    if problem.code == "badNonce":
        return 0.0 if attempt < MAX_BAD_NONCE_ATTEMPTS else None
    if attempt >= MAX_ATTEMPTS:
        return None
    if problem.code not in RETRYABLE_ERRORS and problem.status != 429 and problem.status < 500:
        return None
    requested = requested_delay(problem.headers, clock)
    return backoff(attempt) if requested is None else requested


def retry_after_seconds(headers: Mapping[str, str], clock: Clock, default: float) -> float:
    """Seconds to wait per a Retry-After header, bounded to a minute."""
    requested = requested_delay(headers, clock)
    if requested is None:
        return default
    return min(requested, MAX_RETRY_AFTER)
