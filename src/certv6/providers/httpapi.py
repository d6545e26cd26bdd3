"""DNS provider HTTP APIs, the certv6 way: IPv6 only, HTTPS only, errors in words.

Built on ``certv6.httpnet``, so every provider gets the same rules:
- connections leave from an IPv6 address; an API host with only A records fails
  at once ("... has no IPv6 address"), and ``preflight_route`` says so before an
  order exists at the CA;
- ``HTTPS_PROXY`` / ``NO_PROXY`` are honoured through a CONNECT tunnel, so a
  proxy with IPv4 reach gets a v6-only host to an IPv4-only API;
- plain ``http://`` is refused and redirects are not followed (a redirect could
  downgrade to HTTP or carry the token to another host);
- the credentials never appear in an error: the API's own message is redacted;
- a busy or briefly broken API is asked again, within ``retry_budget`` seconds
  (60 by default) and at most ``MAX_ATTEMPTS`` times: 429 for any request (the
  API refused it, so nothing was done), 5xx and dropped connections only for
  idempotent methods (GET, PUT, DELETE, HEAD; RFC 9110 9.2.2), since a POST
  whose answer was lost may have been done. Retry-After is honoured, never
  cut short: a wait that would end past the budget fails at once, naming it.
"""

from __future__ import annotations

import json
import logging
import urllib.parse
from collections.abc import Mapping, Sequence
from pathlib import Path

import requests

from certv6 import __version__, httpnet
from certv6.clock import SYSTEM_CLOCK, Clock
from certv6.errors import ConfigError, ProviderAuthError, ProviderError, ProviderUnreachable
from certv6.providers.common import redact

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 15.0
DEFAULT_RETRY_BUDGET = 60.0
MAX_ATTEMPTS = 6
FIRST_BACKOFF = 0.5
IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
NOT_RETRIED_5XX = frozenset({501, 505})  # not implemented / HTTP version: asking again won't help
_MESSAGE_KEYS = ("message", "error", "detail", "cause", "errors")


