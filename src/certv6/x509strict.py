"""Python 3.13's strict X.509 checks: which RFC 5280 rule a certificate broke, and the fix.

Since 3.13, ``ssl.create_default_context()`` (and urllib3, hence requests and the acme
library) sets ``VERIFY_X509_STRICT``: OpenSSL then refuses chains that break RFC 5280 rules it
used to let pass, e.g. a server certificate without an authorityKeyIdentifier, or a CA whose
basicConstraints is not critical. Public CAs follow the rules; home-made private CAs often do
not (issue #22). A chain that worked on Debian 12's Python 3.11 then fails after an upgrade to
Debian 13's 3.13, with OpenSSL's terse words as the only clue.

This module recognizes those failures by their OpenSSL verify codes (the ones only strict
mode raises, ``X509_V_ERR_*`` 78 and 80-94 in OpenSSL 3) and says which certificate to
re-issue with which extension. certv6 never clears the flag to get past them: the fix belongs
in the CA (docs/private-ca.md).
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass

DOCS = "docs/private-ca.md"
# The openssl examples the hints give; docs/private-ca.md shows them whole, and
# tests/unit/test_x509strict.py runs them and checks the result under the strict flag.
CA_EXAMPLE = (
    "openssl req -x509 -new -key ca.key -subj '/CN=My CA' -days 3650"
    " -addext 'basicConstraints=critical,CA:TRUE'"
    " -addext 'keyUsage=critical,keyCertSign,cRLSign'"
    " -addext 'subjectKeyIdentifier=hash' -out ca.pem"
)
SERVER_EXAMPLE = (
    "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -days 365 -extfile server.ext"
    " -out server.pem"
)
_CA = "re-issue the CA certificate (same key and name, so what it signed stays valid) with "
_SERVER = "re-issue the server's certificate (and any intermediate) with "


@dataclass(frozen=True, slots=True)
class StrictRule:
    section: str  # of RFC 5280 (RFC 5480 for EC keys)
    fix: str


@dataclass(frozen=True, slots=True)
class StrictFailure:
    """A chain refused by a strict check: OpenSSL's reason, the rule, the fix."""

    code: int
    reason: str  # OpenSSL's words, e.g. "Missing Authority Key Identifier"
    rule: StrictRule

    @property
    def hint(self) -> str:
        return (
            f"the chain breaks RFC 5280 {self.rule.section}, which Python 3.13 and later check"
            f" strictly (VERIFY_X509_STRICT; certv6 keeps that check on): {self.rule.fix};"
            f" see {DOCS}"
        )


_SERVER_FIX = f"{SERVER_EXAMPLE}, server.ext holding"
RULES: dict[int, StrictRule] = {
    78: StrictRule("4.1.1.2", "re-issue it: its signature algorithm differs inside and out"),
    80: StrictRule("4.2.1.9", f"{_SERVER}basicConstraints=critical,CA:FALSE (no pathlen)"),
    81: StrictRule("4.2.1.9", f"{_CA}keyUsage=critical,keyCertSign,cRLSign ({CA_EXAMPLE})"),
    82: StrictRule("4.2.1.3", f"{_SERVER}keyUsage=critical,digitalSignature (no keyCertSign)"),
    83: StrictRule("4.1.2.4", f"{_CA}a subject name ({CA_EXAMPLE})"),
    84: StrictRule("4.1.2.6", "re-issue it with a subject name (-subj '/CN=...')"),
    85: StrictRule(
        "4.2.1.1",
        f"{_SERVER}authorityKeyIdentifier=keyid,issuer ({_SERVER_FIX} that line)",
    ),
    86: StrictRule("4.2.1.2", f"{_CA}subjectKeyIdentifier=hash ({CA_EXAMPLE})"),
    87: StrictRule("4.2.1.6", f"{_SERVER}a subjectAltName that names the host (DNS:...)"),
    88: StrictRule("4.2.1.6", f"{_SERVER}a subject name (-subj '/CN=...')"),
    89: StrictRule("4.2.1.9", f"{_CA}basicConstraints=critical,CA:TRUE ({CA_EXAMPLE})"),
    90: StrictRule(
        "4.2.1.1", "re-issue it with authorityKeyIdentifier=keyid,issuer (not critical)"
    ),
    91: StrictRule("4.2.1.2", "re-issue it with subjectKeyIdentifier=hash (not critical)"),
    92: StrictRule("4.2.1.3", f"{_CA}keyUsage=critical,keyCertSign,cRLSign ({CA_EXAMPLE})"),
    93: StrictRule("4.1.2.1", "re-issue it as an X.509 version 3 certificate"),
    94: StrictRule(
        "(RFC 5480 2.1.1)",
        "re-issue it with a named-curve key (openssl genpkey -algorithm EC"
        " -pkeyopt ec_paramgen_curve:P-256)",
    ),
}


def strict_failure(error: BaseException) -> StrictFailure | None:
    """The strict check ``error`` (any wrapper around an SSL error) comes from, if it does."""
    found = verification_error(error)
    if found is None or found.verify_code not in RULES:
        return None
    return StrictFailure(found.verify_code, found.verify_message, RULES[found.verify_code])


def verification_error(error: BaseException) -> ssl.SSLCertVerificationError | None:
    """The ``ssl.SSLCertVerificationError`` inside ``error``.

    requests wraps it in urllib3's MaxRetryError (``reason``) and SSLError (``args``), and
    chains them with ``raise ... from``; every one of those paths is searched.
    """
    seen: set[int] = set()
    pending: list[object] = [error]
    while pending:
        current = pending.pop()
        if not isinstance(current, BaseException) or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, ssl.SSLCertVerificationError):
            return current
        pending += [*current.args, getattr(current, "reason", None)]
        pending += [current.__cause__, current.__context__]
    return None


def default_is_strict() -> bool:
    """Whether this Python checks strictly by default (3.13 and later)."""
    return bool(ssl.create_default_context().verify_flags & ssl.VERIFY_X509_STRICT)
