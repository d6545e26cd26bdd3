"""Prometheus textfile-collector metrics after each ``certv6 renew`` (issue #13).

    certv6 renew --metrics-file /var/lib/node_exporter/textfile/certv6.prom
    metrics_file = "/var/lib/node_exporter/textfile/certv6.prom"   # or in the config

The file is replaced atomically (node_exporter never reads half of it) and
holds, per certificate (label ``name``):

    certv6_certificate_expiry_timestamp_seconds        notAfter of the current certificate
    certv6_certificate_served_expiry_timestamp_seconds the earliest notAfter a server serves
    certv6_certificate_last_success_timestamp_seconds  when the current certificate was stored
    certv6_certificate_last_attempt_timestamp_seconds  the last renewal attempt
    certv6_certificate_consecutive_failures            failed renewal attempts in a row
    certv6_certificate_install_owed                    1 while an install is owed or failing
    certv6_certificate_revoked                         1 when the current one is revoked
    certv6_certificate_postponed_until_timestamp_seconds  due, but the CA asked to wait until then
    certv6_certificate_status                          0 ok, 1 warning, 2 critical (list --check)

and for the run: ``certv6_renew_last_run_timestamp_seconds``,
``certv6_renew_last_run_success`` and ``certv6_renew_certificates{status}``.
An alert on ``time() > certv6_certificate_expiry_timestamp_seconds - 14*86400``
or on ``certv6_certificate_status > 0`` catches every failure certv6 knows of.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from pathlib import Path

from certv6 import fsatomic
from certv6.clock import Clock
from certv6.errors import ConfigError
from certv6.renewal import parse_time
from certv6.service.listing import CertificateSummary, Listing, list_certificates
from certv6.service.renew.report import STATUSES, RenewReport
from certv6.settings import Settings

_HELP = {
    "certificate_expiry_timestamp_seconds": "notAfter of the current certificate",
    "certificate_served_expiry_timestamp_seconds": "earliest notAfter an install target serves",
    "certificate_last_success_timestamp_seconds": "when the current certificate was stored",
    "certificate_last_attempt_timestamp_seconds": "when renewing it was last attempted",
    "certificate_consecutive_failures": "failed renewal attempts in a row",
    "certificate_install_owed": "1 while an install of the current certificate is owed",
    "certificate_revoked": "1 when the current certificate was revoked",
    "certificate_postponed_until_timestamp_seconds": "due, but the CA asked to wait until then",
    "certificate_status": "0 ok, 1 warning, 2 critical (as certv6 list --check)",
    "renew_last_run_timestamp_seconds": "when certv6 renew last ran",
    "renew_last_run_success": "1 when the last certv6 renew exited 0: nothing failed or postponed",
    "renew_certificates": "certificates per outcome of the last certv6 renew run",
}


def render(listing: Listing, report: RenewReport, now: datetime.datetime) -> str:
    samples: dict[str, list[str]] = {metric: [] for metric in _HELP}
    for summary in listing.certificates:
        for metric, value in _per_certificate(summary):
            samples[metric].append(f'certv6_{metric}{{name="{_escape(summary.name)}"}} {value}')
    samples["renew_last_run_timestamp_seconds"].append(
        f"certv6_renew_last_run_timestamp_seconds {now.timestamp():.0f}"
    )
    success = int(report.complete)  # as the exit code: a postponed renewal is not a success
    samples["renew_last_run_success"].append(f"certv6_renew_last_run_success {success}")
    for status in STATUSES:
        count = len(report.named(status))
        samples["renew_certificates"].append(
            f'certv6_renew_certificates{{status="{status}"}} {count}'
        )
    lines = []
    for metric, help_text in _HELP.items():
        lines += [f"# HELP certv6_{metric} {help_text}", f"# TYPE certv6_{metric} gauge"]
        lines += samples[metric]
    return "\n".join(lines) + "\n"


def _per_certificate(summary: CertificateSummary) -> Iterable[tuple[str, str]]:
    health = summary.health
    if summary.not_after is not None:
        yield "certificate_expiry_timestamp_seconds", _seconds(summary.not_after)
        served = [summary.not_after, *_served(health)]
        yield "certificate_served_expiry_timestamp_seconds", _seconds(min(served))
    issued = (health.get("issued") or {}).get("at")
    if issued:
        yield "certificate_last_success_timestamp_seconds", _seconds(parse_time(issued))
    attempt = (health.get("attempt") or {}).get("at")
    if attempt:
        yield "certificate_last_attempt_timestamp_seconds", _seconds(parse_time(attempt))
    yield "certificate_consecutive_failures", str(int(health.get("failures") or 0))
    yield "certificate_install_owed", str(int(summary.install_owed))
    yield "certificate_revoked", str(int(summary.revoked))
    if summary.postponed_until is not None:
        yield "certificate_postponed_until_timestamp_seconds", _seconds(summary.postponed_until)
    yield "certificate_status", str(summary.verdict.level)


def _served(health: dict[str, object]) -> list[datetime.datetime]:
    install = health.get("install")
    targets = install.get("targets", {}) if isinstance(install, dict) else {}
    found = []
    for state in targets.values():
        if isinstance(state, dict) and state.get("served_not_after"):
            found.append(parse_time(state["served_not_after"]))
    return found


def publish(settings: Settings, report: RenewReport, clock: Clock) -> None:
    """Write ``settings.metrics_file`` (if set) after a renew run.

    Raises:
        ConfigError: it cannot be written.
    """
    if settings.metrics_file is None:
        return
    listing = list_certificates(settings, clock=clock)
    write(settings.metrics_file, render(listing, report, clock.now()))


def write(path: Path, text: str) -> None:
    """Replace ``path`` atomically (mode 0644: node_exporter runs as another user).

    Raises:
        ConfigError: the file cannot be written where ``metrics_file`` says.
    """
    try:
        fsatomic.write(path, text.encode(), mode=0o644)
    except OSError as error:
        raise ConfigError(
            f"cannot write the metrics file {path}: {error.strerror}",
            hint="check metrics_file / --metrics-file and that its directory exists",
        ) from error


def _seconds(moment: datetime.datetime) -> str:
    return f"{moment.timestamp():.0f}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
