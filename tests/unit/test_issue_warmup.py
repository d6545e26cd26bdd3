"""The DNS warm-up thread of ``certv6 issue``: it logs what it got and never outlives the run."""

from __future__ import annotations

import logging
import threading

import pytest

from certv6.dnsquery import Dns, DnsSettings
from certv6.model import parse_identifiers
from certv6.service.issue import _DnsWarmUp


class Failing(Dns):
    """A resolver that fails the way a run shutting down does (and not as a CertV6Error)."""

    def __init__(self) -> None:
        super().__init__(DnsSettings(resolvers=("[::1]:9",)))

    def relevant_caa(self, name: str) -> object:  # type: ignore[override]
        raise RuntimeError("cannot schedule new futures after interpreter shutdown")

    def follow_cname(self, name: str) -> tuple[str, ...]:
        raise RuntimeError("cannot schedule new futures after interpreter shutdown")


def test_what_the_warm_up_got_is_logged_at_debug_and_nothing_escapes_its_thread(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    escaped: list[threading.ExceptHookArgs] = []
    monkeypatch.setattr(threading, "excepthook", escaped.append)
    caplog.set_level(logging.DEBUG, logger="certv6")
    warm = _DnsWarmUp(Failing(), parse_identifiers(["a.example.org", "b.example.org"]))
    warm.join()
    assert escaped == []  # was: "Exception in thread certv6-dns-warm: Traceback ..."
    messages = [record.getMessage() for record in caplog.records]
    assert "DNS warm-up: CAA of a.example.org: cannot schedule new futures" in " ".join(messages)
    assert any(m.startswith("DNS warm-up stopped: RuntimeError") for m in messages)


def test_stop_ends_it_between_look_ups_and_waits_for_it() -> None:
    started, release = threading.Event(), threading.Event()

    class Slow(Failing):
        def relevant_caa(self, name: str) -> object:  # type: ignore[override]
            started.set()
            release.wait(5)
            return None

    names = [f"n{i}.example.org" for i in range(50)]
    warm = _DnsWarmUp(Slow(), parse_identifiers(names))
    assert started.wait(5)
    release.set()
    warm.stop()
    assert not warm._thread.is_alive()
