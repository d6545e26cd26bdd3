"""Every provider that declares AAAA in its record_support, for the RRset contract.

An ``RRsetCase`` is one provider, a fresh owner to write at, and what the world
sees there now (the AAAA values, in RFC 5952 form):

    rfc2136      the lab's BIND primary, with the admin key (AAAA allowed)      lab
    rfc2136-knot the lab's Knot primary, admin key (its acl allows any type)    lab
    rfc2136-pdns the lab's PowerDNS primary (TSIG-ALLOW-DNSUPDATE: any type)    lab
    standalone   certv6's own server on [::1] for a configured zone            local
    exec         a program keeping the values in a JSON file (record_types)    local
    gandi        the LiveDNS stand-in over HTTPS on [::1]                      local
    lexicon      real dns-lexicon (powerdns) -> a real PowerDNS API on [::1]    local
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import secrets
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dns.flags
import dns.message
import dns.query
import pytest
from contract_cases import (
    ZONE,
    InNamespace,
    build,
    gandi_provider,
    lab_primary,
    lexicon_provider,
    unique,
)

from certv6.dnsquery import Dns, DnsSettings
from certv6.providers import Provider, RecordWriter, require_record_type
from fakes.ports import free_port
from fakes.resolver import ZoneResolver

RRSET_CASES = [
    pytest.param("rfc2136", marks=pytest.mark.lab),
    pytest.param("rfc2136-knot", marks=pytest.mark.lab),
    pytest.param("rfc2136-pdns", marks=pytest.mark.lab),
    "standalone",
    "exec",
    "gandi",
    "lexicon",
]


Builder = Callable[[pytest.FixtureRequest, Path, contextlib.ExitStack], "RRsetCase"]


@dataclass
class RRsetCase:
    name: str
    writer: RecordWriter
    owner: Callable[[str], str]
    visible: Callable[[str], set[str]]
    conditional: bool = True  # the provider refuses a change whose RRset moved


def address() -> str:
    """A random address in 2001:db8::/32 (RFC 3849), in RFC 5952 form."""
    return str(ipaddress.IPv6Address((0x20010DB8 << 96) | secrets.randbits(96)))


@pytest.fixture(params=RRSET_CASES)
def rrset_case(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RRsetCase]:
    with contextlib.ExitStack() as stack:
        made = BUILDERS[request.param](request, tmp_path, stack)
        yield made


def _writer(
    provider: Provider, stack: contextlib.ExitStack, *, long_running: bool = False
) -> RecordWriter:
    close = getattr(provider, "close", None)
    if callable(close):
        stack.callback(close)
    return require_record_type(provider, "AAAA", long_running=long_running)


class _InNamespaceWriter(InNamespace):
    def __init__(self, provider: Provider, threads: object, writer: RecordWriter) -> None:
        super().__init__(provider, threads)
        self.record_support = writer.record_support
        self._writer = writer

    def replace_rrsets(self, changes: object) -> None:
        self._threads.call(self._writer.replace_rrsets, changes)


def _rfc2136_at(kind: str) -> Builder:
    """rfc2136 against a real primary of the lab: each server checks RFC 2136 prerequisites
    itself (BIND answers a failed one with YXRRSET or NXRRSET, so do Knot and PowerDNS)."""

    def build_case(
        request: pytest.FixtureRequest, tmp_path: Path, stack: contextlib.ExitStack
    ) -> RRsetCase:
        lab = request.getfixturevalue("lab")
        primary = lab_primary(lab, kind)
        zone = {"bind": "rrset.certv6.test.", "knot": "knot.test."}.get(kind, "pdns.test.")
        # PowerDNS lets any key in TSIG-ALLOW-DNSUPDATE change any type; BIND's and Knot's
        # policies give the dns-01 key TXT only, their admin key everything.
        key = lab.tsig_key_file if kind == "pdns" else lab.admin_key_file
        return RRsetCase(
            f"rfc2136-{kind}",
            lab_rfc2136_writer(lab, key, tmp_path, stack),
            owner=lambda label: f"{unique(label)}.{zone}",
            visible=lambda owner: lab_aaaa_at(lab, primary, owner),
        )

    return build_case


def lab_rfc2136_writer(
    lab: Any, key: Path, tmp_path: Path, stack: contextlib.ExitStack
) -> RecordWriter:
    """rfc2136 with ``key``, run on threads inside the lab's client namespace."""
    from lab.netns import NamespaceThreads

    threads = NamespaceThreads(lab.client_ns, workers=2)
    stack.callback(threads.close)
    dns_ = Dns(DnsSettings(resolvers=(f"[{lab.client_resolver}]:53",)))
    provider = build("rfc2136", {"key_file": str(key)}, dns_, tmp_path)
    return _InNamespaceWriter(provider, threads, _writer(provider, stack))


