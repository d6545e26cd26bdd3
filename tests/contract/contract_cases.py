"""Every provider, set up against the real thing where it runs here, else a wire-level stand-in.

A ``Case`` is one provider plus two questions the contract tests ask:
``owner(label)`` -- a fresh effective owner to write at, and ``visible(owner)`` --
the TXT values the world sees there now:

    rfc2136      real BIND9 primary in the lab (values read from it)         lab
    rfc2136-*    the same with ``server`` set, and against real Knot and
                 PowerDNS primaries, with and without ``server``             lab
    standalone   certv6's own server, delegated from certv6.test in the lab,
                 read through the lab's real resolver (unbound)              lab
    standalone   the same server on [::1], read by direct queries            local
    exec         docs/providers.md's nsupdate script, real BIND9 primary     lab
    gandi        LiveDNS stand-in over HTTPS on [::1]                         local
    acme-dns     acme-dns stand-in over HTTPS on [::1] (its HTTP state)       local
    lexicon      real dns-lexicon (powerdns) -> real PowerDNS API over
                 HTTPS on [::1], values read back over DNS                    local

exec and lexicon hand the real work to something else (the operator's script,
lexicon's provider): their cases use the real script and the real library
against real servers, so what passes here is certv6 plus the real thing, not a
stand-in written to pass.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import secrets
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dns.flags
import dns.message
import dns.query
import pytest

from certv6.dnsquery import Dns, DnsSettings
from certv6.model import ProviderHints, TxtRecord
from certv6.providers import Provider, ProviderContext, load_provider
from fakes.acmedns import AcmeDns
from fakes.https import HttpsServer
from fakes.livedns import BASE, LiveDns
from fakes.ports import free_port
from fakes.resolver import ZoneResolver
from fakes.tls import make_tls
from servers.nsupdate_hook import write_nsupdate_hook
from servers.powerdns import PowerDns

ZONE = "example.test"
# draft-ietf-acme-dns-account-label's example account's label
ACCOUNT_LABEL = "ujmmovf2vn55tgye"


Builder = Callable[[pytest.FixtureRequest, Path, contextlib.ExitStack], "Case"]


def challenge_value() -> str:
    """A value shaped like a real dns-01 value: base64url SHA-256, 43 characters (RFC 8555 8.4)."""
    digest = hashlib.sha256(secrets.token_bytes(32)).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


@dataclass
class Case:
    name: str
    provider: Provider
    owner: Callable[[str], str]
    visible: Callable[[str], set[str]]
    # acme-dns has no delete: cleanup may leave a value until newer ones push it out.
    cleanup_removes: bool = True
    # dns-account-01's owner, a label below _acme-challenge; default: that label on owner()
    labelled: Callable[[str], str] | None = None

    def account_owner(self, label: str) -> str:
        if self.labelled is not None:
            return self.labelled(label)
        return f"_{ACCOUNT_LABEL}.{self.owner(label)}"

    def records(self, *pairs: tuple[str, str]) -> list[TxtRecord]:
        return [TxtRecord(owner, value) for owner, value in pairs]


class InNamespace:
    """Runs every provider call on a thread inside a lab namespace (sockets live there)."""

    def __init__(self, provider: Provider, threads: Any) -> None:
        self.name = provider.name
        self._provider = provider
        self._threads = threads

    def present(self, records: Sequence[TxtRecord]) -> None:
        self._threads.call(self._provider.present, records)

    def cleanup(self, records: Sequence[TxtRecord]) -> None:
        self._threads.call(self._provider.cleanup, records)

    def hints(self) -> ProviderHints:
        return self._provider.hints()

    def preflight(self) -> None:
        self._threads.call(self._provider.preflight)

    def preflight_for(self, records: Sequence[TxtRecord]) -> None:
        scoped = getattr(self._provider, "preflight_for", None)
        if callable(scoped):
            self._threads.call(scoped, records)

    def close(self) -> None:
        close = getattr(self._provider, "close", None)
        if callable(close):
            self._threads.call(close)


def build(name: str, options: dict[str, Any], dns: Dns, state_dir: Path) -> Provider:
    return load_provider(ProviderContext(name=name, options=options, dns=dns, state_dir=state_dir))


def ask_txt(host: str, port: int, owner: str) -> set[str]:
    query = dns.message.make_query(owner, "TXT", use_edns=0, flags=0)
    response = dns.query.udp(query, host, port=port, timeout=2)
    assert response.flags & dns.flags.AA, response
    return {b"".join(r.strings).decode() for rrset in response.answer for r in rrset}


def unique(label: str) -> str:
    return f"{label}-{uuid.uuid4().hex[:8]}"


CASES = [
    pytest.param("rfc2136", marks=pytest.mark.lab),
    pytest.param("rfc2136-server", marks=pytest.mark.lab),
    pytest.param("rfc2136-knot", marks=pytest.mark.lab),
    pytest.param("rfc2136-knot-server", marks=pytest.mark.lab),
    pytest.param("rfc2136-pdns", marks=pytest.mark.lab),
    pytest.param("rfc2136-pdns-server", marks=pytest.mark.lab),
    pytest.param("standalone-lab", marks=pytest.mark.lab),
    "standalone",
    pytest.param("exec", marks=pytest.mark.lab),
    "gandi",
    "acme-dns",
    "lexicon",
]


@pytest.fixture(params=CASES)
def case(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Case]:
    with contextlib.ExitStack() as stack:
        made = BUILDERS[request.param](request, tmp_path, stack)
        close = getattr(made.provider, "close", None)
        if callable(close):
            stack.callback(close)
        yield made


def lab_primary(lab: Any, kind: str) -> str:
    """The address of the lab's BIND, Knot or PowerDNS primary (started if need be)."""
    if kind != "bind":
        lab.start_servers()
    return {"bind": lab.primary_addr, "knot": lab.knot_addr, "pdns": lab.pdns_addr}[kind]


