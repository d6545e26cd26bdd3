"""Every provider, set up against the real thing where it runs here, else a wire-level stand-in.

A ``Case`` is one provider plus two questions the contract tests ask:
``owner(label)`` -- a fresh effective owner to write at, and ``visible(owner)`` --
the TXT values the world sees there now:

    rfc2136      real BIND9 primary in the lab (values read from it)         lab
    standalone   certv6's own server, delegated from certv6.test in the lab,
                 read through the lab's real resolver (unbound)              lab
    standalone   the same server on [::1], read by direct queries            local
    exec         a small program keeping values in a JSON file                local
    gandi        LiveDNS stand-in over HTTPS on [::1]                         local
    acme-dns     acme-dns stand-in over HTTPS on [::1] (its HTTP state)       local
    lexicon      a lexicon-like client behind the real adapter                local
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import secrets
import sys
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
from certv6.providers.lexicon import LexiconProvider
from fakes.acmedns import AcmeDns
from fakes.https import HttpsServer
from fakes.lexicon_fake import FakeLexicon
from fakes.livedns import BASE, LiveDns
from fakes.ports import free_port
from fakes.resolver import ZoneResolver
from fakes.tls import make_tls

ZONE = "example.test"


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
    pytest.param("standalone-lab", marks=pytest.mark.lab),
    "standalone",
    "exec",
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


def _rfc2136(request: pytest.FixtureRequest, tmp_path: Path, stack: contextlib.ExitStack) -> Case:
    lab = request.getfixturevalue("lab")
    threads = stack.enter_context(_client_threads(lab))
    dns = Dns(DnsSettings(resolvers=(f"[{lab.client_resolver}]:53",)))
    provider = build("rfc2136", {"key_file": str(lab.tsig_key_file)}, dns, tmp_path)
    return Case(
        "rfc2136",
        InNamespace(provider, threads),
        owner=lambda label: f"_acme-challenge.{unique(label)}.contract.certv6.test.",
        visible=lambda owner: lab.txt_at(lab.primary_addr, owner),
    )


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


# A program keeping the contract the way an operator's script must: add if missing,
# delete exactly the given value, be fine when it is already there or already gone.
EXEC_PROGRAM = """#!{python}
import fcntl, json, os, sys
action, fqdn, value = sys.argv[1:4]
assert os.environ["CERTV6_ACTION"] == action and os.environ["CERTV6_VALUE"] == value
path = {state!r}
with open(path + ".lock", "w") as lock:
    fcntl.flock(lock, fcntl.LOCK_EX)
    state = json.load(open(path)) if os.path.exists(path) else {{}}
    values = set(state.get(fqdn, []))
    (values.add if action == "present" else values.discard)(value)
    state[fqdn] = sorted(values)
    json.dump(state, open(path, "w"))
"""


def _exec(request: pytest.FixtureRequest, tmp_path: Path, stack: contextlib.ExitStack) -> Case:
    state = tmp_path / "records.json"
    program = tmp_path / "dns-hook"
    program.write_text(EXEC_PROGRAM.format(python=sys.executable, state=str(state)))
    program.chmod(0o755)
    resolver = stack.enter_context(ZoneResolver([ZONE]))
    provider = build("exec", {"program": str(program)}, resolver.dns(), tmp_path)

    def visible(owner: str) -> set[str]:
        return set(json.loads(state.read_text()).get(owner, [])) if state.exists() else set()

    return Case("exec", provider, lambda label: f"_acme-challenge.{unique(label)}.{ZONE}.", visible)


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

    def visible(owner: str) -> set[str]:
        return acmedns.values(owner.split(".", 1)[0])

    return Case("acme-dns", provider, owner, visible, cleanup_removes=False)


def lexicon_provider(
    tmp_path: Path, stack: contextlib.ExitStack
) -> tuple[LexiconProvider, FakeLexicon]:
    """The real lexicon adapter with a lexicon-like client (also rrset_cases)."""
    fake = FakeLexicon()
    credentials = tmp_path / "lexicon.toml"
    credentials.write_text(f'auth_token = "{fake.token}"\n')
    credentials.chmod(0o600)
    resolver = stack.enter_context(ZoneResolver([ZONE]))
    options = {"provider": fake.provider, "credentials_file": credentials}
    context = ProviderContext(
        name="lexicon", options=options, dns=resolver.dns(), state_dir=tmp_path
    )
    return LexiconProvider(context, client_factory=fake), fake


def _lexicon(request: pytest.FixtureRequest, tmp_path: Path, stack: contextlib.ExitStack) -> Case:
    provider, fake = lexicon_provider(tmp_path, stack)
    return Case(
        "lexicon", provider, lambda label: f"_acme-challenge.{unique(label)}.{ZONE}.", fake.txt
    )


@contextlib.contextmanager
def _client_threads(lab: Any) -> Iterator[Any]:
    from lab.netns import NamespaceThreads

    threads = NamespaceThreads(lab.client_ns, workers=4)
    try:
        yield threads
    finally:
        threads.close()


BUILDERS: dict[str, Callable[[pytest.FixtureRequest, Path, contextlib.ExitStack], Case]] = {
    "rfc2136": _rfc2136,
    "standalone-lab": _standalone_lab,
    "standalone": _standalone,
    "exec": _exec,
    "gandi": _gandi,
    "acme-dns": _acme_dns,
    "lexicon": _lexicon,
}
