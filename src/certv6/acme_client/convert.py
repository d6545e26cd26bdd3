"""Turn what the CA answered into certv6's errors, once, at this boundary."""

from __future__ import annotations

import contextlib
import datetime
from collections.abc import Iterator

from josepy.errors import DeserializationError

from certv6.acme_client.reply import Problem
from certv6.clock import SYSTEM_CLOCK
from certv6.errors import AccountError, AcmeError, CertV6Error, OrderError
from certv6.httpnet import requested_delay

ACCOUNT_PROBLEMS = {
    "accountDoesNotExist",
    "unauthorized",
    "userActionRequired",
    "externalAccountRequired",
    "invalidContact",
    "unsupportedContact",
}
HINTS = {
    "rateLimited": "the CA's rate limit was hit; wait before trying again",
    "caa": "a CAA record forbids this CA for the name; run 'certv6 doctor'",
    "rejectedIdentifier": "the CA will not issue for this name",
    "userActionRequired": "visit the CA's page given above, then run again",
    "invalidProfile": "pick one of the profiles the CA's directory lists",
    "alreadyReplaced": "another order already replaced this certificate; order without replaces",
}


@contextlib.contextmanager
def acme_error(step: str) -> Iterator[None]:
    """Convert an error response or an unexpected answer while doing ``step``."""
    try:
        yield
    except CertV6Error:
        raise
    except Problem as problem:
        raise problem_to_error(step, problem) from problem
    except (ValueError, KeyError, TypeError, DeserializationError) as error:
        raise AcmeError(f"{step}: unexpected answer from the CA ({error})") from error


def problem_to_error(step: str, problem: Problem) -> AcmeError:
    """Map an error response (RFC 8555 6.7 problem document, or none) to an error family.

    RFC 9773 5: a newOrder whose ``replaces`` names a certificate another order
    already replaced is a 409 ``alreadyReplaced``; the error's ``code`` says so,
    so the caller can order again without it. A rate limit keeps its Retry-After
    (``retry_after``): ``certv6 renew`` postpones the certificate until then.
    """
    if not problem.document:
        return AcmeError(
            f"{step}: the CA answered HTTP {problem.status} without a problem document",
            status=problem.status,
            retry_after=_retry_after(problem),
        )
    code = problem.code
    message = f"{step}: {problem.detail or code or 'no detail'}"
    if problem.instance:
        message += f" (see {problem.instance})"
    for sub in problem.subproblems:  # RFC 8555 6.7.1: one per identifier that failed
        identifier = sub.get("identifier")
        name = identifier.get("value") if isinstance(identifier, dict) else None
        message += f"; {name or 'a name'}: {sub.get('detail') or sub.get('type') or 'refused'}"
    error_class = AccountError if code in ACCOUNT_PROBLEMS else OrderError
    return error_class(
        message,
        code=code,
        status=problem.status,
        hint=HINTS.get(code),
        retry_after=_retry_after(problem),
    )


def _retry_after(problem: Problem) -> datetime.timedelta | None:
    """The wait a 429 or 503 asked for (RFC 8555 6.6: rate limits come with Retry-After).

    An HTTP date is measured against the real clock: it is the CA's, not certv6's.
    """
    if problem.status not in (429, 503) and problem.code != "rateLimited":
        return None
    seconds = requested_delay(problem.headers, SYSTEM_CLOCK)
    return None if seconds is None else datetime.timedelta(seconds=seconds)
