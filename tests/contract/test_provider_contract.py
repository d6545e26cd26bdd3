"""The provider contract (providers/__init__.py, docs/providers.md), run against every provider.

present   MUST make every value visible; MUST NOT touch other values at the owner;
          MUST be idempotent
cleanup   MUST delete exactly the given values; absent values are fine
hints     sane numbers; preflight passes against a working setup
"""

from __future__ import annotations

from contract_cases import Case, challenge_value

from certv6.providers import preflight


def test_present_makes_the_value_visible(case: Case) -> None:
    owner, value = case.owner("one"), challenge_value()
    case.provider.present(case.records((owner, value)))
    assert case.visible(owner) == {value}


def test_a_second_value_on_the_same_owner_coexists(case: Case) -> None:
    owner, first, second = case.owner("two"), challenge_value(), challenge_value()
    case.provider.present(case.records((owner, first)))
    case.provider.present(case.records((owner, second)))
    assert case.visible(owner) == {first, second}


def test_a_name_and_its_wildcard_in_one_batch(case: Case) -> None:
    # *.x and x share _acme-challenge.x: two values at one owner in one call.
    owner, base, wildcard = case.owner("wild"), challenge_value(), challenge_value()
    case.provider.present(case.records((owner, base), (owner, wildcard)))
    assert case.visible(owner) == {base, wildcard}


def test_cleanup_removes_only_its_value(case: Case) -> None:
    owner, mine, other = case.owner("mine"), challenge_value(), challenge_value()
    case.provider.present(case.records((owner, mine), (owner, other)))
    case.provider.cleanup(case.records((owner, mine)))
    seen = case.visible(owner)
    assert other in seen
    if case.cleanup_removes:
        assert seen == {other}


def test_cleanup_of_an_absent_value_is_fine(case: Case) -> None:
    empty, busy = case.owner("empty"), case.owner("busy")
    kept = challenge_value()
    case.provider.present(case.records((busy, kept)))
    case.provider.cleanup(case.records((empty, challenge_value()), (busy, challenge_value())))
    assert case.visible(busy) == {kept}
    if case.cleanup_removes:
        assert case.visible(empty) == set()


def test_present_is_idempotent(case: Case) -> None:
    owner, value, other = case.owner("again"), challenge_value(), challenge_value()
    case.provider.present(case.records((owner, value)))
    case.provider.present(case.records((owner, other)))
    case.provider.present(case.records((owner, value)))
    assert case.visible(owner) == {value, other}


def test_one_batch_over_several_owners(case: Case) -> None:
    owners = [case.owner(f"batch{i}") for i in range(3)]
    values = [challenge_value() for _ in owners]
    records = case.records(*zip(owners, values, strict=True))
    case.provider.present(records)
    assert [case.visible(owner) for owner in owners] == [{value} for value in values]
    case.provider.cleanup(records)
    if case.cleanup_removes:
        assert [case.visible(owner) for owner in owners] == [set(), set(), set()]


def test_a_dns_account_01_owner_one_label_deeper(case: Case) -> None:
    # draft-ietf-acme-dns-account-label: _<label>._acme-challenge.<name>; the value beside
    # it at _acme-challenge.<name> (another client's dns-01) is never touched.
    labelled = case.account_owner("acct")
    # The _acme-challenge owner right above it (acme-dns: another account's fulldomain).
    plain = labelled.split(".", 1)[1] if case.labelled is None else case.owner("acct-plain")
    mine, theirs = challenge_value(), challenge_value()
    case.provider.present(case.records((labelled, mine), (plain, theirs)))
    assert case.visible(labelled) == {mine}
    case.provider.cleanup(case.records((labelled, mine)))
    assert case.visible(plain) == {theirs}
    if case.cleanup_removes:
        assert case.visible(labelled) == set()


def test_hints_are_sane_and_preflight_passes(case: Case) -> None:
    hints = case.provider.hints()
    assert 0 < hints.poll_interval < hints.propagation_timeout
    assert hints.max_values_per_owner is None or hints.max_values_per_owner >= 2
    case.provider.preflight()


def test_preflight_for_the_owners_passes_and_changes_nothing(case: Case) -> None:
    owner, kept = case.owner("pre"), challenge_value()
    case.provider.present(case.records((owner, kept)))
    preflight(case.provider, lambda: case.records((owner, ""), (case.owner("fresh"), "")))
    assert case.visible(owner) == {kept}
