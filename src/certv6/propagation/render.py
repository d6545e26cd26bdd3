"""Reports as text for people: a one-line progress status and a per-address table."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from certv6.propagation.report import Report, ServerReport
from certv6.propagation.state import Status

_SHOWN_PER_GROUP = 3
_HEADERS = ("NAMESERVER", "ADDRESS", "REACHED", "STATUS", "SERIAL", "VALUES", "AA", "RESULT", "RTT")


def render_status_line(report: Report) -> str:
    """``propagation: 3/4 addresses serve 2/2 values; lagging: ns2.x [fd00::54] (serial 5 < 6)
    — 1.2 s``"""
    total = report.values_expected
    done = len(report.having(Status.VISIBLE))
    head = f"propagation: {done}/{len(report.servers)} addresses serve {total}/{total} values"
    groups = [
        _group("lagging", report.having(Status.LAGGING), _serial_note),
        _group("waiting", report.having(Status.WAITING), _values_note),
        _group("no answer yet", report.having(Status.SILENT), None),
        _group("not answering", report.having(Status.UNREACHABLE), None),
        _group("unverifiable", report.having(Status.UNVERIFIABLE), None),
    ]
    tail = f"visible after {report.elapsed:.1f} s" if report.visible else f"{report.elapsed:.1f} s"
    return "; ".join([head, *filter(None, groups)]) + f" — {tail}"


def _group(
    title: str,
    servers: Sequence[ServerReport],
    note: Callable[[ServerReport], str] | None,
) -> str:
    if not servers:
        return ""
    shown = [
        server.label + (f" ({note(server)})" if note else "")
        for server in servers[:_SHOWN_PER_GROUP]
    ]
    more = len(servers) - _SHOWN_PER_GROUP
    return f"{title}: {', '.join(shown)}" + (f" and {more} more" if more > 0 else "")


def _serial_note(server: ServerReport) -> str:
    return f"serial {server.serial} < {server.zone_serial}"


def _values_note(server: ServerReport) -> str:
    if server.problem:
        return server.problem + _stale_note(server)
    return f"{server.values_seen}/{server.values_expected} values" + _stale_note(server)


def _stale_note(server: ServerReport) -> str:
    if not server.stale:
        return ""
    return ", still serves " + " ".join(value for _, value in server.stale)


def describe_blocking(report: Report) -> str:
    """One sentence naming the addresses that kept ``report`` from being visible."""
    blocking = report.blocking
    if not blocking:
        return "no authoritative address serves the values"
    parts = [f"{server.label} {server.status} ({_blocking_note(server)})" for server in blocking]
    return f"{len(blocking)} of {len(report.servers)} addresses lag: " + "; ".join(parts)


def _blocking_note(server: ServerReport) -> str:
    values = f"{server.values_seen}/{server.values_expected} values" + _stale_note(server)
    if server.status == Status.LAGGING:
        return f"{_serial_note(server)}, {values}"
    return f"{server.problem}, {values}" if server.problem else values


def render_table(report: Report) -> str:
    """Every address of every zone, then delegation findings and warnings."""
    lines: list[str] = []
    for zone in dict.fromkeys(server.zone for server in report.servers):
        servers = [server for server in report.servers if server.zone == zone]
        lines.append(f"zone {zone} (newest serial {_text(servers[0].zone_serial)})")
        lines.extend(_columns([_HEADERS, *(_row(server) for server in servers)]))
        lines.extend(_a_not_asked(report, zone, servers))
        lines.append("")
    for check in report.delegations:
        if check.matches is True:
            lines.append(f"delegation of {check.zone} in {check.parent}: matches")
        elif check.matches is None:
            lines.append(f"delegation of {check.zone}: not checked ({check.note})")
    if report.nat64_prefix:
        lines.append(f"NAT64 prefix: {report.nat64_prefix}")
    lines.extend(f"warning: {warning}" for warning in report.warnings)
    verdict = "visible" if report.visible else "not visible"
    lines.append(
        f"{verdict} after {report.rounds} rounds, {report.elapsed:.1f} s (policy {report.policy})"
    )
    return "\n".join(lines)


def _a_not_asked(report: Report, zone: str, servers: Sequence[ServerReport]) -> list[str]:
    """A records of nameservers that also have AAAA, and that were not asked via NAT64.

    Behind DNS64 an IPv4-only nameserver has a synthesized AAAA *and* its A; that A was
    asked (through NAT64, as the server's ``ipv4``), so it is not listed here.
    """
    through_nat64 = {server.ipv4 for server in servers if server.reach == "nat64"}
    lines = []
    for ns in report.nameservers:
        if ns.zone != zone or not ns.aaaa:
            continue
        left = [a for a in ns.a if a not in through_nat64]
        if left:
            lines.append(f"{ns.name} also has A {', '.join(left)} (not asked: same server assumed)")
    return lines


def _row(server: ServerReport) -> tuple[str, ...]:
    address = server.address or "-"
    if server.ipv4:
        address = f"{address} ({server.ipv4})" if server.address else server.ipv4
    aa = {True: "yes", False: "no", None: "-"}[server.authoritative]
    rtt = "-" if server.rtt is None else f"{server.rtt * 1000:.0f} ms"
    result = server.problem or server.rcode or "-"
    if server.tcp:
        result += " (tcp)"
    return (
        ", ".join(server.nameservers),
        address,
        server.reach,
        server.status,
        _text(server.serial),
        f"{server.values_seen}/{server.values_expected}",
        aa,
        result,
        rtt,
    )


def _columns(rows: Sequence[tuple[str, ...]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]


def _text(value: int | None) -> str:
    return "-" if value is None else str(value)
