"""The doctor report: table, JSON, exit code."""

from __future__ import annotations

import json

import pytest

from certv6.doctor import DoctorReport, Finding, Status, render_table
from certv6.doctor.report import DoctorFailed, fail, ok, warn

REPORT = DoctorReport.of(
    [
        ok("host", "addresses", "2001:db8::10 (stable, static)"),
        warn("host", "default route", "no IPv6 default route", "add one"),
        fail(
            "ca", "directory", "ca.example has no IPv6 address (only 192.0.2.1)", "set HTTPS_PROXY"
        ),
        ok("www.example.org", "caa", "no CAA record: any CA may issue"),
    ],
    ["add --write-test to prove the provider may write in each zone"],
)


def test_table_has_a_row_per_finding_and_the_fix_under_it() -> None:
    lines = render_table(REPORT, width=0).splitlines()
    assert lines[0].split() == ["STATUS", "SECTION", "CHECK", "RESULT"]
    failing = next(i for i, line in enumerate(lines) if line.startswith("fail"))
    assert "ca.example has no IPv6 address" in lines[failing]
    assert lines[failing + 1].strip() == "fix: set HTTPS_PROXY"
    # the fix starts where the RESULT column does
    assert lines[failing + 1].index("fix:") == lines[0].index("RESULT")
    assert lines[-2] == "note: add --write-test to prove the provider may write in each zone"
    assert lines[-1] == "doctor: 2 ok, 1 warn, 1 fail — problems found"


def test_table_wraps_to_the_width() -> None:
    long = DoctorReport.of([ok("host", "addresses", " ".join(["2001:db8::1"] * 20))])
    lines = render_table(long, width=80).splitlines()
    assert all(len(line) <= 80 for line in lines)
    assert len(lines) > 3


def test_json_form() -> None:
    body = json.loads(json.dumps(REPORT.to_json()))
    assert body["version"] == 1 and body["ok"] is False
    assert body["counts"] == {"ok": 2, "warn": 1, "fail": 1}
    assert body["checks"][2] == {
        "section": "ca",
        "check": "directory",
        "status": "fail",
        "message": "ca.example has no IPv6 address (only 192.0.2.1)",
        "fix": "set HTTPS_PROXY",
    }
    assert body["notes"] == list(REPORT.notes)


def test_exit_code_is_zero_when_nothing_fails() -> None:
    only_warnings = DoctorReport.of([REPORT.findings[1]])
    assert only_warnings.exit_code == 0
    only_warnings.raise_if_failed()
    assert "nothing fails" in only_warnings.summary()


def test_a_failure_raises_with_exit_code_1_naming_the_checks() -> None:
    with pytest.raises(DoctorFailed, match=r"1 check\(s\) failed: ca directory") as raised:
        REPORT.raise_if_failed()
    assert raised.value.exit_code == REPORT.exit_code == 13
    assert raised.value.hint


def test_long_sections_are_shortened_from_the_left() -> None:
    name = "a-very-long-label-that-goes-on.and-on.example.org"
    table = render_table(DoctorReport.of([Finding(name, "caa", Status.OK, "fine")]), width=0)
    row = table.splitlines()[1]
    assert f"…{name[-31:]} " in row and name not in row
