"""dns-persist-01 records (draft-ietf-acme-dns-persist): syntax, rendering, judgement.

The cases follow what CAs refuse (Let's Encrypt's Boulder and Pebble): a record
certv6 accepts must be one the CA accepts, and a record the CA refuses must be
refused here, before an order is answered.
"""

from __future__ import annotations

import datetime as dt

import pytest

from certv6 import dnspersist
from certv6.dnspersist import Expectation, Malformed, Problem

ISSUER = "letsencrypt.org"
ACCOUNT = "https://acme-v02.api.letsencrypt.org/acme/acct/123456"
NOW = dt.datetime(2026, 12, 3, 12, 0, tzinfo=dt.UTC)
MINE = Expectation((ISSUER,), ACCOUNT, wildcard=False)
MINE_WILDCARD = Expectation((ISSUER,), ACCOUNT, wildcard=True)


@pytest.mark.parametrize(
    "text",
    [
        f"{ISSUER}; accounturi={ACCOUNT}",
        f"{ISSUER};accounturi={ACCOUNT}",
        f"  {ISSUER}\t;\taccounturi = {ACCOUNT}  ",  # WSP around the parts (RFC 8659 4.2)
        f"LetsEncrypt.ORG.; AccountURI={ACCOUNT}",  # issuer and tags compare without case
        f"{ISSUER}; accounturi={ACCOUNT}; future-tag=anything",  # unknown tags are ignored
    ],
)
def test_records_a_ca_accepts_parse(text: str) -> None:
    value = dnspersist.parse(text)
    assert value.issuer == ISSUER
    assert value.account_uri == ACCOUNT


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (f"{ISSUER}; policy=wildcard", "accounturi is missing"),
        (f"{ISSUER}", "accounturi is missing"),
        (f"{ISSUER}; accounturi=", "accounturi is missing"),
        (f"{ISSUER}; accounturi={ACCOUNT}; accounturi={ACCOUNT}", "more than once"),
        (f"{ISSUER}; accounturi={ACCOUNT}; AccountURI={ACCOUNT}2", "more than once"),
        (f"{ISSUER}; accounturi={ACCOUNT}; policy=wild card", "holds whitespace"),
        (f"{ISSUER}; accounturi={ACCOUNT} extra", "holds whitespace"),
        (f"{ISSUER}; accounturi={ACCOUNT};", "a stray ';'"),
        (f"{ISSUER};; accounturi={ACCOUNT}", "a stray ';'"),
        (f"{ISSUER}; accounturi={ACCOUNT}; invalidparam", "is not tag=value"),
        (f"{ISSUER}; accounturi={ACCOUNT}; =x", "is not a tag"),
        (f"; accounturi={ACCOUNT}", "no issuer domain name"),
        (f"{ISSUER}; accounturi={ACCOUNT}; persistUntil=tomorrow", "not a time"),
        (f"{ISSUER}; accounturi={ACCOUNT}; persistUntil=-1", "not a time"),
        (f"{ISSUER}; accounturi=ünicode", "outside printable ASCII"),
    ],
)
def test_records_a_ca_refuses_are_malformed(text: str, reason: str) -> None:
    with pytest.raises(Malformed, match=reason):
        dnspersist.parse(text)


def test_render_is_the_drafts_spelling() -> None:
    assert dnspersist.render(ISSUER, ACCOUNT, wildcard=False) == f"{ISSUER}; accounturi={ACCOUNT}"
    until = dt.datetime(2027, 6, 30, tzinfo=dt.UTC)
    rendered = dnspersist.render("LetsEncrypt.org.", ACCOUNT, wildcard=True, until=until)
    assert rendered == (f"{ISSUER}; accounturi={ACCOUNT}; policy=wildcard; persistUntil=1814313600")
    parsed = dnspersist.parse(rendered)  # what certv6 prints, it also accepts
    assert parsed.wildcard and parsed.persist_until == until


