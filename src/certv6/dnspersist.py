"""dns-persist-01 records: their syntax, the record to ask for, and whether one
authorizes this account at this CA. Pure: no DNS, no ACME, standard library only.

draft-ietf-acme-dns-persist 3: one standing TXT record at
``_validation-persist.<name>``, added once by the domain's administrator, lets
an ACME account validate the name from then on without any DNS change::

    <issuer-domain-name>; accounturi=<account URL>[; policy=wildcard][; persistUntil=<unix s>]

Its syntax is the CAA ``issue`` value's (RFC 8659 4.2)::

    issue-value = *WSP [issuer-domain-name *WSP] [";" *WSP [parameters *WSP]]
    parameters  = (parameter *WSP ";" *WSP parameters) / parameter
    parameter   = tag *WSP "=" *WSP value
    tag         = (ALPHA / DIGIT) *( *("-") (ALPHA / DIGIT))
    value       = *(%x21-3A / %x3C-7E)      ; printable ASCII, no ";" and no space

Tags are case-insensitive, each at most once; ``accounturi`` is mandatory. A CA
ignores records that name another issuer, so several CAs' records can stand side
by side. The checks here are what a CA refuses (Let's Encrypt's Boulder and
Pebble): a record certv6 accepts, the CA accepts, so a bad record is found
before an order is answered. The issuer name is compared as CAs compare it:
case-insensitively, a final dot ignored.
"""

from __future__ import annotations

import datetime
import enum
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

TAG = re.compile(r"[A-Za-z0-9](?:-*[A-Za-z0-9])*")
VALUE = re.compile(r"[\x21-\x3a\x3c-\x7e]*")
WSP = " \t"
MAX_STRING = 255  # octets in one TXT character-string (RFC 1035 3.3.14)
WILDCARD = "wildcard"


class Malformed(ValueError):
    """The record breaks the syntax; ``str()`` says where, in words."""


@dataclass(frozen=True, slots=True)
class IssueValue:
    """A parsed record: the issuer (lower case, no final dot) and its parameters."""

    issuer: str
    parameters: tuple[tuple[str, str], ...]  # (tag in lower case, value), in record order

    def get(self, tag: str) -> str | None:
        return next((value for key, value in self.parameters if key == tag.lower()), None)

    @property
    def account_uri(self) -> str | None:
        return self.get("accounturi")

    @property
    def wildcard(self) -> bool:
        # "If the policy parameter's value is anything other than wildcard, the CA
        # MUST proceed as if the policy parameter were not present."
        return (self.get("policy") or "").lower() == WILDCARD

    @property
    def persist_until(self) -> datetime.datetime | None:
        seconds = self.get("persistuntil")
        if seconds is None:
            return None
        return datetime.datetime.fromtimestamp(int(seconds), datetime.UTC)


def issuer_of(text: str) -> str:
    """The issuer a record names, normalised; "" when it names none (the CA ignores it)."""
    return normalize_issuer(text.split(";", 1)[0].strip(WSP))


def normalize_issuer(name: str) -> str:
    return name.strip().lower().removesuffix(".")


def parse(text: str) -> IssueValue:
    """Raises Malformed, naming what the CA would refuse."""
    head, _, rest = text.partition(";")
    issuer = head.strip(WSP)
    if not issuer:
        raise Malformed("it names no issuer domain name before the first ';'")
    if not re.fullmatch(r"[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?\.?", issuer):
        raise Malformed(f"{issuer!r} is not an issuer domain name")
    parameters = _parameters(rest) if rest.strip(WSP) else ()
    tags = [tag for tag, _ in parameters]
    for tag in tags:
        if tags.count(tag) > 1:
            raise Malformed(f"the tag {tag!r} appears more than once (tags ignore case)")
    value = IssueValue(normalize_issuer(issuer), parameters)
    if not value.account_uri:
        raise Malformed("accounturi is missing (it is mandatory)")
    until = value.get("persistuntil")
    if until is not None and not until.isdigit():
        raise Malformed(f"persistUntil={until!r} is not a time in seconds since 1970")
    return value


def _parameters(rest: str) -> tuple[tuple[str, str], ...]:
    parts = rest.split(";")
    found = []
    for index, part in enumerate(parts):
        if not part.strip(WSP):
            where = "at the end" if index == len(parts) - 1 else "between two ';'"
            raise Malformed(f"an empty parameter {where} (a stray ';')")
        tag, equals, value = part.partition("=")
        tag, value = tag.strip(WSP), value.strip(WSP)
        if not equals:
            raise Malformed(f"{part.strip(WSP)!r} is not tag=value")
        if not TAG.fullmatch(tag):
            raise Malformed(f"{tag!r} is not a tag (letters, digits and '-')")
        if not VALUE.fullmatch(value):
            raise Malformed(
                f"the value of {tag} holds whitespace or a character outside printable ASCII:"
                f" {value!r}"
            )
        found.append((tag.lower(), value))
    return tuple(found)


