"""One provider call for the values of every lineage that publishes at that moment (issue #19).

Group commit: a lineage that publishes (or cleans up) while no call of its
provider is in progress makes the call, for its own values and for every
other lineage's queued by then; lineages arriving during the call queue up and
go together in the next one. RFC 2136 then sends one UPDATE per zone for all
of them instead of one per lineage, and an HTTP provider one request batch.

One lineage's values never fail another's: when a combined call fails, each
lineage's values are sent again on their own, with that lineage's own
provider, and only the ones that fail again fail (the provider contract makes
``present`` and ``cleanup`` idempotent, so sending a value twice is harmless).

Providers that serve the values from the certv6 process itself (standalone)
are never combined: each lineage's values live in its own server.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

from certv6.model import ProviderHints, TxtRecord
from certv6.providers import Provider

log = logging.getLogger("certv6")

IN_PROCESS = frozenset({"standalone"})
PRESENT, CLEANUP = "present", "cleanup"


@dataclass(eq=False)
class _Ticket:
    provider: Provider
    records: tuple[TxtRecord, ...]
    done: bool = False
    error: BaseException | None = None


@dataclass
class _Queue:
    waiting: list[_Ticket] = field(default_factory=list)
    busy: bool = False


class Batcher:
    """The queues, per provider name and operation; shared by every lineage of a run."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._queues: dict[tuple[str, str], _Queue] = {}
        self.calls: list[tuple[str, str, int]] = []  # (provider, operation, values): the log

    def provider(self, provider: Provider) -> Provider:
        """``provider`` as a lineage publishes through it: batched, unless in-process."""
        if provider.name in IN_PROCESS:
            return provider
        return BatchedProvider(provider, self)

    def call(self, operation: str, provider: Provider, records: Sequence[TxtRecord]) -> None:
        """``provider.<operation>(records)``, in one call with whatever else is queued.

        Raises what this lineage's values alone raise from the provider.
        """
        ticket = _Ticket(provider, tuple(records))
        queue = self._queue(provider.name, operation)
        batch: list[_Ticket] = []
        with self._changed:
            queue.waiting.append(ticket)
            while not ticket.done and queue.busy:
                self._changed.wait()
            if not ticket.done:  # this lineage sends the call, for everyone queued
                batch, queue.waiting, queue.busy = queue.waiting, [], True
        if batch:
            try:
                self._send(operation, batch)
            finally:
                with self._changed:
                    queue.busy = False
                    self._changed.notify_all()
        if ticket.error is not None:
            raise ticket.error

    def _queue(self, name: str, operation: str) -> _Queue:
        with self._changed:
            return self._queues.setdefault((name, operation), _Queue())

    def _send(self, operation: str, batch: list[_Ticket]) -> None:
        """One call for the whole batch; on failure each ticket again, on its own."""
        leader = batch[0].provider
        records = [record for ticket in batch for record in ticket.records]
        try:
            getattr(leader, operation)(records)
            self.calls.append((leader.name, operation, len(records)))
        except Exception as error:
            if len(batch) == 1:
                batch[0].error = error
            else:
                log.info(
                    "%s of %d values for %d certificates failed (%s); each on its own",
                    operation,
                    len(records),
                    len(batch),
                    error,
                )
                for ticket in batch:
                    self._alone(operation, ticket)
        except BaseException as error:  # interrupted: every lineage of the batch learns it
            for ticket in batch:
                ticket.error = error
        for ticket in batch:
            ticket.done = True

    def _alone(self, operation: str, ticket: _Ticket) -> None:
        try:
            getattr(ticket.provider, operation)(ticket.records)
            self.calls.append((ticket.provider.name, operation, len(ticket.records)))
        except Exception as error:
            ticket.error = error


class BatchedProvider:
    """A lineage's provider whose ``present`` and ``cleanup`` go through the batcher."""

    def __init__(self, inner: Provider, batcher: Batcher) -> None:
        self.inner = inner
        self.name = inner.name
        self._batcher = batcher

    def present(self, records: Sequence[TxtRecord]) -> None:
        self._batcher.call(PRESENT, self.inner, records)

    def cleanup(self, records: Sequence[TxtRecord]) -> None:
        self._batcher.call(CLEANUP, self.inner, records)

    def hints(self) -> ProviderHints:
        return self.inner.hints()

    def preflight(self) -> None:
        self.inner.preflight()