class ApiClient:
    """One provider's HTTPS API. ``secrets`` are redacted from every error text."""

    def __init__(
        self,
        provider: str,
        base_url: str,
        *,
        headers: Mapping[str, str] | None = None,
        secrets: Sequence[str] = (),
        ca_bundle: str | None = None,
        allow_ipv4: bool = False,
        timeout: float = DEFAULT_TIMEOUT,
        auth_hint: str = "check the provider's credentials",
        clock: Clock = SYSTEM_CLOCK,
        retry_budget: float = DEFAULT_RETRY_BUDGET,
    ) -> None:
        self.provider = provider
        self.base_url = check_https_url(base_url, provider).rstrip("/")
        self.host = urllib.parse.urlsplit(self.base_url).hostname or ""
        self._secrets = tuple(secrets)
        self._allow_ipv4 = allow_ipv4
        self._timeout = timeout
        self._auth_hint = auth_hint
        self._clock = clock
        self._retry_budget = retry_budget
        if ca_bundle is not None and not Path(ca_bundle).is_file():
            raise ConfigError(
                f"{provider}: ca_bundle {ca_bundle} is not a file",
                hint="give the path of a PEM file with the CA certificates to trust",
            )
        self._session = httpnet.new_session(
            ca_bundle=ca_bundle, allow_ipv4=allow_ipv4, user_agent=f"certv6/{__version__}"
        )
        self._session.headers.update(headers or {})

    def request(
        self,
        method: str,
        path: str,
        *,
        operation: str,
        record: str = "",
        body: object = None,
        ok: Sequence[int] = (200,),
        headers: Mapping[str, str] | None = None,
        secrets: Sequence[str] = (),
    ) -> requests.Response:
        """Send one request; return the response if its status is in ``ok``.

        ``headers`` are added to the session's; ``secrets`` (credentials sent with
        this request only) are redacted from errors like the client's own.

        Raises:
            ProviderUnreachable: no IPv6 route, TLS failure, timeout, proxy failure.
            ProviderAuthError: HTTP 401 or 403.
            ProviderError: any other status not in ``ok``.
        """
        url = self.base_url + path
        hidden = (*self._secrets, *secrets)
        deadline = self._clock.monotonic() + self._retry_budget
        attempt = 0
        while True:
            attempt += 1
            try:
                response = self._session.request(
                    method,
                    url,
                    data=None if body is None else json.dumps(body).encode(),
                    headers=_headers(headers, json_body=body is not None),
                    timeout=self._timeout,
                    allow_redirects=False,
                )
            except requests.exceptions.RequestException as error:
                delay = self._connection_retry(method, error, attempt)
                if delay is None or self._clock.monotonic() + delay > deadline:
                    raise self._unreachable(
                        url, error, attempt, operation=operation, record=record, hidden=hidden
                    ) from error
                reason = httpnet.root_cause(error)
            else:
                if response.status_code in ok:
                    return response
                delay = self._status_retry(method, response, attempt)
                if delay is None or self._clock.monotonic() + delay > deadline:
                    raise self._status_error(response, operation, record, hidden, attempt)
                reason = f"HTTP {response.status_code}"
            log.info(
                "%s: %s; asking again in %.1f s (attempt %d)",
                self._what(operation, record),
                reason,
                delay,
                attempt + 1,
            )
            self._clock.sleep(delay)

    def _connection_retry(
        self, method: str, error: requests.exceptions.RequestException, attempt: int
    ) -> float | None:
        if method not in IDEMPOTENT or attempt >= MAX_ATTEMPTS or not httpnet.is_transient(error):
            return None
        return httpnet.backoff(attempt, first=FIRST_BACKOFF)

    def _status_retry(self, method: str, response: requests.Response, attempt: int) -> float | None:
        status = response.status_code
        busy = status == 429  # refused unprocessed (RFC 6585 4): safe for any method
        broken = status >= 500 and status not in NOT_RETRIED_5XX and method in IDEMPOTENT
        if attempt >= MAX_ATTEMPTS or not (busy or broken):
            return None
        requested = httpnet.requested_delay(response.headers, self._clock)
        return httpnet.backoff(attempt, first=FIRST_BACKOFF) if requested is None else requested

    def _unreachable(
        self,
        url: str,
        error: requests.exceptions.RequestException,
        attempts: int,
        *,
        operation: str,
        record: str,
        hidden: Sequence[str],
    ) -> ProviderUnreachable:
        message, hint = httpnet.explain(url, error, what=f"the {self.provider} API")
        if attempts > 1:
            message += f" (gave up after {attempts} attempts)"
        return ProviderUnreachable(
            self._what(operation, record) + ": " + redact(message, hidden),
            provider=self.provider,
            operation=operation,
            record=record,
            hint=hint,
        )

    def json(self, response: requests.Response, *, operation: str, record: str = "") -> object:
        """The response body as JSON.

        Raises:
            ProviderError: the body is not JSON (a captive portal, a wrong api_url).
        """
        try:
            return response.json()
        except ValueError:
            raise ProviderError(
                f"{self._what(operation, record)}: the API answered HTTP {response.status_code}"
                " with something that is not JSON",
                provider=self.provider,
                operation=operation,
                record=record,
                hint="check api_url: it must be the API's base URL",
            ) from None

    def preflight_route(self) -> None:
        """Fail now if this host cannot reach the API over IPv6 (directly or via a proxy).

        Raises:
            ProviderUnreachable: no IPv6 address for the API host (or the proxy), no proxy.
        """
        if self._allow_ipv4:
            return
        proxy = httpnet.proxy_for(self.base_url)
        if proxy:
            proxy_host = urllib.parse.urlsplit(proxy).hostname or ""
            if not httpnet.has_ipv6(proxy_host):
                raise self._unroutable(
                    f"the proxy {httpnet.redact(proxy)} (HTTPS_PROXY) has no IPv6 address",
                    "give HTTPS_PROXY a proxy address this host reaches over IPv6",
                )
            return
        found = httpnet.host_addresses(self.host)
        if found.ipv6:
            return
        if found.ipv4:
            raise self._unroutable(
                f"the API host {self.host} has no IPv6 address (only {', '.join(found.ipv4)})",
                "set HTTPS_PROXY=http://[proxy-address]:port to a proxy that reaches IPv4"
                " (NO_PROXY lists hosts to reach directly), or use NAT64/DNS64",
            )
        raise self._unroutable(
            f"cannot resolve the API host {self.host}: {found.error or 'no address'}",
            "check the API URL and this host's resolver",
        )

    def close(self) -> None:
        self._session.close()

    def _unroutable(self, problem: str, hint: str) -> ProviderUnreachable:
        return ProviderUnreachable(
            f"{self.provider} preflight: {problem}",
            provider=self.provider,
            operation="preflight",
            hint=hint,
        )

    def _status_error(
        self,
        response: requests.Response,
        operation: str,
        record: str,
        hidden: Sequence[str],
        attempts: int = 1,
    ) -> ProviderError:
        status = response.status_code
        said = _said(response, hidden)
        detail = f"HTTP {status}" + (f": {said}" if said else "")
        if attempts > 1:
            detail += f", after {attempts} attempts"
        what = self._what(operation, record)
        common = {"provider": self.provider, "operation": operation, "record": record}
        if status == 401:
            return ProviderAuthError(
                f"{what}: the API refused the credentials ({detail})",
                hint=self._auth_hint,
                **common,
            )
        if status == 403:
            return ProviderAuthError(
                f"{what}: the credentials may not do this ({detail})",
                hint="give the token the right to change DNS records of this domain",
                **common,
            )
        if 300 <= status < 400:
            target = redact(response.headers.get("Location", "?"), hidden)
            return ProviderError(
                f"{what}: the API redirected to {target}; certv6 does not follow redirects",
                hint="set api_url to the final https:// URL",
                **common,
            )
        requested = httpnet.requested_delay(response.headers, self._clock)
        if status == 429 or (status >= 500 and requested is not None):
            later = f" (it asks to wait {requested:.0f} s)" if requested is not None else ""
            return ProviderError(
                f"{what}: the API is busy or failing ({detail}){later}",
                hint="try again later; certv6 retries on its own only within"
                f" {self._retry_budget:.0f} s",
                **common,
            )
        return ProviderError(f"{what}: {detail}", hint=None, **common)

    def _what(self, operation: str, record: str) -> str:
        return f"{self.provider} {operation}" + (f" of {record}" if record else "")


def _headers(extra: Mapping[str, str] | None, *, json_body: bool) -> dict[str, str]:
    headers = dict(extra or {})
    if json_body:
        headers["Content-Type"] = "application/json"
    return headers


def _said(response: requests.Response, hidden: Sequence[str]) -> str:
    """What the API said about the failure, short, one line, without secrets."""
    try:
        body = response.json()
    except ValueError:
        text = response.text
    else:
        found = [body.get(k) for k in _MESSAGE_KEYS] if isinstance(body, dict) else []
        parts = [v if isinstance(v, str) else json.dumps(v) for v in found if v]
        text = "; ".join(parts) or response.text
    return redact(" ".join(text.split())[:200], hidden)


def check_https_url(url: str, provider: str) -> str:
    """``url`` if it is an absolute https:// URL; certv6 never talks to an API over plain HTTP.

    Raises:
        ConfigError: any other scheme, or no host.
    """
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        raise ConfigError(
            f"{provider}: {url!r} is not an https:// URL",
            hint="certv6 talks to provider APIs over HTTPS only",
        )
    return url
