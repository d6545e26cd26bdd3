"""One conversation with an ACME server (RFC 8555), DNS challenges only (validation.py).

acme's public ``messages``/``challenges`` classes say what goes over the wire;
certv6's own ``network.Network`` signs and sends it (see there why not acme's
ClientNetwork). The polling is ours too, because the library sleeps a whole
second before every poll and a CA like Pebble answers in milliseconds. Polls
start at 20 ms and double up to 2 s, and a Retry-After from the server always wins
(RFC 8555 7.5.1, 7.4).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from acme import messages
from cryptography import x509
from josepy.json_util import field

from certv6.acme_client.ari import RenewalInfo, RenewalInfoError, fetch_renewal_info
from certv6.acme_client.convert import acme_error
from certv6.acme_client.jws import AccountKey, jwk_of
from certv6.acme_client.network import Network
from certv6.acme_client.resources import (
    Authorization,
    Order,
    PendingChallenge,
    parse_authorization,
    parse_order,
)
from certv6.acme_client.retry import retry_after_seconds
from certv6.acme_client.validation import Answerable, choose
from certv6.clock import Clock
from certv6.errors import AccountError, AcmeTimeout, CertV6Error, OrderError, ValidationFailed
from certv6.parallel import map_in_parallel
from certv6.settings import DNS01

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

PARALLEL_REQUESTS = 8  # requests in flight to the CA at once, for big orders
PACE_PROBES = 3  # requests of a batch sent one by one first, to time them (network.Pace)
FIRST_POLL = 0.02
MAX_POLL = 2.0


class AcmeSession:
    """An account key talking to one directory."""

    def __init__(self, net: Network, directory: dict[str, Any], clock: Clock) -> None:
        self.net = net
        self.directory = directory  # the raw directory object (RFC 8555 7.1.1)
        self._meta = messages.Directory.from_json(directory).meta
        self._clock = clock

    @classmethod
    def connect(
        cls,
        directory_url: str,
        account_key: AccountKey,
        *,
        ca_bundle: str | None,
        clock: Clock,
        allow_ipv4: bool = False,
    ) -> AcmeSession:
        """Fetch the directory. Raises CaUnreachable or AcmeError."""
        net = Network(jwk_of(account_key), ca_bundle=ca_bundle, clock=clock, allow_ipv4=allow_ipv4)
        with acme_error("fetching the directory"):
            directory = net.get(directory_url).json()
            if not isinstance(directory, dict) or not isinstance(directory.get("newNonce"), str):
                raise ValueError(f"{directory_url} is not an ACME directory")
            session = cls(net, directory, clock)
        net.new_nonce_url = directory["newNonce"]
        return session

    def url(self, resource: str) -> str:
        """A directory URL ("newOrder", "keyChange", ...). Raises AcmeError when absent."""
        found = self.directory.get(resource)
        if not isinstance(found, str):
            raise OrderError(f"the CA's directory has no {resource} URL")
        return found

    @property
    def terms_of_service(self) -> str | None:
        return getattr(self._meta, "terms_of_service", None)

    @property
    def caa_identities(self) -> tuple[str, ...]:
        """The CA's CAA domain names from its directory (RFC 8555 7.1.1); often none."""
        return tuple(getattr(self._meta, "caa_identities", None) or ())

    @property
    def external_account_required(self) -> bool:
        return bool(getattr(self._meta, "external_account_required", False))

    def register(
        self, *, email: str | None, agree_tos: bool, eab: tuple[str, str] | None = None
    ) -> str:
        """Create the account (or find the existing one for this key); return its URL.

        ``email``: one address or several separated by commas (each a mailto: contact).
        """
        self.check_registration(agree_tos=agree_tos, eab=eab)
        with acme_error("creating the account"):
            registration = messages.NewRegistration.from_data(
                email=email,
                terms_of_service_agreed=agree_tos or None,
                external_account_binding=self._eab(eab) if eab else None,
            )
            # newAccount is signed with the key itself, not a kid (RFC 8555 7.3); a key
            # that already has an account gets 200 and its URL (7.3.1), a new one 201.
            reply = self.net.post(self.url("newAccount"), registration, embed_key=True)
        if not reply.location:
            raise AccountError("the CA created the account but sent no account URL (Location)")
        return self.use_account(reply.location)

    def check_registration(self, *, agree_tos: bool, eab: tuple[str, str] | None) -> None:
        """What ``register`` refuses before asking the CA: its terms, or its EAB, missing."""
        if self.terms_of_service and not agree_tos:
            raise AccountError(
                f"the CA requires agreeing to its terms of service: {self.terms_of_service}",
                hint="read them, then set agree_tos = true or pass --agree-tos",
            )
        if self.external_account_required and eab is None:
            raise AccountError(
                "the CA requires external account binding",
                hint="set eab_kid and eab_hmac_key_file from your CA's account page "
                "(docs/accounts.md)",
            )

    def use_account(self, url: str) -> str:
        self.net.account_url = url
        return url

    def use_key(self, key: AccountKey) -> None:
        """Sign with ``key`` from now on (the CA holds it since a key change)."""
        self.net.key = jwk_of(key)

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
        with acme_error("creating the order"):
            reply = self.net.post(self.url("newOrder"), body)
            return parse_order(reply.location or "", reply.json())

    @property
    def profiles(self) -> dict[str, str]:
        """The profiles the directory lists (``meta.profiles``): name -> description."""
        return dict(getattr(self._meta, "profiles", None) or {})

    @property
    def offers_renewal_info(self) -> bool:
        return isinstance(self.directory.get("renewalInfo"), str)

    def renewal_info(self, cert_id: str) -> RenewalInfo:
        """The CA's suggested renewal window for a certificate (RFC 9773 4).

        ``cert_id`` is ``ari.certificate_id(cert_pem)``.

        Raises:
            RenewalInfoError: no ARI at this CA, or asking failed (with its Retry-After).
        """
        if not self.offers_renewal_info:
            raise RenewalInfoError("the CA offers no renewal info", retry_after=None)
        return fetch_renewal_info(self.net, self.url("renewalInfo"), cert_id)

    def authorizations(self, order: Order) -> list[Authorization]:
        """Every authorization of ``order``, fetched in parallel, raw JSON kept."""
        return self._batch(self._authorization, order.authorization_urls)

    def pending_challenges(self, order: Order) -> list[PendingChallenge]:
        """The dns-01 challenges of every authorization that is not valid yet."""
        chosen = self.open_challenges(order, (DNS01,))
        return [challenge for challenge in chosen if isinstance(challenge, PendingChallenge)]

    def open_challenges(self, order: Order, kinds: Sequence[str]) -> list[Answerable]:
        """For every authorization not valid yet, the first of ``kinds`` it offers.

        Raises:
            OrderError: an authorization offers none of ``kinds``; the order's
                pending authorizations are deactivated first (nothing of it will be
                answered, and another CA of the list may be asked next).
        """
        unanswered = [a for a in self.authorizations(order) if a.status != "valid"]
        try:
            return [self.challenge_for(authorization, kinds) for authorization in unanswered]
        except OrderError:
            for authorization in unanswered:
                if authorization.status == "pending":
                    with contextlib.suppress(CertV6Error):  # the first error is the one to see
                        self.deactivate(authorization.url)
            raise

    def challenge_for(self, authorization: Authorization, kinds: Sequence[str]) -> Answerable:
        """The first of ``kinds`` that ``authorization`` offers (validation.py).

        Raises:
            OrderError: code "challengeNotOffered" when it offers none of them.
        """
        return choose(authorization, kinds, self.net.key, self.account_url)

    @property
    def account_url(self) -> str:
        """This account's URL (RFC 8555 7.3); "" before it is known."""
        return self.net.account_url or ""

    def answer(self, pending: Sequence[Answerable]) -> None:
        """Tell the CA to look (RFC 8555 7.5.1): an empty JSON object per challenge."""
        self._batch(self._answer_one, pending)

    def _batch(self, work: Callable[[T], R], items: Sequence[T]) -> list[R]:
        """``work`` (one request to the CA each) on every item, as many at a time as
        hide the CA's latency (network.Pace). The first few go one after the other:
        timed alone, they say what a request of this kind costs at this CA."""
        if len(items) <= PACE_PROBES:
            return [work(item) for item in items]
        first = [work(item) for item in items[:PACE_PROBES]]
        threads = self.net.pace.in_flight(PARALLEL_REQUESTS, recent=PACE_PROBES)
        log.debug("%d request(s) to the CA, %d at a time", len(items), threads)
        return first + map_in_parallel(work, items[PACE_PROBES:], threads=threads)

    def deactivate(self, authorization_url: str) -> None:
        """Give up an authorization that will not be answered (RFC 8555 7.5.2), so
        pending authorizations do not pile up at the CA (it limits them per account)."""
        with acme_error("deactivating an authorization"):
            self.net.post(authorization_url, {"status": "deactivated"})

    def _authorization(self, url: str) -> Authorization:
        with acme_error("fetching an authorization"):
            return parse_authorization(url, self.net.post_as_get(url).json())

    def _answer_one(self, challenge: Answerable) -> None:
        with acme_error(f"answering the {challenge.type} challenge for {challenge.identifier}"):
            # An empty object for every DNS challenge: the CA computes what it
            # expects itself (RFC 8555 8.4; the dns-account-01 and dns-persist-01 drafts).
            self.net.post(challenge.challenge_url, {})

    def wait_ready(self, order: Order, timeout: float) -> Order:
        """Poll the order until the CA has validated everything (status ready)."""
        return self._poll(order, timeout, until={"ready", "valid"}, step="validation")

    def finalize(
        self, order: Order, csr_pem: bytes, timeout: float, preferred_chain: str | None = None
    ) -> str:
        """Send the CSR, wait for issuance, download the chain; return the full chain PEM."""
        csr = x509.load_pem_x509_csr(csr_pem)
        with acme_error("finalizing the order"):
            reply = self.net.post(order.finalize_url, messages.CertificateRequest(csr=csr))
            order = parse_order(order.url, reply.json())
        if order.status != "valid":
            order = self._poll(order, timeout, until={"valid"}, step="issuance")
        if order.certificate_url is None:
            raise OrderError("the CA marked the order valid but gave no certificate URL")
        return self._download(order.certificate_url, preferred_chain)

    def revoke(self, cert_pem: bytes, reason: int) -> None:
        """Revoke with the account key (RFC 8555 7.6)."""
        certificate = x509.load_pem_x509_certificate(cert_pem)
        with acme_error("revoking the certificate"):
            revocation = messages.Revocation(certificate=certificate, reason=reason)
            self.net.post(self.url("revokeCert"), revocation)

    def _poll(self, order: Order, timeout: float, *, until: set[str], step: str) -> Order:
        deadline = self._clock.monotonic() + timeout
        delay = FIRST_POLL
        while True:
            with acme_error(f"polling the order during {step}"):
                reply = self.net.post_as_get(order.url)
                order = parse_order(order.url, reply.json())
            if order.status in until:
                return order
            if order.status == "invalid":
                raise self._why_invalid(order)
            wait = retry_after_seconds(reply.headers, self._clock, default=delay)
            if self._clock.monotonic() + wait > deadline:
                raise AcmeTimeout(f"the CA did not finish {step} within {timeout:.0f} s")
            self._clock.sleep(wait)
            delay = min(delay * 2, MAX_POLL)

    def _why_invalid(self, order: Order) -> Exception:
        for authorization in self.authorizations(order):
            if authorization.status == "invalid":
                name = authorization.identifier
                return ValidationFailed(
                    f"the CA could not validate {name}: {_challenge_error(authorization)}",
                    identifier=name,
                    hint="check that every authoritative nameserver serves the TXT record",
                )
        problem = order.error or {}
        return OrderError(f"the order became invalid: {problem.get('detail', 'no reason given')}")

    def _download(self, url: str, preferred_chain: str | None) -> str:
        with acme_error("downloading the certificate"):
            reply = self.net.post_as_get(url)
            chains = [reply.text]
            if preferred_chain:
                chains += [self.net.post_as_get(link).text for link in reply.links("alternate")]
        return _pick_chain(chains, preferred_chain)

    def _eab(self, eab: tuple[str, str]) -> Any:
        kid, hmac_key = eab
        return messages.ExternalAccountBinding.from_data(
            account_public_key=self.net.key.public_key(),
            kid=kid,
            hmac_key=hmac_key,
            directory=messages.Directory.from_json(self.directory),
        )


class NewOrder(messages.NewOrder):
    """newOrder with ARI's ``replaces`` (RFC 9773 section 5), which acme lacks."""

    replaces: str | None = field("replaces", omitempty=True)


def _challenge_error(authorization: Authorization) -> str:
    for challenge in authorization.challenges:
        if challenge.error is not None:
            return str(challenge.error.get("detail") or challenge.error.get("type"))
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
