"""Per name: certv6 replaces exactly the AAAA values it owns, and leaves the rest."""

from __future__ import annotations

from collections.abc import Collection

from certv6.aaaa import NamePlan, plan_name

NAME, ZONE = "www.example.org.", "example.org."
NEW, OLD, OTHER = "2001:db8:2::1", "2001:db8:1::1", "2001:db8:99::1"


def plan(
    current: set[str],
    *,
    published: Collection[str] = (),
    host: Collection[str] = (),
    adopt: bool = False,
) -> NamePlan:
    return plan_name(
        NAME,
        ZONE,
        current,
        wanted=NEW,
        published=published,
        host_addresses=host,
        adopt=adopt,
        ttl=300,
    )


def test_a_name_without_aaaa_gets_one() -> None:
    made = plan(set())
    assert made.change is not None
    assert (made.change.current, made.change.remove, made.change.add) == (
        frozenset(),
        frozenset(),
        frozenset({NEW}),
    )
    assert made.result == {NEW} and made.change.ttl == 300


def test_what_certv6_published_is_replaced_and_someone_elses_value_stays() -> None:
    made = plan({OLD, OTHER}, published={OLD})
    assert made.owned == {OLD} and made.foreign == {OTHER}
    assert made.change is not None
    assert made.change.remove == {OLD} and made.change.add == {NEW}
    assert made.change.current == {OLD, OTHER}  # the precondition is the whole RRset
    assert made.result == {NEW, OTHER}
    assert str(made.change) == (f"{NAME} AAAA {NEW} {OTHER} (was {OLD} {OTHER})")


def test_an_address_of_this_host_is_its_own_even_if_never_recorded() -> None:
    made = plan({OLD}, host={OLD, NEW})  # the old prefix is still on the interface, deprecated
    assert made.change is not None and made.change.remove == {OLD}


def test_a_value_certv6_never_published_stays_unless_adopted() -> None:
    kept = plan({OLD})
    assert kept.foreign == {OLD} and kept.result == {OLD, NEW}
    adopted = plan({OLD}, adopt=True)
    assert adopted.foreign == frozenset() and adopted.result == {NEW}


def test_already_right_means_no_change() -> None:
    assert plan({NEW}, published={NEW}).change is None
    assert plan({NEW, OTHER}).change is None  # OTHER is not certv6's to remove


def test_only_removing_is_a_change_too() -> None:
    made = plan({NEW, OLD}, published={OLD})
    assert made.change is not None and made.change.add == frozenset()
    assert made.change.gone == {OLD}
