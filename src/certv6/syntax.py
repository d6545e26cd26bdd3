"""Syntax rules that need no DNS library: host names, dns-01 values, version directories.

The hook command checks every call with these before anything else, and certbot
starts it once per challenge, so this module imports the standard library only.
``model.parse_identifier`` builds the full check (IDNA 2008) on top of them.
"""

from __future__ import annotations

import ipaddress
import re

from certv6.errors import ConfigError

LDH_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")
# RFC 8555 8.4: base64url (no padding) of a SHA-256 digest is always 43 characters.
DNS01_VALUE = re.compile(r"[A-Za-z0-9_-]{43}")
# Version directories of a lineage and of an install target: 0001, 0002, ...
VERSION_DIR = re.compile(r"\d{4,}")


def refuse_ip_literal(text: str, name: str) -> None:
    """dns-01 cannot validate an IP address (RFC 8738 section 7).

    Raises:
        ConfigError: ``name`` is an IPv4 or IPv6 literal.
    """
    try:
        ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        return
    raise ConfigError(
        f"{text!r} is an IP address; dns-01 can only validate DNS names",
        hint="use a DNS name that points at the address",
    )


def check_labels(text: str, name: str) -> None:
    """LDH rules for a lower-case ASCII ``name`` (no wildcard, no final dot).

    ``xn--`` labels pass here; whether they are valid IDNA is model's check.

    Raises:
        ConfigError: too few labels, a label that is not LDH, an all-digit TLD,
            '--' in positions 3-4 of a label that is not an A-label (RFC 5891 4.2.3.1).
    """
    labels = name.split(".")
    if len(labels) < 2:
        raise ConfigError(
            f"invalid domain {text!r}: a CA issues only for names with at least two labels"
        )
    for label in labels:
        if not LDH_LABEL.fullmatch(label):
            raise ConfigError(
                f"invalid domain {text!r}: label {label!r} is not letters, digits and hyphens",
                hint="labels are 1-63 of a-z, 0-9 and '-', not starting or ending in '-'",
            )
    if labels[-1].isdigit():
        raise ConfigError(f"invalid domain {text!r}: the last label cannot be all digits")
    for label in labels:
        if label[2:4] == "--" and not label.startswith("xn--"):
            raise ConfigError(
                f"invalid domain {text!r}: label {label!r} has '--' in positions 3-4 (reserved)",
                hint="only IDNA A-labels (xn--...) may; CAs refuse other such labels",
            )
    if len(name) > 253:
        raise ConfigError(f"invalid domain {text!r}: longer than 253 characters")


def check_dns01_value(value: str) -> None:
    """Raises ConfigError unless ``value`` is a dns-01 TXT value (RFC 8555 8.4)."""
    if not DNS01_VALUE.fullmatch(value):
        raise ConfigError(
            f"{value!r} is not a dns-01 TXT value (43 characters of base64url)",
            hint="lego with EXEC_MODE=RAW passes the key authorization: use the same mode",
        )
