"""What an issuance shares with the others running beside it (issue #19).

``issue()`` asks a ``Sharing`` for its resolver and its session with the CA, for
the provider to publish through and for the wait until every nameserver serves
the values. On its own (``certv6 issue``) that is ``ALONE``: everything its own.
``certv6 renew`` hands in ``service/renew/together.py``'s, under which the
lineages of a run share one session per CA and one resolver, their values go
out in one UPDATE per zone for everything published at that moment, and one
propagation check covers them all while each returns as soon as its own
values are visible.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol

from certv6 import propagation
from certv6.clock import Clock
from certv6.dnsquery import Dns
from certv6.model import TxtRecord
from certv6.providers import Provider
from certv6.service.cleanup import cleanup_stale
from certv6.service.runtime import build_dns
from certv6.settings import Settings
from certv6.store import Store

if TYPE_CHECKING:
    from certv6.acme_client import AcmeSession

Progress = Callable[["propagation.Report"], None]


class Sharing(Protocol):
    @property
    def warm_up(self) -> bool:
        """Look up CAA and the challenge owners while the CA is contacted (issue.py)."""
        ...

    def dns(self, settings: Settings) -> Dns: ...

    def remove_stale(self, settings: Settings, store: Store, dns: Dns, clock: Clock) -> None:
        """Remove the TXT values killed runs left (``cleanup_stale``), when it is this one's job."""
        ...

    def session(self, settings: Settings, store: Store, clock: Clock) -> AcmeSession:
        """The ACME session with ``settings.server``'s account (created if needed)."""
        ...

    def provider(self, provider: Provider) -> Provider:
        """What to call ``present``/``cleanup`` on: ``provider``, or a batch it joins."""
        ...

    def wait_until_visible(
        self,
        records: Sequence[TxtRecord],
        settings: propagation.PropagationSettings,
        *,
        dns: Dns,
        clock: Clock,
        progress: Progress | None,
    ) -> propagation.Report:
        """``propagation.wait_until_visible``, alone or in a check shared with others."""
        ...


class Alone:
    """One issuance on its own: its own resolver, session, UPDATEs and propagation check."""

    warm_up = True

    def dns(self, settings: Settings) -> Dns:
        return build_dns(settings)

    def remove_stale(self, settings: Settings, store: Store, dns: Dns, clock: Clock) -> None:
        cleanup_stale(settings, store, dns, clock)

    def session(self, settings: Settings, store: Store, clock: Clock) -> AcmeSession:
        # acme and cryptography: imported only now (issue.py imports them meanwhile).
        from certv6.service.account import connect_account  # noqa: PLC0415

        return connect_account(settings, store, clock)

    def provider(self, provider: Provider) -> Provider:
        return provider

    def wait_until_visible(
        self,
        records: Sequence[TxtRecord],
        settings: propagation.PropagationSettings,
        *,
        dns: Dns,
        clock: Clock,
        progress: Progress | None,
    ) -> propagation.Report:
        return propagation.wait_until_visible(
            records, settings, dns=dns, clock=clock, progress=progress
        )


ALONE: Sharing = Alone()