def render(
    issuer: str, account_uri: str, *, wildcard: bool, until: datetime.datetime | None = None
) -> str:
    """The record certv6 asks for, in the draft's canonical spelling."""
    parts = [normalize_issuer(issuer), f"accounturi={account_uri}"]
    if wildcard:
        parts.append(f"policy={WILDCARD}")
    if until is not None:
        parts.append(f"persistUntil={int(until.timestamp())}")
    return "; ".join(parts)


def character_strings(value: str) -> list[str]:
    """``value`` cut into TXT character-strings of at most 255 octets (RFC 1035 3.3.14).

    An account URL makes a record longer than one string can be; the CA joins the
    strings of one record back together (RFC 7208 3.3 does the same for SPF).
    """
    data = value.encode()
    return [data[i : i + MAX_STRING].decode() for i in range(0, len(data), MAX_STRING)] or [""]


def zone_file_line(owner: str, value: str, ttl: int = 3600) -> str:
    """The record as a zone-file line, long values split into quoted strings."""
    quoted = " ".join(f'"{part}"' for part in character_strings(value))
    return f"{owner} {ttl} IN TXT {quoted}"


@dataclass(frozen=True, slots=True)
class Expectation:
    """What a record must say for this account at this CA, for a name or its wildcard."""

    issuers: tuple[str, ...]  # the CA's issuer domain names (any one will do)
    account_uri: str
    wildcard: bool

    def record(self, until: datetime.datetime | None = None) -> str:
        return render(self.issuers[0], self.account_uri, wildcard=self.wildcard, until=until)


class Problem(enum.StrEnum):
    MISSING = "missing"
    OTHER_CA = "other CA"
    MALFORMED = "malformed"
    OTHER_ACCOUNT = "other account"
    NO_WILDCARD_POLICY = "no wildcard policy"
    EXPIRED = "expired"


# When no record of this CA authorizes, the one closest to working is reported.
_CLOSEST_FIRST = (
    Problem.NO_WILDCARD_POLICY,
    Problem.EXPIRED,
    Problem.MALFORMED,
    Problem.OTHER_ACCOUNT,
)


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the records at one owner mean for this account at this CA."""

    problem: Problem | None
    record: str  # the record that decided, as it is; "" when there is none for this CA
    detail: str  # why, in words
    found: tuple[str, ...] = ()  # every TXT string at the owner
    persist_until: datetime.datetime | None = None  # of the authorizing record

    @property
    def ok(self) -> bool:
        return self.problem is None


def judge(texts: Iterable[str], expected: Expectation, *, now: datetime.datetime) -> Verdict:
    """Does one of ``texts`` (the TXT strings at the owner) authorize issuance now?"""
    found = tuple(sorted(texts))
    if not found:
        return Verdict(Problem.MISSING, "", "there is no TXT record", found)
    issuers = {normalize_issuer(issuer) for issuer in expected.issuers}
    mine = [text for text in found if issuer_of(text) in issuers]
    if not mine:
        others = sorted({issuer_of(text) or "(no issuer)" for text in found})
        detail = f"no record names {' or '.join(sorted(issuers))}; found only {', '.join(others)}"
        return Verdict(Problem.OTHER_CA, found[0], detail, found)
    verdicts = [_one(text, expected, now, found) for text in mine]
    for verdict in verdicts:
        if verdict.ok:
            return verdict
    return min(verdicts, key=lambda v: _CLOSEST_FIRST.index(v.problem or Problem.MALFORMED))


def _one(text: str, expected: Expectation, now: datetime.datetime, found: Sequence[str]) -> Verdict:
    try:
        value = parse(text)
    except Malformed as error:
        return Verdict(Problem.MALFORMED, text, f"it is malformed: {error}", tuple(found))
    if value.account_uri != expected.account_uri:
        detail = f"it names the account {value.account_uri}, not this one ({expected.account_uri})"
        return Verdict(Problem.OTHER_ACCOUNT, text, detail, tuple(found))
    if expected.wildcard and not value.wildcard:
        detail = "a wildcard certificate needs policy=wildcard in it"
        return Verdict(Problem.NO_WILDCARD_POLICY, text, detail, tuple(found))
    until = value.persist_until
    if until is not None and now > until:
        detail = f"its persistUntil ({until:%Y-%m-%d %H:%M} UTC) has passed"
        return Verdict(Problem.EXPIRED, text, detail, tuple(found), until)
    return Verdict(None, text, "it authorizes this account", tuple(found), until)
