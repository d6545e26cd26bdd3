"""acme-dns client: register once per domain, then update the TXT of its subdomain.

    [provider.acme-dns]
    server = "https://auth.example.net"       # the acme-dns API
    # allow_from = ["2001:db8::/64"]           # sources acme-dns accepts updates from

The operator CNAMEs ``_acme-challenge.<domain>`` to the account's ``fulldomain``
once; from then on certv6 posts each value to ``/update``. Credentials live per
domain in ``<state_dir>/acme-dns/<server>/<domain>.json`` (mode 0600). For
dns-account-01 the name to CNAME is ``_<label>._acme-challenge.<domain>`` and
it gets an acme-dns account of its own (``_<label>.<domain>.json``): each ACME
account then has its own two values, never pushed out by another's.

acme-dns keeps only the two most recent values per subdomain (enough for a name
and its wildcard) and has no delete: cleanup does nothing, and the next update
pushes old values out. ``hints().max_values_per_owner`` says so.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import logging
import re
import urllib.parse
from collections.abc import Sequence
from pathlib import Path

from certv6.errors import ConfigError, ProviderError
from certv6.model import CHALLENGE_LABEL, ProviderHints, TxtRecord
from certv6.providers import ProviderContext
from certv6.providers.common import HINT_OPTIONS, hints_from, seconds, write_private
from certv6.providers.httpapi import ApiClient, check_https_url
from certv6.settings import read_secret_file

log = logging.getLogger(__name__)

OPTIONS = ("server", "allow_from", "ca_bundle", "timeout", "credentials_dir", *HINT_OPTIONS)
VALUES_KEPT = 2  # acme-dns answers with the two most recent values of a subdomain
_SAFE = re.compile(r"[^a-z0-9.-]")
# _acme-challenge.<domain>, or _<label>._acme-challenge.<domain> (16 base32 characters).
_CHALLENGE_OWNER = re.compile(
    rf"(?:_(?P<label>[a-z2-7]{{16}})\.)?{CHALLENGE_LABEL}\.(?P<domain>.+)"
)


@dataclasses.dataclass(frozen=True, slots=True)
class AcmeDnsAccount:
    """What /register returned. ``password`` is a secret: never log or print it."""

    domain: str
    server: str
    username: str
    password: str
    subdomain: str
    fulldomain: str
    label: str = ""  # dns-account-01's account label; "" for _acme-challenge itself

    def __repr__(self) -> str:
        return f"AcmeDnsAccount(domain={self.domain!r}, fulldomain={self.fulldomain!r})"

    @property
    def owner(self) -> str:
        return self.fulldomain.rstrip(".").lower() + "."

    @property
    def cname(self) -> str:
        """The record the operator adds once: ``_acme-challenge.<domain>. CNAME <fulldomain>.``"""
        prefix = f"_{self.label}." if self.label else ""
        return f"{prefix}{CHALLENGE_LABEL}.{self.domain}. CNAME {self.owner}"


class AcmeDnsProvider:
    name = "acme-dns"
    keeps_records = False  # the next update pushes values out (no standing dns-persist-01)

    def __init__(self, context: ProviderContext) -> None:
        context.check_options(OPTIONS)
        self._context = context
        # Checked now: a bad propagation_timeout must not surface after the order.
        self._hints = hints_from(
            context, timeout=120.0, poll_interval=1.0, max_values_per_owner=VALUES_KEPT
        )
        server = check_https_url(str(context.option("server", required=True)), self.name)
        host = urllib.parse.urlsplit(server).netloc.lower()
        default_dir = context.state_dir / "acme-dns" / _SAFE.sub("_", host)
        self._dir = Path(str(context.option("credentials_dir", default_dir)))
        ca_bundle = context.option("ca_bundle")
        self._api = ApiClient(
            self.name,
            server,
            headers={"Accept": "application/json"},
            ca_bundle=str(ca_bundle) if ca_bundle else None,
            allow_ipv4=context.allow_ipv4,
            timeout=seconds(context, "timeout", 15.0),
            clock=context.clock,
            auth_hint=f"acme-dns refuses the account stored in {self._dir}: remove the"
            " domain's file there and run again to register anew (its CNAME changes)",
        )
        self._allow_from = _cidrs(context.option("allow_from", []))
        self._posted: set[tuple[str, str]] = set()  # (subdomain, value) sent by this run

    def hints(self) -> ProviderHints:
        return self._hints

    def present(self, records: Sequence[TxtRecord]) -> None:
        accounts = {record.owner: self._account_for(record) for record in records}
        for record in records:
            account = accounts[record.owner]
            if (account.subdomain, record.value) in self._posted:
                continue  # idempotent: posting again would push the other value out
            self._api.request(
                "POST",
                "/update",
                operation="present",
                record=str(record),
                body={"subdomain": account.subdomain, "txt": record.value},
                headers={"X-Api-User": account.username, "X-Api-Key": account.password},
                secrets=(account.password,),
            )
            self._posted.add((account.subdomain, record.value))
            log.info("acme-dns: %s updated for %s", account.fulldomain, account.domain)

    def cleanup(self, records: Sequence[TxtRecord]) -> None:
        """Nothing to do: acme-dns has no delete; newer values replace these (see module doc)."""

    def preflight(self) -> None:
        """IPv6 route to the server, and its /health answers."""
        self._api.preflight_route()
        self._api.request("GET", "/health", operation="preflight")

    def close(self) -> None:
        self._api.close()

    def register(self, domain: str, label: str = "") -> AcmeDnsAccount:
        """Create an acme-dns account for ``domain`` (with a dns-account-01 ``label``:
        for its labelled name) and store it (0600).

        Raises:
            ProviderError: the server refused, or the state directory is not writable.
        """
        body = {"allowfrom": list(self._allow_from)} if self._allow_from else None
        response = self._api.request(
            "POST", "/register", operation="register", record=domain, body=body, ok=(200, 201)
        )
        answer = self._api.json(response, operation="register", record=domain)
        account = dataclasses.replace(_account(answer, domain, self._api.base_url), label=label)
        write_private(
            self._path(domain, label),
            json.dumps(dataclasses.asdict(account)).encode(),
            provider=self.name,
        )
        log.warning("acme-dns: registered %s; add this record once: %s", domain, account.cname)
        return account

    def accounts(self) -> list[AcmeDnsAccount]:
        """Every stored account for this server."""
        if not self._dir.is_dir():
            return []
        return [self._load(path) for path in sorted(self._dir.glob("*.json"))]

    def _account_for(self, record: TxtRecord) -> AcmeDnsAccount:
        owner = record.owner.lower()
        for account in self.accounts():
            if account.owner == owner:
                return account
        named = _domain_of(owner)
        if named is None:
            raise ProviderError(
                f"acme-dns present of {record}: no stored acme-dns account has that fulldomain",
                provider=self.name,
                operation="present",
                record=str(record),
                hint=f"accounts live in {self._dir}; did the CNAME change?",
            )
        stored = self._path(*named)
        account = self._load(stored) if stored.exists() else self.register(*named)
        raise ProviderError(
            f"acme-dns present of {record}: {owner} is not a CNAME to acme-dns yet",
            provider=self.name,
            operation="present",
            record=str(record),
            hint=f"add this DNS record, then run certv6 again: {account.cname}",
        )

    def _path(self, domain: str, label: str = "") -> Path:
        name = f"_{label}.{domain}" if label else domain
        return self._dir / f"{_SAFE.sub('_', name.lower())}.json"

    def _load(self, path: Path) -> AcmeDnsAccount:
        data = read_secret_file(
            path, allow_insecure=self._context.allow_insecure_secrets, what="acme-dns account"
        )
        try:
            fields = json.loads(data)
            return AcmeDnsAccount(
                **{
                    f.name: str(fields[f.name] if f.name != "label" else fields.get("label", ""))
                    for f in dataclasses.fields(AcmeDnsAccount)
                }
            )
        except (ValueError, KeyError, TypeError):
            raise ConfigError(
                f"acme-dns account file {path} is damaged",
                hint="remove it; certv6 registers the domain again (and its CNAME changes)",
            ) from None


def _account(answer: object, domain: str, server: str) -> AcmeDnsAccount:
    keys = ("username", "password", "subdomain", "fulldomain")
    if not isinstance(answer, dict) or not all(isinstance(answer.get(k), str) for k in keys):
        raise ProviderError(
            f"acme-dns register of {domain}: the answer lacks {', '.join(keys)}",
            provider="acme-dns",
            operation="register",
            record=domain,
            hint="check that server is the acme-dns API URL",
        )
    return AcmeDnsAccount(domain, server, *(str(answer[k]) for k in keys))


def _domain_of(owner: str) -> tuple[str, str] | None:
    """(``example.org``, "") for ``_acme-challenge.example.org.``, (``example.org``,
    label) for dns-account-01's ``_<label>._acme-challenge.example.org.``; None for
    any other owner."""
    found = _CHALLENGE_OWNER.fullmatch(owner.rstrip("."))
    return (found["domain"], found["label"] or "") if found else None


def _cidrs(value: object) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError("acme-dns: allow_from must be a list of CIDR strings")
    for cidr in value:
        try:
            ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            raise ConfigError(
                f"acme-dns: allow_from entry {cidr!r} is not a CIDR (like '2001:db8::/64')"
            ) from None
    return tuple(value)
