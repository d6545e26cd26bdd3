"""HTTP for everything certv6 says to the outside (CA and DNS provider APIs).

Rules, the same for every caller:
- IPv6 only unless allowed: connections bind an IPv6 source address, so a host
  name with only A records fails at once instead of after a connect timeout
  (requests has no Happy Eyeballs, RFC 8305). Behind DNS64 such a name gets a
  synthesized AAAA and works through the NAT64 like any other.
- TLS always verified; plain http:// is refused, also after a redirect, so
  nothing is ever retried over plain HTTP. Python's own strictness applies
  (3.13+ checks RFC 5280 strictly); only ``certv6 doctor`` asks for it
  explicitly, to tell whether a chain passes with and without it (x509strict).
- HTTPS_PROXY / ALL_PROXY / NO_PROXY are honoured (requests' CONNECT tunnel, TLS
  end to end through it); the proxy's own address may be IPv6
  (``http://[2001:db8::3128]:3128``) and is reached over IPv6 like anything else.

The adapter layer: requests' exceptions are explained here (``explain``) and
callers get certv6 errors or plain results, never a requests exception.
"""

from __future__ import annotations

import http.client
import os
import re
import select
import socket
import ssl
import threading
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from requests.structures import CaseInsensitiveDict
from requests.utils import DEFAULT_CA_BUNDLE_PATH
from urllib3.util.ssl_ import create_urllib3_context

from certv6 import x509strict
from certv6.clock import SYSTEM_CLOCK, Clock

IPV6_SOURCE = ("::", 0)
_TUNNEL_REFUSED = re.compile(r"Tunnel connection failed: (\d{3}[^'\")]*)")
# getaddrinfo: EAI_NONAME, EAI_ADDRFAMILY (an IPv4-only name under the IPv6 rule).
_NO_SUCH_ADDRESS = ("[Errno -2]", "[Errno -9]")


class PoolAdapter(HTTPAdapter):
    """Every connection, direct or to a proxy, gets ``pool_settings`` (urllib3 pool keywords)."""

    def __init__(self, pool_settings: dict[str, Any]) -> None:
        self.pool_settings = pool_settings  # before HTTPAdapter.__init__, which makes the pools
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **{**kwargs, **self.pool_settings})

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        return super().proxy_manager_for(proxy, **{**proxy_kwargs, **self.pool_settings})


def _pool_settings(*, allow_ipv4: bool, x509_strict: bool | None) -> dict[str, Any]:
    settings: dict[str, Any] = {} if allow_ipv4 else {"source_address": IPV6_SOURCE}
    if x509_strict is not None:
        context = create_urllib3_context()  # Python's defaults, 3.13's strictness included
        if x509_strict:
            context.verify_flags |= ssl.VERIFY_X509_STRICT
        else:
            context.verify_flags &= ~ssl.VERIFY_X509_STRICT
        # Only the flag differs: requests still loads the bundle into it, urllib3 still
        # requires a valid chain and checks the host name.
        settings["ssl_context"] = context
    return settings


class RefusePlainHttp(HTTPAdapter):
    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> Any:
        raise requests.exceptions.InvalidSchema(f"refusing plain HTTP to {request.url}")


def configure(
    session: requests.Session, *, allow_ipv4: bool, x509_strict: bool | None = None
) -> requests.Session:
    """Apply the rules above to an existing session (the acme library makes its own).

    ``x509_strict`` None keeps Python's default; True or False sets VERIFY_X509_STRICT
    either way, for doctor's comparison only (x509strict): TLS stays verified.
    """
    settings = _pool_settings(allow_ipv4=allow_ipv4, x509_strict=x509_strict)
    if settings:
        session.mount("https://", PoolAdapter(settings))
    session.mount("http://", RefusePlainHttp())
    return session


class _Session(requests.Session):
    """A session that reads the environment once per origin, and whose own ``verify`` wins.

    requests looks at the environment (proxy variables, REQUESTS_CA_BUNDLE) on every
    request, scanning all of ``os.environ`` twice; an order with 100 names makes 200
    requests to the CA. The environment does not change during a run, so the result
    is kept per origin and settings.

    requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE replace ``session.verify``
    unless every request passes ``verify=``; many hosts export those variables.
    """

    def __init__(self) -> None:
        super().__init__()
        self.direct: DirectPool | None = None  # request_once's own connections
        self._environment: dict[tuple[Any, ...], dict[str, Any]] = {}
        self._environment_lock = threading.Lock()

    def close(self) -> None:
        super().close()
        if self.direct is not None:
            self.direct.close()

    def merge_environment_settings(
        self, url: Any, proxies: Any, stream: Any, verify: Any, cert: Any
    ) -> dict[str, Any]:
        parts = urllib.parse.urlsplit(str(url))
        given = tuple(sorted((proxies or {}).items()))
        key = (parts.scheme, parts.netloc, given, stream, verify, cert)
        with self._environment_lock:
            known = self._environment.get(key)
        if known is None:
            known = super().merge_environment_settings(url, proxies, stream, verify, cert)
            if verify is None and self.verify is not True:
                known["verify"] = self.verify
            with self._environment_lock:
                self._environment[key] = known
        return {**known, "proxies": dict(known["proxies"])}


