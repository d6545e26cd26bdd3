"""The RRset part of the provider contract (providers/__init__.py, docs/providers.md).

replace_rrsets   MUST delete exactly ``remove`` and add ``add``, leaving every other
                 value of the type; MUST refuse (ConcurrentChange) and change nothing
                 when the RRset is no longer ``current``, where the API can tell
Providers without AAAA in their record_support say so before anything is written.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import pytest
from contract_cases import build, lab_primary, unique
from rrset_cases import RRsetCase, address, lab_aaaa_at, lab_rfc2136_writer

from certv6.dnsquery import Dns, DnsSettings
from certv6.errors import ConcurrentChange, ProviderError
from certv6.model import RRsetChange
from certv6.providers import require_record_type


def change(owner: str, current: set[str], remove: set[str], add: set[str]) -> RRsetChange:
    return RRsetChange(owner, "AAAA", 300, frozenset(current), frozenset(remove), frozenset(add))


def test_a_name_without_aaaa_gets_one(rrset_case: RRsetCase) -> None:
    owner, new = rrset_case.owner("new"), address()
    rrset_case.writer.replace_rrsets([change(owner, set(), set(), {new})])
    assert rrset_case.visible(owner) == {new}


def test_only_what_is_removed_goes_and_other_values_stay(rrset_case: RRsetCase) -> None:
    owner, old, other, new = rrset_case.owner("swap"), address(), address(), address()
    rrset_case.writer.replace_rrsets([change(owner, set(), set(), {old, other})])
    rrset_case.writer.replace_rrsets([change(owner, {old, other}, {old}, {new})])
    assert rrset_case.visible(owner) == {new, other}


def test_removing_the_last_value(rrset_case: RRsetCase) -> None:
    owner, old = rrset_case.owner("gone"), address()
    rrset_case.writer.replace_rrsets([change(owner, set(), set(), {old})])
    rrset_case.writer.replace_rrsets([change(owner, {old}, {old}, set())])
    assert rrset_case.visible(owner) == set()


def test_several_names_in_one_call(rrset_case: RRsetCase) -> None:
    owners = [rrset_case.owner(f"batch{i}") for i in range(3)]
    values = [address() for _ in owners]
    rrset_case.writer.replace_rrsets(
        [change(o, set(), set(), {v}) for o, v in zip(owners, values, strict=True)]
    )
    assert [rrset_case.visible(o) for o in owners] == [{v} for v in values]


def test_a_change_made_by_someone_else_in_between_is_not_overwritten(
    rrset_case: RRsetCase,
) -> None:
    owner, theirs, mine = rrset_case.owner("race"), address(), address()
    rrset_case.writer.replace_rrsets([change(owner, set(), set(), {theirs})])
    # certv6 read "no AAAA" before someone else added theirs: the write must not happen.
    late = change(owner, set(), set(), {mine})
    if not rrset_case.conditional:
        # exec cannot tell (docs/providers.md): it adds, and still leaves the other value.
        rrset_case.writer.replace_rrsets([late])
        assert rrset_case.visible(owner) == {theirs, mine}
        return
    with pytest.raises(ConcurrentChange):
        rrset_case.writer.replace_rrsets([late])
    assert rrset_case.visible(owner) == {theirs}


def test_a_provider_without_aaaa_says_so_before_writing(tmp_path: Path) -> None:
    provider = build(
        "acme-dns",
        {"server": "https://acme-dns.example.test"},
        Dns(DnsSettings(resolvers=("[::1]:9",))),
        tmp_path,
    )
    with pytest.raises(ProviderError, match="cannot write AAAA records: it publishes dns-01"):
        require_record_type(provider, "AAAA", long_running=False)


def test_standalone_serves_aaaa_only_for_a_watcher(tmp_path: Path) -> None:
    provider = build(
        "standalone",
        {"zones": ["example.test"]},
        Dns(DnsSettings(resolvers=("[::1]:9",))),
        tmp_path,
    )
    with pytest.raises(ProviderError, match="only while certv6 runs") as raised:
        require_record_type(provider, "AAAA", long_running=False)
    assert "--watch" in (raised.value.hint or "")
    writer: object = require_record_type(provider, "AAAA", long_running=True)
    assert writer is provider


@pytest.mark.lab
@pytest.mark.parametrize(
    ("kind", "says"),
    [
        # BIND: update-policy grants certv6-key TXT only (zonesub TXT): REFUSED, signed.
        ("bind", "may not change AAAA records"),
        # Knot: its acl gives certv6-key update-type [TXT]: NOTAUTH + BADKEY for a known key.
        ("knot", "update-type: [AAAA]"),
    ],
)
def test_a_key_for_txt_only_is_refused_aaaa_and_the_error_says_aaaa(
    lab: Any, tmp_path: Path, kind: str, says: str
) -> None:
    primary = lab_primary(lab, kind)
    zone = {"bind": "certv6.test.", "knot": "knot.test."}[kind]
    owner = f"{unique('refused')}.{zone}"
    with contextlib.ExitStack() as stack:
        writer = lab_rfc2136_writer(lab, lab.tsig_key_file, tmp_path, stack)
        with pytest.raises(ProviderError) as refused:
            writer.replace_rrsets([change(owner, set(), set(), {address()})])
    text = f"{refused.value.message} hint: {refused.value.hint}"
    assert says in text and "AAAA" in text, text
    assert "TXT" not in text and not isinstance(refused.value, ConcurrentChange), text
    assert lab_aaaa_at(lab, primary, owner) == set()
