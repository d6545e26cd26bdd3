"""One conversation with an ACME server (RFC 8555), dns-01 only.

Built on certbot's ``acme`` library for messages and signing; the polling is
our own, because the library sleeps a whole second before every poll and a CA
like Pebble answers in milliseconds. Polls start at 50 ms and back off, and a
Retry-After from the server always wins (RFC 8555 7.5.1, 7.4).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from acme import challenges, messages
from acme import client as acme_client
from acme import errors as acme_errors
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from josepy.json_util import field
from josepy.jwa import ES256
from josepy.jwk import JWK, JWKEC

from certv6.acme_client.ari import RenewalInfo, RenewalInfoError, fetch_renewal_info
from certv6.acme_client.convert import acme_error, conflict_to_error
from certv6.acme_client.network import Network, retry_after_seconds
from certv6.clock import Clock
from certv6.errors import AccountError, AcmeTimeout, OrderError, ValidationFailed
from certv6.model import TxtRecord

log = logging.getLogger(__name__)

_Item = TypeVar("_Item")
_Result = TypeVar("_Result")
PARALLEL_REQUESTS = 8  # requests in flight to the CA at once, for big orders
FIRST_POLL = 0.05
MAX_POLL = 2.0


@dataclass(frozen=True, slots=True)
class Order:
    url: str
    status: str
    finalize_url: str
    authorization_urls: tuple[str, ...]
    identifiers: tuple[str, ...]
    certificate_url: str | None = None


@dataclass(frozen=True, slots=True)
class PendingChallenge:
    """A dns-01 challenge still to be answered, with the TXT record that proves it."""

    identifier: str  # the authorization's identifier (base name, also for wildcards)
    wildcard: bool
    challenge_url: str
    record: TxtRecord
    key_authorization: str


class AcmeSession:
    """An account key talking to one directory."""

    def __init__(self, client: acme_client.ClientV2, key: JWK, clock: Clock) -> None:
        self._client = client
        self._key = key
        self._clock = clock

    @classmethod
    def connect(
        cls,
        directory_url: str,
        account_key: ec.EllipticCurvePrivateKey,
        *,
        ca_bundle: str | None,
        clock: Clock,
        allow_ipv4: bool = False,
    ) -> AcmeSession:
        """Fetch the directory. Raises CaUnreachable or AcmeError."""
        # josepy's generic JWK.load would accept garbage as a symmetric key; be explicit.
        key = JWKEC(key=account_key)
        net = Network(key, alg=ES256, ca_bundle=ca_bundle, clock=clock, allow_ipv4=allow_ipv4)
        with acme_error("fetching the directory"):
            directory = acme_client.ClientV2.get_directory(directory_url, net)
        return cls(acme_client.ClientV2(directory, net), key, clock)

    @property
    def terms_of_service(self) -> str | None:
        meta = self._client.directory.meta
        return getattr(meta, "terms_of_service", None)

    @property
    def caa_identities(self) -> tuple[str, ...]:
        """The CA's CAA domain names from its directory (RFC 8555 7.1.1); often none."""
        return tuple(getattr(self._client.directory.meta, "caa_identities", None) or ())

    @property
    def external_account_required(self) -> bool:
        return bool(self._client.external_account_required())

    def register(
        self, *, email: str | None, agree_tos: bool, eab: tuple[str, str] | None = None
    ) -> str:
        """Create the account (or find the existing one for this key); return its URL."""
        if self.terms_of_service and not agree_tos:
            raise AccountError(
                f"the CA requires agreeing to its terms of service: {self.terms_of_service}",
                hint="read them, then set agree_tos = true or pass --agree-tos",
            )
        if self.external_account_required and eab is None:
            raise AccountError(
                "the CA requires external account binding",
                hint="set eab_kid and eab_hmac_key_file from your CA's account page",
            )
        registration = messages.NewRegistration.from_data(
            email=email,
            terms_of_service_agreed=agree_tos or None,
            external_account_binding=self._eab(eab) if eab else None,
        )
        self._client.net.account = None  # newAccount must be signed with a JWK, not a kid
        with acme_error("creating the account"):
            try:
                account = self._client.new_account(registration)
            except acme_errors.ConflictError as existing:
                # RFC 8555 7.3.1: 200 + Location means this key already has an account.
                return self.use_account(str(existing.location))
        return str(account.uri)

    def use_account(self, url: str) -> str:
        self._client.net.account = messages.RegistrationResource(
            uri=url, body=messages.Registration()
        )
        return url

    def new_order(
        self, identifiers: Sequence[str], *, profile: str | None = None, replaces: str | None = None
    ) -> Order:
        body = NewOrder(
            identifiers=[
                messages.Identifier(typ=messages.IDENTIFIER_FQDN, value=name)
                for name in identifiers
            ],
            profile=profile,
            replaces=replaces,
        )
        # acme turns a 409 into a bare ConflictError; keep the response to read its problem.
        seen: list[Any] = []
        hooks = {"response": lambda response, **_: seen.append(response)}
        with acme_error("creating the order"):
            try:
                response = self._client._post(self._client.directory["newOrder"], body, hooks=hooks)
            except acme_errors.ConflictError as conflict:
                # RFC 9773 5: alreadyReplaced is a 409; its code lets the caller drop `replaces`.
                last = seen[-1] if seen else None
                raise conflict_to_error("creating the order", last) from conflict
        return _order(response.headers.get("Location", ""), response.json())

    @property
    def profiles(self) -> dict[str, str]:
        """The profiles the directory lists (``meta.profiles``): name -> description."""
        return dict(getattr(self._client.directory.meta, "profiles", None) or {})

    @property
    def offers_renewal_info(self) -> bool:
        return "renewalInfo" in self._client.directory.to_partial_json()

    def renewal_info(self, cert_id: str) -> RenewalInfo:
        """The CA's suggested renewal window for a certificate (RFC 9773 4).

        ``cert_id`` is ``ari.certificate_id(cert_pem)``.

        Raises:
            RenewalInfoError: no ARI at this CA, or asking failed (with its Retry-After).
        """
        if not self.offers_renewal_info:
            raise RenewalInfoError("the CA offers no renewal info", retry_after=None)
        net: Network = self._client.net  # type: ignore[assignment]
        base = str(self._client.directory["renewalInfo"])
        return fetch_renewal_info(net, base, cert_id)

    def pending_challenges(self, order: Order) -> list[PendingChallenge]:
        """The dns-01 challenges of every authorization that is not valid yet."""
        authorizations = _in_parallel(self._authorization, order.authorization_urls)
        return [
            self._dns01(authorization)
            for authorization in authorizations
            if authorization.status != messages.STATUS_VALID
        ]

    def answer(self, pending: Sequence[PendingChallenge]) -> None:
        """Tell the CA to look (RFC 8555 7.5.1): an empty JSON object per challenge."""
        _in_parallel(self._answer_one, pending)

    def _authorization(self, url: str) -> messages.Authorization:
        with acme_error("fetching an authorization"):
            body = self._post_as_get(url).json()
            authorization: messages.Authorization = messages.Authorization.from_json(body)
        return authorization

    def _answer_one(self, challenge: PendingChallenge) -> None:
        with acme_error(f"answering the challenge for {challenge.identifier}"):
            response = challenges.DNS01Response(key_authorization=challenge.key_authorization)
            self._client._post(challenge.challenge_url, response)

    def wait_ready(self, order: Order, timeout: float) -> Order:
        """Poll the order until the CA has validated everything (status ready)."""
        order = self._poll(order, timeout, until={"ready", "valid"}, step="validation")
        return order

    def finalize(
        self, order: Order, csr_pem: bytes, timeout: float, preferred_chain: str | None = None
    ) -> str:
        """Send the CSR, wait for issuance, download the chain; return the full chain PEM."""
        csr = x509.load_pem_x509_csr(csr_pem)
        with acme_error("finalizing the order"):
            response = self._client._post(order.finalize_url, messages.CertificateRequest(csr=csr))
        order = _order(order.url, response.json())
        if order.status != "valid":
            order = self._poll(order, timeout, until={"valid"}, step="issuance")
        if order.certificate_url is None:
            raise OrderError("the CA marked the order valid but gave no certificate URL")
        return self._download(order.certificate_url, preferred_chain)

    def revoke(self, cert_pem: bytes, reason: int) -> None:
        with acme_error("revoking the certificate"):
            self._client.revoke(x509.load_pem_x509_certificate(cert_pem), reason)

    def _poll(self, order: Order, timeout: float, *, until: set[str], step: str) -> Order:
        deadline = self._clock.monotonic() + timeout
        delay = FIRST_POLL
        while True:
            with acme_error(f"polling the order during {step}"):
                response = self._post_as_get(order.url)
            order = _order(order.url, response.json())
            if order.status in until:
                return order
            if order.status == "invalid":
                raise self._why_invalid(order, response.json())
            wait = retry_after_seconds(dict(response.headers), self._clock, default=delay)
            if self._clock.monotonic() + wait > deadline:
                raise AcmeTimeout(f"the CA did not finish {step} within {timeout:.0f} s")
            self._clock.sleep(wait)
            delay = min(delay * 2, MAX_POLL)

    def _why_invalid(self, order: Order, body: dict[str, Any]) -> Exception:
        for url in order.authorization_urls:
            authorization = messages.Authorization.from_json(self._post_as_get(url).json())
            if authorization.status == messages.STATUS_INVALID:
                detail = _challenge_error(authorization)
                name = str(authorization.identifier.value)
                return ValidationFailed(
                    f"the CA could not validate {name}: {detail}",
                    identifier=name,
                    hint="check that every authoritative nameserver serves the TXT record",
                )
        problem = body.get("error") or {}
        return OrderError(f"the order became invalid: {problem.get('detail', 'no reason given')}")

    def _dns01(self, authorization: messages.Authorization) -> PendingChallenge:
        name = str(authorization.identifier.value)
        for challenge in authorization.challenges:
            if isinstance(challenge.chall, challenges.DNS01):
                value = challenge.chall.validation(self._key)
                return PendingChallenge(
                    identifier=name,
                    wildcard=bool(authorization.wildcard),
                    challenge_url=challenge.uri,
                    record=TxtRecord(challenge.chall.validation_domain_name(name) + ".", value),
                    key_authorization=challenge.chall.key_authorization(self._key),
                )
        raise OrderError(f"the CA offers no dns-01 challenge for {name}")

    def _download(self, url: str, preferred_chain: str | None) -> str:
        with acme_error("downloading the certificate"):
            response = self._post_as_get(url)
            chains = [response.text]
            if preferred_chain:
                links = self._client._get_links(response, "alternate")
                chains += [self._post_as_get(link).text for link in links]
        return _pick_chain(chains, preferred_chain)

    def _post_as_get(self, url: str, **kwargs: Any) -> Any:
        return self._client._post_as_get(url, **kwargs)

    def _eab(self, eab: tuple[str, str]) -> Any:
        kid, hmac_key = eab
        return messages.ExternalAccountBinding.from_data(
            account_public_key=self._key.public_key(),
            kid=kid,
            hmac_key=hmac_key,
            directory=self._client.directory,
        )


