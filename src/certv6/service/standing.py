"""The standing dns-persist-01 records, read on every authoritative nameserver.

Before a dns-persist-01 challenge is answered (and by ``certv6 persist`` and
``doctor``), certv6 asks every address of every nameserver of the zone that
holds ``_validation-persist.<name>`` (after its CNAMEs, like any challenge
owner) what it serves there, and judges each answer as the CA would
(``dnspersist.judge``). The CA's resolver may land on any of them, so one
server with a bad or missing record is enough to fail: that is found here,
before the order is answered, with the record as it is and as it must be.
Nothing is written, ever: the record is the administrator's.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from certv6 import dnspersist, propagation
from certv6.clock import Clock
from certv6.dnspersist import Expectation, Problem, Verdict
from certv6.dnsquery import Dns
from certv6.errors import ConfigError, DnsError
from certv6.model import TxtRecord
from certv6.propagation.plan import Target

log = logging.getLogger("certv6")

PROBE_VALUE = "certv6-standing-record-probe"  # the checker wants a value; never published


class StandingRecordError(DnsError):
    """A standing dns-persist-01 record is missing or would not authorize this order."""

    default_hint = (
        "change the TXT record by hand as shown ('certv6 persist -d NAME' prints it, "
        "--publish adds it with a provider); certv6 never writes it during issue or renew"
    )


class NotAuthorizedHere(StandingRecordError):
    """No standing record authorizes this account at this CA: missing, another
    issuer or account, malformed, expired. A record names one CA's issuer domain
    name and one account, so another CA of ``server = [...]`` may well have its
    own (service/fallback.py moves on); a nameserver that did not answer is not this.
    """


@dataclass(frozen=True, slots=True)
class ServerView:
    """What one authoritative address serves at the record's owner."""

    label: str  # ns1.example.org [2001:db8::53]
    texts: tuple[str, ...] | None  # None: it did not answer
    verdict: Verdict | None


@dataclass(frozen=True, slots=True)
class StandingCheck:
    """One ``_validation-persist`` owner, judged at every authoritative address."""

    owner: str
    effective_owner: str
    expectation: Expectation
    verdict: Verdict  # the first failing server's, else the authorizing record's
    servers: tuple[ServerView, ...]
    where: str = ""  # which servers the failing verdict is from ("" when all agree)

    @property
    def ok(self) -> bool:
        return self.verdict.ok

    @property
    def unchecked(self) -> tuple[str, ...]:
        return tuple(server.label for server in self.servers if server.texts is None)

    def message(self) -> str:
        """What is wrong, the record as it is and as it must be (multi-line)."""
        at = f" at {self.where}" if self.where else ""
        found = self.verdict.record or "(no record for this CA)"
        if self.verdict.problem is Problem.MISSING:
            found = "(no TXT record)"
        must = self.expectation.record()
        return (
            f"{self.owner.rstrip('.')}: the standing dns-persist-01 record is "
            f"{self.verdict.problem}{at}: {self.verdict.detail}\n"
            f'  is:      "{found}"\n'
            f'  must be: "{must}"'
            + ("\n  (or with a persistUntil in the future)" if self._expired else "")
        )

    @property
    def _expired(self) -> bool:
        return self.verdict.problem is Problem.EXPIRED


def expectations(
    owners: Mapping[str, bool],
    issuers: Sequence[str],
    account_uri: str,
) -> dict[str, Expectation]:
    """Owner -> what its record must say; ``owners`` maps each owner to "a wildcard needs it"."""
    if not issuers:
        raise ConfigError(
            "the CA names no issuer domain name for dns-persist-01 (no 'issuer-domain-names' "
            "in its challenge)",
            hint='set issuer_domain_name = "..." to the name your CA documents for it',
        )
    return {
        owner: Expectation(tuple(issuers), account_uri, wildcard)
        for owner, wildcard in owners.items()
    }


def check(
    wanted: Mapping[str, Expectation],
    settings: propagation.PropagationSettings,
    *,
    dns: Dns,
    clock: Clock,
) -> list[StandingCheck]:
    """Ask every authoritative address of every owner's zone, once, and judge.

    Raises:
        DnsError: a CNAME loop, a zone that cannot be found, no reachable nameserver.
    """
    if not wanted:
        return []
    probes = [TxtRecord(owner, PROBE_VALUE) for owner in wanted]
    report = propagation.check_once(probes, settings, dns=dns, clock=clock)
    now = clock.now()
    targets = {target.owner: target for target in report.targets}
    return [
        _judged(owner, expected, targets[owner], report, now) for owner, expected in wanted.items()
    ]


def _judged(
    owner: str,
    expected: Expectation,
    target: Target,
    report: propagation.Report,
    now: datetime.datetime,
) -> StandingCheck:
    effective = target.effective_owner
    views = []
    for server in report.servers:
        if server.zone != target.zone:
            continue
        texts = server.texts_at(effective)
        verdict = None if texts is None else dnspersist.judge(texts, expected, now=now)
        views.append(ServerView(server.label, texts, verdict))
    judged = [(view, view.verdict) for view in views if view.verdict is not None]
    if not judged:
        nobody = Verdict(Problem.MISSING, "", "no nameserver of the zone answered")
        return StandingCheck(owner, effective, expected, nobody, tuple(views))
    failing = [(view, verdict) for view, verdict in judged if not verdict.ok]
    if failing:
        everywhere = len(failing) == len(views)
        where = "" if everywhere else ", ".join(view.label for view, _ in failing)
        return StandingCheck(owner, effective, expected, failing[0][1], tuple(views), where)
    return StandingCheck(owner, effective, expected, judged[0][1], tuple(views))


def require(checks: Sequence[StandingCheck], *, strict: bool) -> tuple[str, ...]:
    """Raise for the first check that fails; return warnings (servers not asked).

    Raises:
        StandingRecordError: a record is missing or would not authorize this order,
            on at least one nameserver (or, under policy strict, a server did not answer).
    """
    warnings = []
    for each in checks:
        if not each.ok:
            raise NotAuthorizedHere(each.message(), qname=each.owner)
        if each.unchecked:
            note = (
                f"{each.owner.rstrip('.')}: not checked at {', '.join(each.unchecked)} "
                "(no answer); the CA may ask it"
            )
            if strict:
                raise StandingRecordError(
                    note, qname=each.owner, hint="policy strict: every nameserver must answer"
                )
            log.warning("%s", note)
            warnings.append(note)
        log.info(
            "%s: the standing dns-persist-01 record authorizes this account", each.owner.rstrip(".")
        )
    return tuple(warnings)


def ending_before(checks: Sequence[StandingCheck], moment: datetime.datetime) -> tuple[str, ...]:
    """Warnings for records whose persistUntil comes before ``moment`` (a certificate's end).

    The record still works today, but the renewal that the certificate will need
    before it expires may come after its persistUntil and would then fail.
    """
    notes = []
    for each in checks:
        until = each.verdict.persist_until
        if until is not None and until < moment:
            note = (
                f"{each.owner.rstrip('.')}: the standing record stops authorizing at "
                f"{until:%Y-%m-%d %H:%M} UTC (persistUntil), before this certificate expires "
                f"({moment:%Y-%m-%d %H:%M} UTC): renew its persistUntil in time, or renewals fail"
            )
            log.warning("%s", note)
            notes.append(note)
    return tuple(notes)