def test_a_long_record_is_split_into_strings_of_255_octets() -> None:
    value = dnspersist.render(ISSUER, "https://ca.example/acct/" + "x" * 500, wildcard=True)
    strings = dnspersist.character_strings(value)
    assert [len(s) for s in strings] == [255, 255, len(value) - 510]
    assert "".join(strings) == value
    line = dnspersist.zone_file_line("_validation-persist.example.org.", value)
    assert line.startswith('_validation-persist.example.org. 3600 IN TXT "')
    assert line.count('" "') == 2
    assert dnspersist.character_strings(f"{ISSUER}; accounturi={ACCOUNT}") == [
        f"{ISSUER}; accounturi={ACCOUNT}"
    ]


def test_judge_finds_the_authorizing_record_among_others() -> None:
    texts = [
        "other-ca.example; accounturi=https://other.example/acct/1",
        f"{ISSUER}; accounturi={ACCOUNT}0",
        f"{ISSUER}; accounturi={ACCOUNT}",
    ]
    verdict = dnspersist.judge(texts, MINE, now=NOW)
    assert verdict.ok and verdict.record == f"{ISSUER}; accounturi={ACCOUNT}"


@pytest.mark.parametrize(
    ("texts", "expected", "problem", "detail"),
    [
        ([], MINE, Problem.MISSING, "no TXT record"),
        (["other-ca.example; accounturi=x"], MINE, Problem.OTHER_CA, "found only other-ca"),
        ([f"{ISSUER}; policy=wildcard"], MINE, Problem.MALFORMED, "accounturi is missing"),
        ([f"{ISSUER}; accounturi={ACCOUNT}9"], MINE, Problem.OTHER_ACCOUNT, "not this one"),
        (
            [f"{ISSUER}; accounturi={ACCOUNT}"],
            MINE_WILDCARD,
            Problem.NO_WILDCARD_POLICY,
            "policy=wildcard",
        ),
        (
            [f"{ISSUER}; accounturi={ACCOUNT}; policy=other"],  # anything else: not present
            MINE_WILDCARD,
            Problem.NO_WILDCARD_POLICY,
            "policy=wildcard",
        ),
        (
            [f"{ISSUER}; accounturi={ACCOUNT}; persistUntil=1700000000"],
            MINE,
            Problem.EXPIRED,
            "2023-11-14 22:13 UTC",
        ),
    ],
)
def test_judge_names_what_is_wrong(
    texts: list[str], expected: Expectation, problem: Problem, detail: str
) -> None:
    verdict = dnspersist.judge(texts, expected, now=NOW)
    assert verdict.problem is problem
    assert detail in verdict.detail


def test_the_record_closest_to_working_is_the_one_reported() -> None:
    texts = [f"{ISSUER}; accounturi={ACCOUNT}9", f"{ISSUER}; accounturi={ACCOUNT}"]
    verdict = dnspersist.judge(texts, MINE_WILDCARD, now=NOW)
    assert verdict.problem is Problem.NO_WILDCARD_POLICY
    assert verdict.record == f"{ISSUER}; accounturi={ACCOUNT}"


def test_policy_wildcard_also_covers_the_base_name_and_case_is_ignored() -> None:
    texts = [f"{ISSUER}; accounturi={ACCOUNT}; POLICY=WildCard"]
    assert dnspersist.judge(texts, MINE, now=NOW).ok
    assert dnspersist.judge(texts, MINE_WILDCARD, now=NOW).ok


def test_a_future_persist_until_authorizes_and_is_reported() -> None:
    texts = [f"{ISSUER}; accounturi={ACCOUNT}; persistUntil=1800000000"]
    verdict = dnspersist.judge(texts, MINE, now=NOW)
    assert verdict.ok
    assert verdict.persist_until == dt.datetime(2027, 1, 15, 8, 0, tzinfo=dt.UTC)


def test_the_expected_record_uses_the_first_issuer_name() -> None:
    expected = Expectation(("LetsEncrypt.org", "alias.example"), ACCOUNT, wildcard=True)
    assert expected.record() == f"{ISSUER}; accounturi={ACCOUNT}; policy=wildcard"
    verdict = dnspersist.judge(
        [f"alias.example; accounturi={ACCOUNT}; policy=wildcard"], expected, now=NOW
    )
    assert verdict.ok  # any of the CA's names will do