def _rfc2136_against(kind: str, with_server: bool) -> Builder:
    """rfc2136 against a real primary: BIND (ns1), Knot or PowerDNS; ``server`` set or not
    (unset: certv6 finds the primary from the zone's SOA MNAME)."""

    def build_case(
        request: pytest.FixtureRequest, tmp_path: Path, stack: contextlib.ExitStack
    ) -> Case:
        lab = request.getfixturevalue("lab")
        primary = lab_primary(lab, kind)
        zone = {"bind": "contract.certv6.test.", "knot": "contract.knot.test."}.get(
            kind, "contract.pdns.test."
        )
        threads = stack.enter_context(_client_threads(lab))
        dns = Dns(DnsSettings(resolvers=(f"[{lab.client_resolver}]:53",)))
        options = {"key_file": str(lab.tsig_key_file)}
        if with_server:
            options["server"] = f"[{primary}]:53"
        provider = build("rfc2136", options, dns, tmp_path)
        return Case(
            f"rfc2136-{kind}",
            InNamespace(provider, threads),
            owner=lambda label: f"_acme-challenge.{unique(label)}.{zone}",
            visible=lambda owner: lab.txt_at(primary, owner),
        )

    return build_case


def _standalone_lab(
    request: pytest.FixtureRequest, tmp_path: Path, stack: contextlib.ExitStack
) -> Case:
    # _acme-challenge.standalone.certv6.test is delegated (NS) to the client: certv6 answers
    # there on port 53, and the lab's real resolver must find the values through BIND.
    lab = request.getfixturevalue("lab")
    threads = stack.enter_context(_client_threads(lab))
    dns = Dns(DnsSettings(resolvers=(f"[{lab.client_resolver}]:53",)))
    provider = build("standalone", {}, dns, tmp_path)
    wrapped = InNamespace(provider, threads)
    wrapped.preflight()
    return Case(
        "standalone-lab",
        wrapped,
        owner=lambda label: f"{unique(label)}._acme-challenge.standalone.certv6.test.",
        visible=lambda owner: lab.resolve(owner, "TXT"),
    )


def _standalone(
    request: pytest.FixtureRequest, tmp_path: Path, stack: contextlib.ExitStack
) -> Case:
    port = free_port()
    options = {"listen": f"[::1]:{port}", "nameservers": [f"ns.{ZONE}"]}
    provider = build("standalone", options, Dns(DnsSettings(resolvers=("[::1]:9",))), tmp_path)
    provider.preflight()
    return Case(
        "standalone",
        provider,
        owner=lambda label: f"_acme-challenge.{unique(label)}.{ZONE}.",
        visible=lambda owner: ask_txt("::1", port, owner),
    )


def _exec(request: pytest.FixtureRequest, tmp_path: Path, stack: contextlib.ExitStack) -> Case:
    lab = request.getfixturevalue("lab")
    threads = stack.enter_context(_client_threads(lab))
    # The primary is named: these threads share the host's resolv.conf, not the lab's.
    program = write_nsupdate_hook(tmp_path / "dns-hook", lab.tsig_key_file, lab.primary_addr)
    dns = Dns(DnsSettings(resolvers=(f"[{lab.client_resolver}]:53",)))
    provider = build("exec", {"program": str(program)}, dns, tmp_path)
    return Case(
        "exec",
        InNamespace(provider, threads),
        owner=lambda label: f"_acme-challenge.{unique(label)}.contract.certv6.test.",
        visible=lambda owner: lab.txt_at(lab.primary_addr, owner),
    )


