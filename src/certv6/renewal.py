"""When a certificate is due for renewal, without asking the CA.

The fallback rule when the CA offers no ARI window (RFC 9773): renew when a
third of the lifetime is left, or half of it for certificates that live under
ten days (short-lived profiles), as Let's Encrypt recommends.
"""

from __future__ import annotations

import datetime

SHORT_LIVED = datetime.timedelta(days=10)


def default_renewal_time(
    not_before: datetime.datetime, not_after: datetime.datetime
) -> datetime.datetime:
    lifetime = not_after - not_before
    remaining_share = 2 if lifetime < SHORT_LIVED else 3
    return not_after - lifetime / remaining_share