@dataclass(frozen=True, slots=True)
class Response:
    """What a server answered to ``request_once``: status, headers (case-insensitive;
    a header sent several times is joined with ", "), body."""

    status: int
    headers: Mapping[str, str]
    body: bytes


def request_once(
    session: requests.Session,
    method: str,
    url: str,
    *,
    timeout: float,
    data: bytes | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """One request, no redirects followed, no cookies, no netrc, no hooks: the CA's
    ACME requests, 200 of them for an order of 100 names (issue #19).

    On a session from ``new_session`` it goes over a kept-alive connection of the
    session's own (``DirectPool``: http.client, a fraction of the CPU of requests and
    urllib3 together) when nothing stands between certv6 and the server: no proxy for
    this URL, no TLS settings of doctor's own. Otherwise, and whenever that
    connection fails, it goes through the session's adapters as ``Session.request``
    would (the same rules: IPv6 source, plain HTTP refused, the environment's
    proxy, the session's ``verify``), so errors are requests' exceptions, explained
    as everywhere else. A failed POST sent again cannot be applied twice: ACME
    rejects a replayed nonce (RFC 8555 6.5), and the caller signs the retry anew.

    Raises:
        requests.exceptions.RequestException: as ``Session.request`` would.
    """
    merged = CaseInsensitiveDict(session.headers)
    merged.update(headers or {})
    settings = session.merge_environment_settings(url, {}, None, None, None)
    found = getattr(session, "direct", None)
    direct = found if isinstance(found, DirectPool) else None
    usable = direct is not None and not settings["proxies"] and not settings["cert"]
    if usable and direct is not None:
        sent = direct.send(
            method, url, verify=settings["verify"], data=data, headers=merged, timeout=timeout
        )
        if sent is not None:
            return sent
    prepared = requests.PreparedRequest()
    prepared.prepare(method=method.upper(), url=url, headers=merged, data=data)
    response = session.get_adapter(url).send(
        prepared,
        timeout=timeout,
        verify=settings["verify"],
        cert=settings["cert"],
        proxies=settings["proxies"],
    )
    if usable and direct is not None:
        direct.answered(url)
    return Response(response.status_code, response.headers, response.content)


class DirectPool:
    """Kept-alive HTTPS connections (http.client), per origin, for ``request_once``.

    Only for an origin that answered through the session's adapters first: the
    first request (the CA's directory) finds out, with requests' error messages,
    whether the server is there at all. TLS as requests does it: the same CA bundle
    (``verify``; requests' own bundle when it is True), certificates and host names
    always checked. Connections bind an IPv6 source address unless IPv4 is allowed
    (the rule above). One request per connection at a time; idle ones are kept for
    the next request, at most ``KEEP`` per origin.
    """

    KEEP = 8

    def __init__(self, *, allow_ipv4: bool) -> None:
        self._source = None if allow_ipv4 else IPV6_SOURCE
        self._idle: dict[tuple[str, int, str], list[http.client.HTTPSConnection]] = {}
        self._contexts: dict[str, ssl.SSLContext] = {}
        self._answered: set[tuple[str, int]] = set()
        self._closed = False
        self._lock = threading.Lock()

    def answered(self, url: str) -> None:
        """The ordinary path got an answer from this URL's origin: it exists."""
        with self._lock:
            self._answered.add(_origin(url))

    def send(
        self,
        method: str,
        url: str,
        *,
        verify: str | bool,
        data: bytes | None,
        headers: Mapping[str, str],
        timeout: float,
    ) -> Response | None:
        """The response; None when this path cannot be used or no connection can be
        made (the caller sends it the ordinary way, which says why it fails).

        Raises:
            requests.exceptions.ReadTimeout: no answer within ``timeout``.
            requests.exceptions.ConnectionError: the connection failed or was dropped.
        """
        parts = urllib.parse.urlsplit(url)
        if parts.scheme != "https" or not parts.hostname or verify is False:
            return None
        with self._lock:
            if _origin(url) not in self._answered:
                return None
        origin = (parts.hostname, parts.port or 443, str(verify))
        connection = self._take(origin, verify, timeout)
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        if connection.sock is None:
            try:
                connection.connect()  # TCP and the TLS handshake
            except OSError:
                connection.close()
                return None  # the ordinary path connects again, and says why it cannot
        try:
            # http.client asks for the identity encoding itself and decodes nothing.
            sent = {k: v for k, v in headers.items() if k.lower() != "accept-encoding"}
            connection.request(method.upper(), path, body=data, headers=sent)
            answer = connection.getresponse()
            body = answer.read()
        except TimeoutError as error:
            connection.close()
            raise requests.exceptions.ReadTimeout(f"{url}: timed out") from error
        except (OSError, http.client.HTTPException) as error:
            connection.close()
            # As urllib3 raises it: the caller's retries decide (Network: with a backoff).
            raise requests.exceptions.ConnectionError(f"{url}: {error!r}") from error
        joined: dict[str, str] = {}
        for name, value in answer.getheaders():
            joined[name] = f"{joined[name]}, {value}" if name in joined else value
        if answer.will_close:
            connection.close()
        else:
            self._give_back(origin, connection)
        return Response(answer.status, CaseInsensitiveDict(joined), body)

    def close(self) -> None:
        with self._lock:
            self._closed = True  # a connection in use now is closed when it comes back
            idle = [c for connections in self._idle.values() for c in connections]
            self._idle.clear()
        for connection in idle:
            connection.close()

    def _take(
        self, origin: tuple[str, int, str], verify: str | bool, timeout: float
    ) -> http.client.HTTPSConnection:
        with self._lock:
            idle = self._idle.get(origin, [])
            while idle:
                connection = idle.pop()
                if _dropped(connection):
                    connection.close()
                    continue
                connection.timeout = timeout
                if connection.sock is not None:
                    connection.sock.settimeout(timeout)
                return connection
            context = self._contexts.get(origin[2])
            if context is None:
                context = self._contexts[origin[2]] = _tls_context(verify)
        host, port, _ = origin
        return http.client.HTTPSConnection(
            host, port, timeout=timeout, source_address=self._source, context=context
        )

    def _give_back(
        self, origin: tuple[str, int, str], connection: http.client.HTTPSConnection
    ) -> None:
        with self._lock:
            idle = self._idle.setdefault(origin, [])
            if len(idle) < self.KEEP and not self._closed:
                idle.append(connection)
                return
        connection.close()


def _dropped(connection: http.client.HTTPSConnection) -> bool:
    """An idle connection the server closed (or that has unread bytes): not reusable.

    urllib3 checks its pooled connections the same way before reusing them.
    """
    if connection.sock is None:
        return False
    poller = select.poll()  # not select(): no limit on the descriptor's number
    try:
        poller.register(connection.sock, select.POLLIN)
        return bool(poller.poll(0))
    except (OSError, ValueError):
        return True


def _origin(url: str) -> tuple[str, int]:
    parts = urllib.parse.urlsplit(url)
    return (parts.hostname or "", parts.port or 443)


def _tls_context(verify: str | bool) -> ssl.SSLContext:
    """What urllib3 builds for ``verify``: Python's defaults, host names checked."""
    where = DEFAULT_CA_BUNDLE_PATH if verify is True else str(verify)
    if os.path.isdir(where):
        return ssl.create_default_context(capath=where)
    return ssl.create_default_context(cafile=where)


def new_session(
    *,
    ca_bundle: str | None = None,
    allow_ipv4: bool = False,
    user_agent: str = "certv6",
    x509_strict: bool | None = None,
) -> requests.Session:
    session = _Session()
    if x509_strict is None:  # doctor's TLS comparisons go through urllib3 only
        session.direct = DirectPool(allow_ipv4=allow_ipv4)
    configure(session, allow_ipv4=allow_ipv4, x509_strict=x509_strict)
    session.verify = ca_bundle or True
    session.headers["User-Agent"] = user_agent
    return session


@dataclass(frozen=True, slots=True)
class HttpProbe:
    """One GET of a JSON document, as ``certv6 doctor`` reports it (never raises)."""

    url: str
    proxy: str | None  # the proxy used (credentials redacted), None when direct
    status: int | None  # HTTP status; None when no response
    body: dict[str, Any] | None  # the JSON object, when there was one
    problem: str  # "" when the document arrived
    hint: str | None
    elapsed: float
    strict: x509strict.StrictFailure | None = None  # TLS failed only a strict RFC 5280 check


def probe_json(
    url: str,
    *,
    ca_bundle: str | None,
    allow_ipv4: bool,
    timeout: float = 10.0,
    clock: Clock = SYSTEM_CLOCK,
    x509_strict: bool | None = None,
) -> HttpProbe:
    """GET ``url`` under certv6's rules once, no retries, and say what happened.

    ``x509_strict``: None for Python's default; doctor sets it to compare (see configure).
    """
    proxy = proxy_for(url)
    shown = redact(proxy) if proxy else None
    started = clock.monotonic()
    with new_session(
        ca_bundle=ca_bundle, allow_ipv4=allow_ipv4, x509_strict=x509_strict
    ) as session:
        try:
            response = session.get(url, timeout=timeout)
        except requests.exceptions.RequestException as error:
            message, hint = explain(url, error, what="the server", allow_ipv4=allow_ipv4)
            elapsed = clock.monotonic() - started
            strict = x509strict.strict_failure(error)
            return HttpProbe(url, shown, None, None, message, hint, elapsed, strict)
    elapsed = clock.monotonic() - started
    try:
        body = response.json()
    except ValueError:
        body = None
    if not response.ok or not isinstance(body, dict):
        problem = f"HTTP {response.status_code} from {url}" + ("" if body else " (not JSON)")
        return HttpProbe(url, shown, response.status_code, None, problem, None, elapsed)
    return HttpProbe(url, shown, response.status_code, body, "", None, elapsed)


def proxy_for(url: str) -> str | None:
    """The proxy requests will use for ``url`` (HTTPS_PROXY, ALL_PROXY, minus NO_PROXY)."""
    proxies = requests.utils.get_environ_proxies(url)
    return requests.utils.select_proxy(url, proxies)


def proxy_variables() -> dict[str, str]:
    """The proxy variables requests reads, by lower-case name, passwords redacted."""
    names = {"https_proxy", "http_proxy", "all_proxy", "no_proxy"}
    return {key.lower(): redact(value) for key, value in os.environ.items() if key.lower() in names}


def redact(url: str) -> str:
    """``url`` without the password in its user info (proxy URLs may carry one)."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


@dataclass(frozen=True, slots=True)
class HostAddresses:
    """What getaddrinfo (the system resolver, which requests uses) says about a host."""

    ipv6: tuple[str, ...]
    ipv4: tuple[str, ...]
    error: str = ""


def host_addresses(host: str, port: int = 443) -> HostAddresses:
    try:
        infos = socket.getaddrinfo(host, port, socket.AF_UNSPEC, socket.SOCK_STREAM)
    except (OSError, UnicodeError) as error:
        return HostAddresses((), (), str(error))
    v4 = socket.AF_INET  # ipv4-ok: reported apart, so messages can say "IPv4 only"
    found: dict[int, dict[str, None]] = {socket.AF_INET6: {}, v4: {}}
    for family, _, _, _, sockaddr in infos:
        if family in found:
            found[family].setdefault(str(sockaddr[0]), None)
    return HostAddresses(tuple(found[socket.AF_INET6]), tuple(found[v4]))


def has_ipv6(host: str) -> bool:
    return bool(host_addresses(host).ipv6)


def explain(
    url: str,
    error: requests.exceptions.RequestException,
    what: str = "the server",
    *,
    allow_ipv4: bool = False,
) -> tuple[str, str | None]:
    """A one-line message and hint for a failed request to ``url`` (``what`` names it)."""
    host = urllib.parse.urlsplit(url).hostname or url
    shown = f"[{host}]" if ":" in host else host
    if isinstance(error, requests.exceptions.SSLError):
        return _explain_tls(host, error)
    if isinstance(error, requests.exceptions.InvalidSchema):
        return str(error), "use an https:// URL"
    if isinstance(error, requests.exceptions.ProxyError):
        return _explain_proxy(url, host, error)
    if isinstance(error, requests.exceptions.ConnectionError):
        explained = None if allow_ipv4 else _explain_connection(host, shown, what, error)
        if explained is not None:
            return explained
    return f"cannot reach {what} at {shown}: {root_cause(error)}", None


# OpenSSL's X509_V_ERR_* codes that have a fix of their own (the strict ones: x509strict).
_NAME_MISMATCH = (62, 64)  # HOSTNAME_MISMATCH, IP_ADDRESS_MISMATCH
_OUTSIDE_VALIDITY = (9, 10)  # CERT_NOT_YET_VALID, CERT_HAS_EXPIRED
_UNTRUSTED = "the server's certificate is not trusted; set ca_bundle for a private CA"


def _explain_tls(host: str, error: requests.exceptions.SSLError) -> tuple[str, str]:
    strict = x509strict.strict_failure(error)
    if strict is not None:
        return f"TLS to {host} failed: certificate verify failed: {strict.reason}", strict.hint
    refused = x509strict.verification_error(error)
    if refused is None:
        return f"TLS to {host} failed: {root_cause(error)}", _UNTRUSTED
    message = f"TLS to {host} failed: certificate verify failed: {refused.verify_message}"
    if refused.verify_code in _NAME_MISMATCH:
        return message.rstrip("."), f"use a URL with a name the certificate lists, not {host}"
    if refused.verify_code in _OUTSIDE_VALIDITY:
        return message, "the server must renew its certificate, or this host's clock is wrong"
    return message, _UNTRUSTED


def _explain_connection(
    host: str, shown: str, what: str, error: requests.exceptions.RequestException
) -> tuple[str, str | None] | None:
    found = host_addresses(host)
    if not found.ipv6 and found.ipv4:
        return (
            f"{host} has no IPv6 address (only {', '.join(found.ipv4)})",
            "set HTTPS_PROXY to a proxy that reaches IPv4, use NAT64/DNS64, or --allow-ipv4",
        )
    if not found.ipv6:
        return f"cannot resolve {host}: {found.error or 'no address'}", "check the URL"
    if "[Errno -9]" in str(error):  # an IPv6 name or literal, yet no IPv6 socket fits
        return (
            f"cannot reach {what} at {shown}: this host has no usable IPv6 address",
            "configure IPv6 on this host ('certv6 doctor' shows what it has)",
        )
    if "[Errno 101]" in str(error):
        return (
            f"cannot reach {what} at {shown}: no IPv6 route",
            "check the host's IPv6 default route ('certv6 doctor'), or set HTTPS_PROXY",
        )
    if "[Errno 111]" in str(error):
        # Reached over IPv6, and nothing listens: the server is down, not the network.
        return (
            f"{what} at {shown} refused the connection: nothing listens there",
            f"{what} is down or the URL's port is wrong; the next run tries again",
        )
    return None


def _explain_proxy(
    url: str, host: str, error: requests.exceptions.RequestException
) -> tuple[str, str | None]:
    proxy = redact(proxy_for(url) or "the proxy")
    refused = _TUNNEL_REFUSED.search(str(error))
    if refused:
        return (
            f"the proxy {proxy} would not CONNECT to {host}: {refused.group(1).strip()}",
            "ask the proxy's operator to allow CONNECT to this host and port",
        )
    return (
        f"cannot reach the proxy {proxy}: {root_cause(error)}",
        "check HTTPS_PROXY; the proxy must have an IPv6 address this host can reach",
    )


def is_transient(error: requests.exceptions.RequestException) -> bool:
    """Could the same request work a little later? (timeouts, resets, refusals: yes)."""
    permanent = (
        requests.exceptions.SSLError,
        requests.exceptions.InvalidSchema,
        requests.exceptions.InvalidURL,
        requests.exceptions.MissingSchema,
    )
    text = str(error)
    if isinstance(error, permanent) or _TUNNEL_REFUSED.search(text):
        return False
    if any(code in text for code in _NO_SUCH_ADDRESS):
        return False
    return isinstance(error, requests.exceptions.ConnectionError | requests.exceptions.Timeout)


def backoff(attempt: int, *, first: float = 1.0, limit: float = 30.0) -> float:
    """``first``, then twice, four times ... that after attempt 1, 2, 3 ...; at most ``limit``."""
    return float(min(first * 2.0 ** (attempt - 1), limit))


def requested_delay(headers: Mapping[str, str], clock: Clock) -> float | None:
    """A Retry-After header in seconds (RFC 9110 10.2.3: a number or an HTTP date), unbounded.

    None when absent or unreadable; a date in the past is 0. The header name is
    matched case-insensitively for plain dicts too.
    """
    value = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
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
    if when.tzinfo is None:
        return None
    return max((when - clock.now()).total_seconds(), 0.0)


def root_cause(error: BaseException) -> str:
    """The innermost reason of a requests error, without urllib3's object reprs."""
    text = str(error)
    errno = re.search(r"\[Errno -?\d+\] [^'\")]+", text)
    if errno:
        return errno.group(0)
    if "CERTIFICATE_VERIFY_FAILED" in text:
        return "certificate verify failed"
    if isinstance(error, requests.exceptions.Timeout):
        return "timed out"
    return text[:200]
