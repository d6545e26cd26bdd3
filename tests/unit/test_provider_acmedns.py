"""The acme-dns provider against an acme-dns stand-in over HTTPS on [::1]."""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from certv6.errors import ConfigError, ProviderAuthError, ProviderError, ProviderUnreachable
from certv6.model import TxtRecord
from certv6.providers import ProviderContext
from certv6.providers.acmedns import AcmeDnsProvider
from fakes.acmedns import AcmeDns
from fakes.https import HttpsServer
from fakes.resolver import ZoneResolver
from fakes.tls import make_tls

VALUE_A = "A" * 43  # acme-dns accepts only 43-character values, like real dns-01 ones
VALUE_B = "B" * 43
VALUE_C = "C" * 43


@dataclass
class Setup:
    acmedns: AcmeDns
    server: HttpsServer
    ca_bundle: Path
    resolver: ZoneResolver
    state_dir: Path

    def provider(self, **options: object) -> AcmeDnsProvider:
        defaults = {"server": self.server.url, "ca_bundle": str(self.ca_bundle)}
        context = ProviderContext(
            name="acme-dns",
            options={**defaults, **options},
            dns=self.resolver.dns(),
            state_dir=self.state_dir,
        )
        return AcmeDnsProvider(context)


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[Setup]:
    tls = make_tls(tmp_path)
    acmedns = AcmeDns()
    with HttpsServer(acmedns, tls) as server, ZoneResolver(["example.test"]) as resolver:
        yield Setup(acmedns, server, tls.ca_bundle, resolver, tmp_path / "state")


def test_first_run_registers_and_says_which_cname_to_add(setup: Setup) -> None:
    provider = setup.provider()
    record = TxtRecord("_acme-challenge.www.example.test.", VALUE_A)
    with pytest.raises(ProviderError) as raised:
        provider.present([record])
    (account,) = provider.accounts()
    assert raised.value.hint == (
        "add this DNS record, then run certv6 again: "
        f"_acme-challenge.www.example.test. CNAME {account.fulldomain}."
    )
    assert raised.value.operation == "present" and raised.value.provider == "acme-dns"
    assert account.password not in raised.value.message + raised.value.hint
    # Stored once, private; the next run without the CNAME repeats the hint, no new account.
    files = list(setup.state_dir.glob("acme-dns/*/*.json"))
    assert [f.name for f in files] == ["www.example.test.json"]
    assert stat.S_IMODE(files[0].stat().st_mode) == 0o600
    with pytest.raises(ProviderError, match="not a CNAME to acme-dns yet"):
        setup.provider().present([record])
    assert len(setup.acmedns.accounts) == 1


def test_effective_owner_maps_back_to_its_account(setup: Setup) -> None:
    provider = setup.provider()
    account = provider.register("www.example.test")
    provider.present([TxtRecord(account.owner, VALUE_A), TxtRecord(account.owner, VALUE_B)])
    assert setup.acmedns.values(account.subdomain) == {VALUE_A, VALUE_B}
    update = setup.server.requests[-1]
    assert update.headers["x-api-user"] == account.username
    assert update.json() == {"subdomain": account.subdomain, "txt": VALUE_B}


def test_present_again_does_not_push_the_other_value_out(setup: Setup) -> None:
    provider = setup.provider()
    owner = provider.register("www.example.test").owner
    provider.present([TxtRecord(owner, VALUE_A), TxtRecord(owner, VALUE_B)])
    posts = len(setup.server.requests)
    provider.present([TxtRecord(owner, VALUE_A)])
    assert len(setup.server.requests) == posts


def test_a_third_value_pushes_the_oldest_out_and_cleanup_is_a_no_op(setup: Setup) -> None:
    provider = setup.provider()
    account = provider.register("www.example.test")
    for value in (VALUE_A, VALUE_B, VALUE_C):
        provider.present([TxtRecord(account.owner, value)])
    provider.cleanup([TxtRecord(account.owner, VALUE_C)])
    assert setup.acmedns.values(account.subdomain) == {VALUE_B, VALUE_C}
    assert provider.hints().max_values_per_owner == 2


def test_stored_password_refused_is_an_auth_error_without_the_password(setup: Setup) -> None:
    provider = setup.provider()
    account = provider.register("www.example.test")
    path = next(setup.state_dir.glob("acme-dns/*/www.example.test.json"))
    stored = json.loads(path.read_text())
    stored["password"] = "not-the-password-at-all-0123456789"  # noqa: S105 (a wrong one)
    path.write_text(json.dumps(stored))
    with pytest.raises(ProviderAuthError) as raised:
        setup.provider().present([TxtRecord(account.owner, VALUE_A)])
    assert "HTTP 401" in raised.value.message and "forbidden" in raised.value.message
    assert "not-the-password" not in raised.value.message
    assert "register anew" in raised.value.hint


def test_unknown_fulldomain(setup: Setup) -> None:
    with pytest.raises(ProviderError, match="no stored acme-dns account"):
        setup.provider().present([TxtRecord("someone.auth.acme-dns.test.", VALUE_A)])


def test_damaged_or_open_account_files_are_refused(setup: Setup) -> None:
    provider = setup.provider()
    provider.register("www.example.test")
    path = next(setup.state_dir.glob("acme-dns/*/www.example.test.json"))
    path.chmod(0o644)
    with pytest.raises(ConfigError, match="readable by other users"):
        provider.accounts()
    path.chmod(0o600)
    path.write_text("{not json")
    with pytest.raises(ConfigError, match="damaged"):
        provider.accounts()


def test_allow_from_is_sent_at_registration(setup: Setup) -> None:
    setup.provider(allow_from=["2001:db8::/64"]).register("www.example.test")
    assert setup.server.requests[-1].json() == {"allowfrom": ["2001:db8::/64"]}


def test_preflight(setup: Setup) -> None:
    setup.provider().preflight()
    assert setup.server.requests[-1].path == "/health"
    with pytest.raises(ProviderUnreachable, match="has no IPv6 address"):
        setup.provider(server="https://192.0.2.10").preflight()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"server": "http://[::1]:1"}, "not an https:// URL"),
        ({"allow_from": "2001:db8::/64"}, "must be a list"),
    ],
)
def test_bad_options(setup: Setup, options: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        setup.provider(**options)


def test_a_dns_account_01_name_gets_an_account_of_its_own(setup: Setup) -> None:
    # draft-ietf-acme-dns-account-label: _<label>._acme-challenge.<name> is CNAMEd on its
    # own, so this ACME account's two values never push out another client's.
    provider = setup.provider()
    plain = provider.register("www.example.test")
    labelled = "_ujmmovf2vn55tgye._acme-challenge.www.example.test."
    with pytest.raises(ProviderError) as raised:
        provider.present([TxtRecord(labelled, VALUE_A)])
    mine = next(a for a in provider.accounts() if a.label)
    assert raised.value.hint == (
        f"add this DNS record, then run certv6 again: {labelled} CNAME {mine.fulldomain}."
    )
    assert mine.subdomain != plain.subdomain
    names = sorted(f.name for f in setup.state_dir.glob("acme-dns/*/*.json"))
    assert names == ["_ujmmovf2vn55tgye.www.example.test.json", "www.example.test.json"]
    # Once the CNAME is in place the value goes to that account's subdomain only.
    reloaded = setup.provider()
    reloaded.present([TxtRecord(mine.owner, VALUE_B)])
    assert setup.acmedns.values(mine.subdomain) == {VALUE_B}
    assert setup.acmedns.values(plain.subdomain) == set()
