"""HTTP for everything certv6 says to the outside (CA and DNS provider APIs).

Rules, the same for every caller:
- IPv6 only unless allowed: connections bind an IPv6 source address, so a host
  name with only A records fails at once instead of after a connect timeout
  (requests has no Happy Eyeballs).
- TLS always verified; plain http:// is refused, also after a redirect.
- HTTPS_PROXY / NO_PROXY are honoured (requests' CONNECT tunnel); the proxy's
  own address may be IPv6.
"""

from __future__ import annotations

import re
import socket
import urllib.parse
from typing import Any

import requests
from requests.adapters import HTTPAdapter

IPV6_SOURCE = ("::", 0)


class Ipv6Adapter(HTTPAdapter):
    """Every connection, direct or to a proxy, leaves from an IPv6 address."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["source_address"] = IPV6_SOURCE
        super().init_poolmanager(*args, **kwargs)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        proxy_kwargs["source_address"] = IPV6_SOURCE
        return super().proxy_manager_for(proxy, **proxy_kwargs)


class RefusePlainHttp(HTTPAdapter):
    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> Any:
        raise requests.exceptions.InvalidSchema(f"refusing plain HTTP to {request.url}")


def configure(session: requests.Session, *, allow_ipv4: bool) -> requests.Session:
    """Apply the rules above to an existing session (the acme library makes its own)."""
    if not allow_ipv4:
        session.mount("https://", Ipv6Adapter())
    session.mount("http://", RefusePlainHttp())
    return session


def new_session(
    *, ca_bundle: str | None = None, allow_ipv4: bool = False, user_agent: str = "certv6"
) -> requests.Session:
    session = configure(requests.Session(), allow_ipv4=allow_ipv4)
    session.verify = ca_bundle or True
    session.headers["User-Agent"] = user_agent
    return session


def explain(
    url: str, error: requests.exceptions.RequestException, what: str = "the server"
) -> tuple[str, str | None]:
    """A one-line message and hint for a failed request to ``url`` (``what`` names it)."""
    host = urllib.parse.urlsplit(url).hostname or url
    shown = f"[{host}]" if ":" in host else host
    if isinstance(error, requests.exceptions.SSLError):
        return (
            f"TLS to {host} failed: {root_cause(error)}",
            "the server's certificate is not trusted; set ca_bundle for a private CA",
        )
    if isinstance(error, requests.exceptions.InvalidSchema):
        return str(error), "use an https:// URL"
    if isinstance(error, requests.exceptions.ProxyError):
        return (
            f"the proxy failed to reach {host}: {root_cause(error)}",
            "check HTTPS_PROXY and that the proxy may CONNECT to this host",
        )
    if isinstance(error, requests.exceptions.ConnectionError) and not has_ipv6(host):
        return (
            f"{host} has no IPv6 address",
            "set HTTPS_PROXY to a proxy that reaches IPv4, use NAT64/DNS64, or --allow-ipv4",
        )
    return f"cannot reach {what} at {shown}: {root_cause(error)}", None


def has_ipv6(host: str) -> bool:
    try:
        return bool(socket.getaddrinfo(host, 443, socket.AF_INET6, socket.SOCK_STREAM))
    except (OSError, UnicodeError):
        return False


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
