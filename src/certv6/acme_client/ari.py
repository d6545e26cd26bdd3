"""ACME Renewal Information (RFC 9773): the certificate identifier and the renewalInfo fetch.

The acme library's ``renewal_time()`` picks the random moment itself with the
system clock, returns a naive local ``next_check`` and drops both the window
and the CA's explanation. certv6 keeps its own state and injects time, so this
module only fetches and parses, in aware UTC; ``certv6.renewal`` decides.
"""

from __future__ import annotations

import base64
import datetime
from collections.abc import Mapping
from dataclasses import dataclass

from acme import messages
from cryptography import x509

from certv6.acme_client.convert import acme_error
from certv6.acme_client.network import Network
from certv6.acme_client.reply import Problem
from certv6.acme_client.retry import requested_delay
from certv6.clock import Clock
from certv6.errors import AcmeError


@dataclass(frozen=True, slots=True)
class RenewalInfo:
    """A RenewalInfo object (RFC 9773 4.2) and the Retry-After it came with (4.3)."""

    window_start: datetime.datetime
    window_end: datetime.datetime
    explanation_url: str | None
    retry_after: datetime.timedelta | None


class RenewalInfoError(AcmeError):
    """Asking for renewal info failed; ``retry_after`` is the CA's Retry-After, if it sent one."""

    def __init__(self, message: str, *, retry_after: datetime.timedelta | None) -> None:
        super().__init__(message, retry_after=retry_after)


def certificate_id(cert_pem: bytes) -> str:
    """The RFC 9773 4.1 identifier: base64url(AKI keyIdentifier) "." base64url(serial DER).

    The serial is the DER INTEGER's content octets (two's complement, so a
    leading zero byte when the top bit is set); both parts are unpadded.

    Raises:
        AcmeError: not a certificate, or it has no Authority Key Identifier.
    """
    try:
        certificate = x509.load_pem_x509_certificate(cert_pem)
        extension = certificate.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier)
    except (ValueError, x509.ExtensionNotFound) as error:
        raise AcmeError(f"cannot name the certificate for renewal info: {error}") from error
    key_identifier = extension.value.key_identifier
    if key_identifier is None:
        raise AcmeError("the certificate's Authority Key Identifier has no keyIdentifier")
    serial = certificate.serial_number
    serial_der = serial.to_bytes((serial.bit_length() + 8) // 8, "big", signed=True)
    return f"{_b64(key_identifier)}.{_b64(serial_der)}"


def fetch_renewal_info(net: Network, base_url: str, cert_id: str) -> RenewalInfo:
    """GET ``<renewalInfo>/<cert_id>`` (unauthenticated, RFC 9773 4.1) and parse it.

    One attempt only: a failed check is simply asked again on a later run, after
    the CA's Retry-After or six hours (RFC 9773 4.3.2), so the network's retry
    loop (up to a minute per request) would only slow down a run over many
    certificates.

    Raises:
        RenewalInfoError: the CA refused, is unreachable, or sent something else.
    """
    url = f"{base_url.rstrip('/')}/{cert_id}"
    try:
        with acme_error("fetching renewal info"):
            try:
                reply = net.get(url, retries=False)
            except Problem as problem:
                retry_after = _retry_after(problem.headers, net.clock)
                raise RenewalInfoError(
                    f"fetching renewal info: {problem.describe()}", retry_after=retry_after
                ) from problem
            body = reply.json()
            window = messages.RenewalInfo.from_json(body).suggested_window
    except RenewalInfoError:
        raise
    except AcmeError as error:  # unreachable, or not a RenewalInfo object
        text = str(error)
        if not text.startswith("fetching renewal info"):
            text = f"fetching renewal info: {text}"
        raise RenewalInfoError(text, retry_after=None) from error
    explanation = body.get("explanationURL") if isinstance(body, dict) else None
    return RenewalInfo(
        window_start=_utc(window.start),
        window_end=_utc(window.end),
        explanation_url=str(explanation) if explanation else None,
        retry_after=_retry_after(reply.headers, net.clock),
    )


def _retry_after(headers: Mapping[str, str], clock: Clock) -> datetime.timedelta | None:
    # Unbounded here: ARI's values are hours; certv6.renewal applies RFC 9773's limits.
    seconds = requested_delay(headers, clock)
    return None if seconds is None else datetime.timedelta(seconds=seconds)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _utc(moment: datetime.datetime) -> datetime.datetime:
    # The library mixes naive and aware times (LIBRARY-NOTES); naive ones are UTC on the wire.
    if moment.tzinfo is None:
        return moment.replace(tzinfo=datetime.UTC)
    return moment.astimezone(datetime.UTC)
