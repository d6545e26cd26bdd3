"""Turn the acme library's exceptions into certv6's, once, at this boundary."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import requests
from acme import errors as acme_errors
from acme import messages
from josepy.errors import DeserializationError

from certv6.errors import AccountError, AcmeError, CertV6Error, OrderError

PREFIX = "urn:ietf:params:acme:error:"
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
    """Convert anything the acme library raises while doing ``step``."""
    try:
        yield
    except CertV6Error:
        raise
    except messages.Error as problem:
        raise problem_to_error(step, problem) from problem
    except acme_errors.Error as error:
        raise AcmeError(f"{step}: {error}") from error
    except (ValueError, DeserializationError) as error:
        raise AcmeError(f"{step}: unexpected answer from the CA ({error})") from error


def problem_to_error(step: str, problem: messages.Error) -> AcmeError:
    """Map an RFC 8555 problem document (section 6.7) to an error family.

    ``messages.Error.code`` is None for types the library does not know, so the
    full URN in ``typ`` is what we compare.
    """
    code = (problem.typ or "").removeprefix(PREFIX)
    detail = problem.detail or code or "no detail"
    message = f"{step}: {detail}"
    instance = getattr(problem, "instance", None)
    if instance:
        message += f" (see {instance})"
    error_class = AccountError if code in ACCOUNT_PROBLEMS else OrderError
    return error_class(message, code=code, hint=HINTS.get(code))


def conflict_to_error(step: str, response: requests.Response | None) -> AcmeError:
    """A 409 whose problem document the acme library dropped (it raises a bare ConflictError).

    RFC 9773 section 5: a newOrder whose ``replaces`` names a certificate that
    another order already replaced is refused with ``alreadyReplaced``; the
    error's ``code`` says so, so the caller can order again without it.
    """
    try:
        body = response.json() if response is not None else None
        problem = messages.Error.from_json(body) if isinstance(body, dict) else None
    except (ValueError, DeserializationError):
        problem = None
    if problem is None:
        return OrderError(f"{step}: the CA answered 409 Conflict without a problem document")
    return problem_to_error(step, problem)