class NewOrder(messages.NewOrder):
    """newOrder with ARI's ``replaces`` (RFC 9773 section 5), which acme lacks."""

    replaces: str | None = field("replaces", omitempty=True)


def _order(url: str, body: dict[str, Any]) -> Order:
    return Order(
        url=url,
        status=str(body.get("status", "")),
        finalize_url=str(body.get("finalize", "")),
        authorization_urls=tuple(body.get("authorizations", ())),
        identifiers=tuple(str(i.get("value")) for i in body.get("identifiers", ())),
        certificate_url=body.get("certificate"),
    )


def _challenge_error(authorization: messages.Authorization) -> str:
    for challenge in authorization.challenges:
        if challenge.error is not None:
            return str(challenge.error.detail or challenge.error.typ)
    return "no detail given"


def _pick_chain(chains: list[str], preferred_issuer: str | None) -> str:
    """The first chain whose top certificate is issued by ``preferred_issuer`` (certbot's rule)."""
    if preferred_issuer:
        for chain in chains:
            top = x509.load_pem_x509_certificates(chain.encode())[-1]
            names = top.issuer.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
            if any(attribute.value == preferred_issuer for attribute in names):
                return chain
    return chains[0]


def _in_parallel(work: Callable[[_Item], _Result], items: Sequence[_Item]) -> list[_Result]:
    """``work`` over ``items`` on a few threads, results in order; the first error wins.

    An order with 100 names means 100 authorizations to fetch and 100 challenges
    to answer; one after the other that is most of the time spent with the CA.
    """
    if len(items) <= 1:
        return [work(item) for item in items]
    with ThreadPoolExecutor(max_workers=min(PARALLEL_REQUESTS, len(items))) as pool:
        return list(pool.map(work, items))
