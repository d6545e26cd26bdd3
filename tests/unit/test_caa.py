"""CAA: tree climbing (RFC 8659 section 3) against a fake resolver, and the verdict (pure)."""

from __future__ import annotations

from collections.abc import Iterator

import dns.message
import dns.name
import dns.rdatatype
import pytest
from test_propagation_fakes import Authority, FakeNameserver, zone_text

from certv6.dnsquery import CaaLookup, CaaRecord, Dns, DnsSettings
from certv6.doctor.caa import CaaForbidden, evaluate, parse_issue_value
from certv6.errors import DnsError, OrderError

ZONES = {
    "example.test.": zone_text(
        1,
        """@ NS ns1
ns1 AAAA 2001:db8::1
@ CAA 0 issue "parent-ca.example"
restricted CAA 0 issue "letsencrypt.org"
restricted CAA 0 iodef "mailto:ops@example.test"
alias CNAME target.other.test.
empty-alias CNAME nothing.other.test.
deep.below CNAME restricted""",
    ),
    "other.test.": zone_text(1, '@ NS ns1.example.test.\ntarget CAA 0 issue "target-ca.example"'),
    "bare.test.": zone_text(1, "@ NS ns1.example.test."),
    "test.": zone_text(1, "@ NS ns1.example.test."),
}


class ChasingAuthority(Authority):
    """Answers like a recursive resolver that holds every zone: CNAMEs are followed
    inside the answer (RFC 1034 4.3.2), the way the host's resolver hands them over."""

    def _fill(self, response: dns.message.Message, qname: dns.name.Name, rdtype: int) -> None:
        for _ in range(8):
            before = len(response.answer)
            super()._fill(response, qname, rdtype)
            added = response.answer[before:] if len(response.answer) > before else []
            if not added or added[-1].rdtype != dns.rdatatype.CNAME:
                return
            if rdtype == dns.rdatatype.CNAME:
                return
            qname = added[-1][0].target


@pytest.fixture(scope="module")
def resolver() -> Iterator[Dns]:
    server = FakeNameserver(ChasingAuthority(ZONES))
    try:
        yield Dns(DnsSettings(resolvers=(f"[::1]:{server.port}",), timeout=1.0))
    finally:
        server.close()


def test_the_name_itself_wins(resolver: Dns) -> None:
    found = resolver.relevant_caa("restricted.example.test")
    assert found.owner == "restricted.example.test."
    assert found.alias_of is None
    assert CaaRecord(0, "issue", "letsencrypt.org") in found.records
    assert found.asked == ("restricted.example.test.",)


def test_climbs_to_the_first_ancestor_with_records(resolver: Dns) -> None:
    found = resolver.relevant_caa("a.b.c.example.test.")
    assert found.owner == "example.test."
    assert found.records == (CaaRecord(0, "issue", "parent-ca.example"),)
    assert found.asked == (
        "a.b.c.example.test.",
        "b.c.example.test.",
        "c.example.test.",
        "example.test.",
    )


def test_an_alias_has_its_targets_records(resolver: Dns) -> None:
    found = resolver.relevant_caa("alias.example.test")
    assert found.owner == "alias.example.test."
    assert found.alias_of == "target.other.test."
    assert found.records == (CaaRecord(0, "issue", "target-ca.example"),)


def test_an_alias_to_nothing_climbs_from_the_alias_not_the_target(resolver: Dns) -> None:
    # RFC 8659 removed RFC 6844's climb from the target: the parent of the alias is next.
    found = resolver.relevant_caa("empty-alias.example.test")
    assert found.owner == "example.test."
    assert "other.test." not in found.asked


def test_alias_below_a_name_without_records(resolver: Dns) -> None:
    found = resolver.relevant_caa("deep.below.example.test")
    assert (found.owner, found.alias_of) == ("deep.below.example.test.", "restricted.example.test.")


def test_no_records_up_to_the_root(resolver: Dns) -> None:
    found = resolver.relevant_caa("www.bare.test")
    assert found.owner is None and found.records == ()
    assert found.asked == ("www.bare.test.", "bare.test.", "test.")


def test_a_failing_lookup_is_an_error_not_permission() -> None:
    server = FakeNameserver(Authority(ZONES, rcode="SERVFAIL"))
    try:
        failing = Dns(DnsSettings(resolvers=(f"[::1]:{server.port}",), timeout=0.5))
        with pytest.raises(DnsError, match=r"CAA look-up of www\.example\.test\. failed"):
            failing.relevant_caa("www.example.test")
    finally:
        server.close()


# --- the verdict ---------------------------------------------------------------------------

ME = ("letsencrypt.org",)
ACCOUNT = "https://ca.example/acme/acct/1"


def lookup(*records: tuple[int, str, str], owner: str = "example.org.") -> CaaLookup:
    found = tuple(CaaRecord(*record) for record in records)
    return CaaLookup("www.example.org.", owner if found else None, None, found, ())


def judge(
    found: CaaLookup, *, wildcard: bool = False, account: str | None = ACCOUNT
) -> bool | None:
    return evaluate(found, wildcard=wildcard, identities=ME, account_uri=account).permitted


def test_no_caa_lets_every_ca_issue() -> None:
    verdict = evaluate(lookup(), wildcard=False, identities=ME, account_uri=None)
    assert verdict.permitted is True and "any CA may issue" in verdict.reason