def gandi_provider(tmp_path: Path, stack: contextlib.ExitStack) -> tuple[Provider, LiveDns]:
    """The gandi provider against a LiveDNS stand-in over HTTPS on [::1] (also rrset_cases)."""
    token = secrets.token_urlsafe(24)
    livedns = LiveDns(token, [ZONE])
    server = stack.enter_context(HttpsServer(livedns, make_tls(tmp_path)))
    token_file = tmp_path / "gandi.token"
    token_file.write_text(token + "\n")
    token_file.chmod(0o600)
    resolver = stack.enter_context(ZoneResolver([ZONE]))
    options = {
        "token_file": token_file,
        "api_url": server.url + BASE,
        "ca_bundle": str(tmp_path / "ca.pem"),
    }
    return build("gandi", options, resolver.dns(), tmp_path), livedns


def _gandi(request: pytest.FixtureRequest, tmp_path: Path, stack: contextlib.ExitStack) -> Case:
    provider, livedns = gandi_provider(tmp_path, stack)
    return Case(
        "gandi",
        provider,
        owner=lambda label: f"_acme-challenge.{unique(label)}.{ZONE}.",
        visible=lambda owner: livedns.txt(ZONE, owner.removesuffix(f".{ZONE}.")),
    )


def _acme_dns(request: pytest.FixtureRequest, tmp_path: Path, stack: contextlib.ExitStack) -> Case:
    acmedns = AcmeDns()
    server = stack.enter_context(HttpsServer(acmedns, make_tls(tmp_path)))
    options = {"server": server.url, "ca_bundle": str(tmp_path / "ca.pem")}
    provider = build("acme-dns", options, Dns(DnsSettings(resolvers=("[::1]:9",))), tmp_path)

    def owner(label: str) -> str:
        # What the CNAME _acme-challenge.<domain> -> fulldomain makes the effective owner.
        return provider.register(f"{unique(label)}.{ZONE}").owner  # type: ignore[attr-defined]

    def labelled(label: str) -> str:
        # _<label>._acme-challenge.<domain> CNAMEd to an acme-dns account of its own.
        domain = f"{unique(label)}.{ZONE}"
        return provider.register(domain, ACCOUNT_LABEL).owner  # type: ignore[attr-defined]

    def visible(owner: str) -> set[str]:
        return acmedns.values(owner.split(".", 1)[0])

    return Case("acme-dns", provider, owner, visible, cleanup_removes=False, labelled=labelled)


def lexicon_provider(tmp_path: Path, stack: contextlib.ExitStack) -> tuple[Provider, PowerDns]:
    """Real dns-lexicon (powerdns) against a real PowerDNS API on [::1] (also rrset_cases)."""
    pdns = stack.enter_context(PowerDns(tmp_path / "pdns", zones=[ZONE]))
    credentials = tmp_path / "lexicon.toml"
    credentials.write_text(f'auth_token = "{pdns.api_key}"\n')
    credentials.chmod(0o600)
    options = {
        "provider": "powerdns",
        "credentials_file": str(credentials),
        "settings": {"pdns_server": pdns.api_url},
        "ca_bundle": str(pdns.ca_bundle),
    }
    dns = Dns(DnsSettings(resolvers=(f"[::1]:{pdns.dns_port}",)))
    provider = build("lexicon", options, dns, tmp_path)
    return provider, pdns


def _lexicon(request: pytest.FixtureRequest, tmp_path: Path, stack: contextlib.ExitStack) -> Case:
    provider, pdns = lexicon_provider(tmp_path, stack)
    return Case(
        "lexicon", provider, lambda label: f"_acme-challenge.{unique(label)}.{ZONE}.", pdns.txt
    )


@contextlib.contextmanager
def _client_threads(lab: Any) -> Iterator[Any]:
    from lab.netns import NamespaceThreads

    threads = NamespaceThreads(lab.client_ns, workers=4)
    try:
        yield threads
    finally:
        threads.close()


BUILDERS: dict[str, Builder] = {
    "rfc2136": _rfc2136_against("bind", with_server=False),
    "rfc2136-server": _rfc2136_against("bind", with_server=True),
    "rfc2136-knot": _rfc2136_against("knot", with_server=False),
    "rfc2136-knot-server": _rfc2136_against("knot", with_server=True),
    "rfc2136-pdns": _rfc2136_against("pdns", with_server=False),
    "rfc2136-pdns-server": _rfc2136_against("pdns", with_server=True),
    "standalone-lab": _standalone_lab,
    "standalone": _standalone,
    "exec": _exec,
    "gandi": _gandi,
    "acme-dns": _acme_dns,
    "lexicon": _lexicon,
}
