"""The pure core: settings, delay schedule, observations folded into a verdict."""

from __future__ import annotations

import pytest

from certv6.errors import ConfigError
from certv6.propagation.plan import (
    Delegation,
    Plan,
    PropagationSettings,
    Reach,
    Server,
    Target,
    next_delay,
    sleep_before_next,
)
from certv6.propagation.state import (
    Answer,
    Probe,
    State,
    Status,
    compare_delegation,
    judge,
    missing,
    observe,
    serial_lt,
    values_seen,
)
from fakes.clock import FakeClock

ZONE = "certv6.test."
OWNER = "_acme-challenge.www.certv6.test."
NS1 = Server(ZONE, ("ns1.certv6.test.",), "2001:db8::1", Reach.DIRECT)
NS2 = Server(ZONE, ("ns2.certv6.test.",), "2001:db8::2", Reach.DIRECT)
NS3 = Server(ZONE, ("ns3.certv6.test.",), "", Reach.UNVERIFIABLE, ipv4="192.0.2.53")
TARGET = Target(OWNER, (OWNER,), ZONE, ("v1", "v2"))
PLAN = Plan(targets=(TARGET,), servers=(NS1, NS2))
TIMEOUT = Answer(error="timeout")


def soa(serial: int, *, aa: bool = True) -> Answer:
    return Answer("NOERROR", aa, serial=serial)


def txt(*values: str, aa: bool = True, rcode: str = "NOERROR") -> Answer:
    return Answer(rcode, aa, frozenset(values))


def serving(server: Server, serial: int, *values: str, aa: bool = True) -> Probe:
    return Probe(server, soa(serial), ((OWNER, txt(*values, aa=aa)),))


def rounds(plan: Plan, *batches: list[Probe]) -> State:
    state = State()
    for batch in batches:
        state = observe(plan, state, batch)
    return state


# -- settings and schedule ---------------------------------------------------------------


def test_delays_double_from_first_interval_up_to_poll_interval() -> None:
    settings = PropagationSettings()
    assert [next_delay(i, settings) for i in range(7)] == [0.1, 0.2, 0.4, 0.8, 1.0, 1.0, 1.0]
    assert next_delay(10_000, settings) == 1.0


def test_the_last_pause_is_cut_to_the_deadline_then_none() -> None:
    settings = PropagationSettings(timeout=2.0)
    clock = FakeClock()
    start = clock.monotonic()
    pauses = []
    for index in range(20):
        pause = sleep_before_next(index, clock.monotonic() - start, settings)
        if pause is None:
            break
        pauses.append(pause)
        clock.sleep(pause)
    assert pauses == pytest.approx([0.1, 0.2, 0.4, 0.8, 0.5])
    assert clock.monotonic() - start == pytest.approx(2.0)