def test_another_ca_is_named() -> None:
    verdict = evaluate(
        lookup((0, "issue", "other-ca.example")), wildcard=False, identities=ME, account_uri=None
    )
    assert verdict.permitted is False
    assert 'CAA at example.org. does not allow this CA (letsencrypt.org): 0 issue "other' in (
        verdict.reason
    )
    assert verdict.fix is not None and 'example.org. CAA 0 issue "letsencrypt.org"' in verdict.fix


@pytest.mark.parametrize(
    ("records", "wildcard", "permitted"),
    [
        ([(0, "issue", "letsencrypt.org")], False, True),
        ([(0, "issue", "LetsEncrypt.org.")], False, True),  # case and a final dot do not matter
        ([(0, "issue", ";")], False, False),  # an empty issuer: no CA at all
        ([(0, "iodef", "mailto:x@example.org")], False, True),  # no issue property at all
        ([(0, "issuewild", "other.example")], False, True),  # issuewild ignored for a plain name
        ([(0, "issue", "letsencrypt.org"), (0, "issuewild", "other.example")], True, False),
        ([(0, "issue", "other.example"), (0, "issuewild", "letsencrypt.org")], True, True),
        ([(0, "issue", "letsencrypt.org")], True, True),  # no issuewild: issue applies
        ([(0, "issue", "other.example"), (0, "issuewild", "letsencrypt.org")], False, False),
        ([(128, "tbs", "x"), (0, "issue", "letsencrypt.org")], False, False),  # unknown critical
        ([(0, "tbs", "x"), (0, "issue", "letsencrypt.org")], False, True),  # unknown, not critical
        ([(128, "issue", "letsencrypt.org")], False, True),  # critical but understood
        ([(0, "issue", "letsencrypt.org; bogus")], False, False),  # malformed: authorizes no one
    ],
)
def test_rfc8659_rules(
    records: list[tuple[int, str, str]], wildcard: bool, permitted: bool
) -> None:
    assert judge(lookup(*records), wildcard=wildcard) is permitted


@pytest.mark.parametrize(
    ("value", "account", "permitted", "why"),
    [
        (f"letsencrypt.org; accounturi={ACCOUNT}", ACCOUNT, True, "allows this CA"),
        ("letsencrypt.org; accounturi=https://ca.example/acme/acct/2", ACCOUNT, False, "8657"),
        (f"letsencrypt.org; accounturi={ACCOUNT}", None, False, "none yet"),
        ("letsencrypt.org; validationmethods=http-01", ACCOUNT, False, "not dns-01"),
        ("letsencrypt.org; validationmethods=http-01,dns-01", ACCOUNT, True, "allows"),
        ("letsencrypt.org;validationmethods=dns-01;accounturi=" + ACCOUNT, ACCOUNT, True, "allows"),
    ],
)
def test_rfc8657_parameters(value: str, account: str | None, permitted: bool, why: str) -> None:
    verdict = evaluate(
        lookup((0, "issue", value)), wildcard=False, identities=ME, account_uri=account
    )
    assert verdict.permitted is permitted
    assert why in verdict.reason


def test_one_matching_property_is_enough() -> None:
    found = lookup(
        (0, "issue", "letsencrypt.org; accounturi=https://ca.example/acme/acct/9"),
        (0, "issue", "letsencrypt.org"),
    )
    assert judge(found) is True


def test_unknown_identities_cannot_be_judged() -> None:
    verdict = evaluate(
        lookup((0, "issue", "other.example")), wildcard=False, identities=(), account_uri=None
    )
    assert verdict.permitted is None
    assert verdict.fix is not None and "caa_identities" in verdict.fix


def test_an_alias_is_named_in_the_reason() -> None:
    found = CaaLookup(
        "www.example.org.",
        "www.example.org.",
        "cdn.example.net.",
        (CaaRecord(0, "issue", "other.example"),),
        (),
    )
    verdict = evaluate(found, wildcard=False, identities=ME, account_uri=None)
    assert "CAA at www.example.org. (alias of cdn.example.net.)" in verdict.reason
    assert verdict.fix is not None and verdict.fix.startswith("add the record cdn.example.net.")


@pytest.mark.parametrize(
    ("value", "issuer", "parameters"),
    [
        ("letsencrypt.org", "letsencrypt.org", {}),
        (" ca.example ; a=1 ; b = two ", "ca.example", {"a": "1", "b": "two"}),
        (";", "", {}),
        ("", "", {}),
    ],
)
def test_parse_issue_value(value: str, issuer: str, parameters: dict[str, str]) -> None:
    parsed = parse_issue_value(value)
    assert parsed is not None
    assert (parsed.issuer, parsed.parameters) == (issuer, parameters)


@pytest.mark.parametrize("value", ["ca.example; noequals", "two words", "ca.example; =x"])
def test_malformed_issue_values(value: str) -> None:
    assert parse_issue_value(value) is None


def test_caa_forbidden_is_an_order_error_with_the_caa_code() -> None:
    error = CaaForbidden("CAA forbids x", hint="fix it")
    assert isinstance(error, OrderError)
    assert (error.code, error.exit_code, error.hint) == ("caa", 4, "fix it")