def lab_aaaa_at(lab: Any, server: str, owner: str) -> set[str]:
    """The AAAA values ``server`` serves at ``owner`` (RD=0), in RFC 5952 form."""
    response = lab.query(server, owner, "AAAA")
    return {rdata.address for rrset in response.answer for rdata in rrset}


def _standalone(
    request: pytest.FixtureRequest, tmp_path: Path, stack: contextlib.ExitStack
) -> RRsetCase:
    port = free_port()
    options = {"listen": f"[::1]:{port}", "zones": [ZONE], "nameservers": [f"ns.{ZONE}"]}
    provider = build("standalone", options, Dns(DnsSettings(resolvers=("[::1]:9",))), tmp_path)
    writer = _writer(provider, stack, long_running=True)
    provider.preflight()

    def visible(owner: str) -> set[str]:
        query = dns.message.make_query(owner, "AAAA", use_edns=0, flags=0)
        response = dns.query.udp(query, "::1", port=port, timeout=2)
        assert response.flags & dns.flags.AA, response
        return {rdata.address for rrset in response.answer for rdata in rrset}

    return RRsetCase("standalone", writer, lambda label: f"{unique(label)}.{ZONE}.", visible)


# The extended exec convention (docs/providers.md): PROGRAM present|cleanup FQDN VALUE TYPE.
EXEC_PROGRAM = """#!{python}
import fcntl, json, os, sys
action, fqdn, value = sys.argv[1:4]
kind = sys.argv[4] if len(sys.argv) > 4 else "TXT"
assert os.environ["CERTV6_TYPE"] == kind
path = {state!r}
with open(path + ".lock", "w") as lock:
    fcntl.flock(lock, fcntl.LOCK_EX)
    state = json.load(open(path)) if os.path.exists(path) else {{}}
    key = fqdn + " " + kind
    values = set(state.get(key, []))
    (values.add if action == "present" else values.discard)(value)
    state[key] = sorted(values)
    json.dump(state, open(path, "w"))
"""


def _exec(request: pytest.FixtureRequest, tmp_path: Path, stack: contextlib.ExitStack) -> RRsetCase:
    state = tmp_path / "records.json"
    program = tmp_path / "dns-hook"
    program.write_text(EXEC_PROGRAM.format(python=sys.executable, state=str(state)))
    program.chmod(0o755)
    resolver = stack.enter_context(ZoneResolver([ZONE]))
    options = {"program": str(program), "record_types": ["AAAA"]}
    provider = build("exec", options, resolver.dns(), tmp_path)

    def visible(owner: str) -> set[str]:
        found = json.loads(state.read_text()) if state.exists() else {}
        return set(found.get(f"{owner} AAAA", []))

    return RRsetCase(
        "exec",
        _writer(provider, stack),
        lambda label: f"{unique(label)}.{ZONE}.",
        visible,
        conditional=False,
    )


def _gandi(
    request: pytest.FixtureRequest, tmp_path: Path, stack: contextlib.ExitStack
) -> RRsetCase:
    provider, livedns = gandi_provider(tmp_path, stack)

    def visible(owner: str) -> set[str]:
        key = (ZONE, owner.removesuffix(f".{ZONE}."), "AAAA")
        with livedns.lock:
            _, values = livedns.records.get(key, (0, []))
        return {str(ipaddress.IPv6Address(v)) for v in values}

    return RRsetCase(
        "gandi", _writer(provider, stack), lambda label: f"{unique(label)}.{ZONE}.", visible
    )


def _lexicon(
    request: pytest.FixtureRequest, tmp_path: Path, stack: contextlib.ExitStack
) -> RRsetCase:
    provider, pdns = lexicon_provider(tmp_path, stack)
    return RRsetCase(
        "lexicon", _writer(provider, stack), lambda label: f"{unique(label)}.{ZONE}.", pdns.aaaa
    )


BUILDERS: dict[str, Builder] = {
    "rfc2136": _rfc2136_at("bind"),
    "rfc2136-knot": _rfc2136_at("knot"),
    "rfc2136-pdns": _rfc2136_at("pdns"),
    "standalone": _standalone,
    "exec": _exec,
    "gandi": _gandi,
    "lexicon": _lexicon,
}