@pytest.mark.parametrize(
    "changes",
    [
        {"policy": "paranoid"},
        {"timeout": 0},
        {"query_timeout": -1.0},
        {"max_concurrency": 0},
        {"nat64_prefix": "2001:db8::/33"},
    ],
)
def test_settings_refuse_nonsense(changes: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        PropagationSettings(**changes)  # type: ignore[arg-type]


# -- serials -----------------------------------------------------------------------------


def test_serial_arithmetic_wraps_rfc1982() -> None:
    assert serial_lt(1, 2)
    assert not serial_lt(2, 1)
    assert not serial_lt(5, 5)
    assert serial_lt(4294967295, 3)  # 3 is newer: the serial wrapped
    assert not serial_lt(3, 4294967295)


def test_newest_serial_follows_wrap_around() -> None:
    state = rounds(PLAN, [serving(NS1, 3, "v1", "v2"), Probe(NS2, soa(4294967295))])
    assert state.highest[ZONE] == 3
    assert judge(PLAN, state, strict=False).statuses[NS2] is Status.LAGGING


# -- verdicts ----------------------------------------------------------------------------


def test_visible_when_every_address_serves_every_value() -> None:
    state = rounds(PLAN, [serving(NS1, 6, "v1", "v2"), serving(NS2, 6, "v2", "v1", "old")])
    verdict = judge(PLAN, state, strict=True)
    assert verdict.visible
    assert verdict.having(Status.VISIBLE) == (NS1, NS2)


def test_lower_serial_is_lagging_even_before_the_txt_changes() -> None:
    state = rounds(PLAN, [serving(NS1, 6, "v1", "v2"), serving(NS2, 5)])
    verdict = judge(PLAN, state, strict=False)
    assert not verdict.visible
    assert verdict.having(Status.LAGGING) == (NS2,)


def test_same_serial_but_values_missing_is_waiting() -> None:
    state = rounds(PLAN, [serving(NS1, 6, "v1", "v2"), serving(NS2, 6, "v1")])
    assert judge(PLAN, state, strict=False).statuses[NS2] is Status.WAITING
    assert values_seen(PLAN, state, NS2) == 1
    assert missing(PLAN, state, NS2) == ((OWNER, "v2"),)


def test_answers_without_aa_do_not_count() -> None:
    state = rounds(PLAN, [serving(NS1, 6, "v1", "v2"), serving(NS2, 6, "v1", "v2", aa=False)])
    verdict = judge(PLAN, state, strict=False)
    assert not verdict.visible
    assert verdict.statuses[NS2] is Status.WAITING
    assert state.of(NS2).problem == "not authoritative (AA=0)"
    assert values_seen(PLAN, state, NS2) == 0


def test_refused_blocks_and_is_reported() -> None:
    refused = Probe(NS2, Answer("REFUSED"), ((OWNER, txt(rcode="REFUSED")),))
    state = rounds(PLAN, [serving(NS1, 6, "v1", "v2"), refused])
    assert not judge(PLAN, state, strict=False).visible
    assert state.of(NS2).problem == "REFUSED"


def test_a_silent_address_blocks_one_round_then_is_given_up_under_all_reachable() -> None:
    first = rounds(PLAN, [serving(NS1, 6, "v1", "v2"), Probe(NS2, TIMEOUT)])
    assert judge(PLAN, first, strict=False).statuses[NS2] is Status.SILENT
    assert not judge(PLAN, first, strict=False).visible
    second = observe(PLAN, first, [serving(NS1, 6), Probe(NS2, TIMEOUT)])
    assert judge(PLAN, second, strict=False).statuses[NS2] is Status.UNREACHABLE
    assert judge(PLAN, second, strict=False).visible
    assert not judge(PLAN, second, strict=True).visible


def test_an_address_that_answered_once_is_never_given_up() -> None:
    state = rounds(
        PLAN,
        [serving(NS1, 6, "v1", "v2"), serving(NS2, 5)],
        [serving(NS1, 6), Probe(NS2, TIMEOUT)],
        [serving(NS1, 6), Probe(NS2, TIMEOUT)],
    )
    verdict = judge(PLAN, state, strict=False)
    assert verdict.statuses[NS2] is Status.LAGGING
    assert not verdict.visible


def test_never_visible_when_no_address_of_a_zone_answered() -> None:
    silent = [Probe(NS1, TIMEOUT), Probe(NS2, TIMEOUT)]
    state = rounds(PLAN, silent, silent, silent)
    verdict = judge(PLAN, state, strict=False)
    assert verdict.having(Status.UNREACHABLE) == (NS1, NS2)
    assert not verdict.visible


def test_unverifiable_is_a_warning_under_all_reachable_and_blocks_under_strict() -> None:
    plan = Plan(targets=(TARGET,), servers=(NS1, NS3))
    state = rounds(plan, [serving(NS1, 6, "v1", "v2")])
    assert judge(plan, state, strict=False).visible
    assert judge(plan, state, strict=True).statuses[NS3] is Status.UNVERIFIABLE
    assert not judge(plan, state, strict=True).visible


def test_confirmed_owners_stay_confirmed_when_no_longer_asked() -> None:
    state = rounds(
        PLAN,
        [serving(NS1, 6, "v1", "v2"), serving(NS2, 5)],
        [Probe(NS1, soa(7)), serving(NS2, 7, "v1", "v2")],
    )
    assert state.of(NS1).serial == 7
    assert judge(PLAN, state, strict=True).visible


def test_owners_that_cname_to_one_name_pool_their_values() -> None:
    shared = "shared.challenges.test."
    plan = Plan(
        targets=(
            Target("_acme-challenge.a.test.", ("_acme-challenge.a.test.", shared), ZONE, ("a",)),
            Target("_acme-challenge.b.test.", ("_acme-challenge.b.test.", shared), ZONE, ("b",)),
        ),
        servers=(NS1,),
    )
    assert plan.expected(ZONE) == {shared: frozenset({"a", "b"})}
    one = rounds(plan, [Probe(NS1, soa(1), ((shared, txt("a")),))])
    assert not judge(plan, one, strict=True).visible
    both = rounds(plan, [Probe(NS1, soa(1), ((shared, txt("a", "b")),))])
    assert judge(plan, both, strict=True).visible


def test_no_records_is_trivially_visible() -> None:
    assert judge(Plan(targets=(), servers=()), State(), strict=True).visible


# -- delegation --------------------------------------------------------------------------

CHILD = ("ns1.certv6.test.", "ns2.certv6.test.")
DELEGATION = Delegation(ZONE, "test.", (NS1,), CHILD)


def test_delegation_matches() -> None:
    check = compare_delegation(DELEGATION, [CHILD, None])
    assert check.matches is True
    assert check.parent_nameservers == CHILD


def test_delegation_mismatch_is_reported() -> None:
    check = compare_delegation(DELEGATION, [("ns1.certv6.test.", "old.certv6.test.")])
    assert check.matches is False


def test_delegation_unchecked_when_no_parent_answered() -> None:
    check = compare_delegation(DELEGATION, [None])
    assert check.matches is None
    assert check.note


def test_parents_that_disagree_are_noted() -> None:
    check = compare_delegation(DELEGATION, [CHILD, ("ns1.certv6.test.",)])
    assert check.parent_nameservers == CHILD
    assert "disagree" in check.note
