"""The doctor report as a table for people; ``DoctorReport.to_json`` is the machines' form."""

from __future__ import annotations

import textwrap

from certv6.doctor.report import DoctorReport, Finding

_HEADERS = ("STATUS", "SECTION", "CHECK", "RESULT")
_MAX_SECTION = 32


def render_table(report: DoctorReport, width: int = 100) -> str:
    """One row per finding; its fix, if any, on the next line, indented under RESULT.

    ``width`` 0 means no wrapping (one line per finding and per fix).
    """
    rows = [_row(finding) for finding in report.findings]
    widths = [max(len(row[i]) for row in [_HEADERS, *rows]) for i in range(3)]
    indent = sum(widths) + 2 * 3
    lines = [_line(_HEADERS, widths)]
    for finding, row in zip(report.findings, rows, strict=True):
        wrapped = _wrap(row[3], width - indent if width else 0)
        lines.append(_line((*row[:3], wrapped[0]), widths))
        lines += [" " * indent + more for more in wrapped[1:]]
        if finding.fix:
            lines += [
                " " * indent + part
                for part in _wrap(f"fix: {finding.fix}", width - indent if width else 0)
            ]
    lines += [f"note: {note}" for note in report.notes]
    lines.append(report.summary())
    return "\n".join(lines)


def _wrap(text: str, width: int) -> list[str]:
    if width <= 0:
        return [text]
    return textwrap.wrap(text, max(width, 30)) or [""]


def _row(finding: Finding) -> tuple[str, str, str, str]:
    section = finding.section
    if len(section) > _MAX_SECTION:
        section = "…" + section[-(_MAX_SECTION - 1) :]
    return (str(finding.status), section, finding.check, finding.message)


def _line(cells: tuple[str, ...], widths: list[int]) -> str:
    head = "  ".join(cell.ljust(width) for cell, width in zip(cells[:3], widths, strict=True))
    return f"{head}  {cells[3]}".rstrip()
