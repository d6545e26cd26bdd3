"""Does a name's CAA RRset let this CA issue for this account by dns-01? Pure.

RFC 8659 section 4: only ``issue`` properties count for a name, and for a
wildcard name the ``issuewild`` properties replace them when there is at least
one. An RRset without any of them restricts nobody. A property with the critical
flag and a tag the CA does not understand forbids issuance outright.
RFC 8657 adds two parameters to ``issue``/``issuewild``: ``accounturi`` (only
this ACME account) and ``validationmethods`` (only these challenge types).

The CA's own names for CAA come from its directory (``meta.caaIdentities``,
RFC 8555 7.1.1) or the ``caa_identities`` setting; without any, nothing can be
judged and the verdict says so instead of guessing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from certv6.dnsquery import CaaLookup, CaaRecord
from certv6.errors import OrderError

CRITICAL = 0x80  # RFC 8659 4.1: the Issuer Critical flag
# Tags a CA understands; an unknown one with the critical flag set means "do not issue".
KNOWN_TAGS = {"issue", "issuewild", "iodef", "contactemail", "contactphone", "issuemail"}
# Identities of well-known CAs whose directory might not be readable when we ask.
KNOWN_IDENTITIES = {
    "acme-v02.api.letsencrypt.org": ("letsencrypt.org",),
    "acme-staging-v02.api.letsencrypt.org": ("letsencrypt.org",),
}
METHOD = "dns-01"


class CaaForbidden(OrderError):
    """A CAA record forbids this CA (or this account, or dns-01) for a name."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message, code="caa", hint=hint)


@dataclass(frozen=True, slots=True)
class IssueValue:
    """An ``issue``/``issuewild`` value: issuer domain (may be empty) and parameters."""

    issuer: str
    parameters: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CaaVerdict:
    """``permitted`` None means "cannot tell" (no CA identities known)."""

    permitted: bool | None
    reason: str
    fix: str | None = None


def parse_issue_value(value: str) -> IssueValue | None:
    """``letsencrypt.org; accounturi=https://...; validationmethods=dns-01`` (RFC 8659 4.2).

    Returns None for a malformed value, which authorizes no one.
    """
    issuer, *parts = value.split(";")
    parameters: dict[str, str] = {}
    for part in (p.strip() for p in parts):
        if not part:
            continue
        tag, equals, text = part.partition("=")
        if not equals or not tag.strip():
            return None
        parameters[tag.strip().lower()] = text.strip()
    issuer = issuer.strip().lower().rstrip(".")
    if " " in issuer or "\t" in issuer:
        return None
    return IssueValue(issuer, parameters)


def evaluate(
    lookup: CaaLookup,
    *,
    wildcard: bool,
    identities: Sequence[str],
    account_uri: str | None,
) -> CaaVerdict:
    """Would a CA with ``identities`` issue for ``lookup.name`` to ``account_uri`` by dns-01?"""
    where = _where(lookup)
    if not lookup.records:
        return CaaVerdict(True, f"no CAA record at {lookup.name} or above: any CA may issue")
    for record in lookup.records:
        if record.flags & CRITICAL and record.tag not in KNOWN_TAGS:
            return CaaVerdict(
                False,
                f"{where} has a critical property no CA understands: {record}",
                "remove the record or clear its critical flag (RFC 8659 4.1)",
            )
    relevant = _relevant(lookup.records, wildcard)
    if not relevant:
        return CaaVerdict(True, f"{where} has no issue property: any CA may issue")
    wanted = {identity.lower().rstrip(".") for identity in identities}
    if not wanted:
        return CaaVerdict(
            None,
            f"{where} restricts issuance ({_list(relevant)}) and this CA names no CAA identity",
            "set caa_identities = [...] to the CA's CAA domain so certv6 can check",
        )
    return _match(relevant, wanted, account_uri, where, _add_fix(lookup, relevant, identities))


def _match(
    relevant: Sequence[CaaRecord],
    wanted: set[str],
    account_uri: str | None,
    where: str,
    fix: str,
) -> CaaVerdict:
    problems = []
    for record in relevant:
        value = parse_issue_value(record.value)
        if value is None or value.issuer not in wanted:
            continue
        problem = _parameter_problem(value, account_uri)
        if problem is None:
            return CaaVerdict(True, f"{where} allows this CA: {record}")
        problems.append(problem)
    if problems:
        return CaaVerdict(False, f"{where} names this CA but {problems[0]}", fix)
    names = ", ".join(sorted(wanted))
    return CaaVerdict(False, f"{where} does not allow this CA ({names}): {_list(relevant)}", fix)


def _parameter_problem(value: IssueValue, account_uri: str | None) -> str | None:
    """RFC 8657: why ``accounturi``/``validationmethods`` exclude this issuance, or None."""
    methods = value.parameters.get("validationmethods")
    if methods is not None and METHOD not in {m.strip() for m in methods.split(",")}:
        return f"only for validation methods {methods}, not {METHOD} (RFC 8657)"
    wanted_account = value.parameters.get("accounturi")
    if wanted_account is not None and wanted_account != account_uri:
        mine = account_uri or "none yet (a new account gets a new URL)"
        return f"only for account {wanted_account}; this host's account is {mine} (RFC 8657)"
    return None


def _relevant(records: Sequence[CaaRecord], wildcard: bool) -> tuple[CaaRecord, ...]:
    issue = tuple(r for r in records if r.tag == "issue")
    wild = tuple(r for r in records if r.tag == "issuewild")
    # RFC 8659 4.3: for a wildcard, issuewild (if any) replaces issue; otherwise it is ignored.
    return wild if wildcard and wild else issue


def _where(lookup: CaaLookup) -> str:
    where = f"CAA at {lookup.owner}"
    if lookup.alias_of:
        where += f" (alias of {lookup.alias_of})"
    return where


def _list(records: Sequence[CaaRecord]) -> str:
    return "; ".join(str(record) for record in records)


def _add_fix(lookup: CaaLookup, relevant: Sequence[CaaRecord], identities: Sequence[str]) -> str:
    tag = relevant[0].tag if relevant else "issue"
    owner = lookup.alias_of or lookup.owner
    return f'add the record {owner} CAA 0 {tag} "{identities[0]}", or use a CA it names'
