"""ACME profiles (draft-ietf-acme-profiles): which one to put in a new order.

A CA lists its profiles in the directory's ``meta.profiles`` (name -> description);
an order names one in ``profile``. A certificate's config asks for a profile
with a policy, like certbot's ``--required-profile`` / ``--preferred-profile``:

    required   the CA must list it, else the renewal fails before any order exists
    preferred  used when listed; otherwise the CA's default, with a warning
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from certv6.errors import ConfigError

log = logging.getLogger("certv6")

POLICIES = ("preferred", "required")


def choose_profile(
    offered: Mapping[str, str], wanted: str | None, policy: str, *, what: str
) -> str | None:
    """The profile to order for ``what`` (a certificate name), or None for the CA's default.

    Raises:
        ConfigError: unknown policy, or a required profile the CA does not list.
    """
    if policy not in POLICIES:
        raise ConfigError(
            f"{what}: unknown profile_policy {policy!r}", hint=f"use one of {', '.join(POLICIES)}"
        )
    if not wanted or wanted in offered:
        return wanted or None
    listed = f"it lists: {', '.join(sorted(offered))}" if offered else "it lists no profiles"
    if policy == "required":
        raise ConfigError(
            f"{what}: the CA does not offer the profile {wanted!r} ({listed})",
            hint='pick a profile the CA lists, or set profile_policy = "preferred"',
        )
    log.warning(
        "%s: the CA does not offer the profile %r (%s); using its default", what, wanted, listed
    )
    return None
