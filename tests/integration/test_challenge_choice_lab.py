"""Choosing the DNS challenge against Debian's Pebble 2.4, which offers only dns-01 of them.

A CA that does not offer dns-persist-01 (or dns-account-01) gives a clear error
before anything is answered, or the next entry of ``challenge = [...]``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from certv6_run import make_client

pytestmark = pytest.mark.lab

ZONE = "certv6.test"


@pytest.mark.parametrize("kind", ["dns-persist-01", "dns-account-01"])
def test_a_challenge_the_ca_does_not_offer_is_a_clear_error(
    lab: Any, tmp_path: Path, kind: str
) -> None:
    client = make_client(lab, tmp_path)
    name = f"unoffered-{kind[:11]}.{ZONE}"
    done = client.run("issue", "--name", "unoffered", "-d", name, "--challenge", kind)
    assert done.returncode == 4, done.stderr
    assert f"the CA offers no {kind} challenge for {name}" in done.stderr
    assert "dns-01" in done.stderr  # what it does offer, and the fallback to write
    assert "Traceback" not in done.stderr
    assert not (client.state_dir / "certificates" / "unoffered" / "current").exists()


def test_the_next_entry_of_the_list_is_used(lab: Any, tmp_path: Path) -> None:
    extra = '[certificate.fallback]\nchallenge = ["dns-persist-01", "dns-01"]\n'
    client = make_client(lab, tmp_path, extra)
    result = client.issue("fallback", f"fallback.{ZONE}")
    assert result["detail"] == "issued"
    lineage = json.loads((client.state_dir / "certificates/fallback/lineage.json").read_text())
    assert lineage["challenge"] == ["dns-persist-01", "dns-01"]
    assert lineage["provider"] == "rfc2136"


def test_a_fallback_that_needs_a_provider_says_so(lab: Any, tmp_path: Path) -> None:
    client = make_client(
        lab, tmp_path, 'challenge = ["dns-persist-01", "dns-01"]\n', provider=False
    )
    done = client.run("issue", "--name", "nofallback", "-d", f"nofallback.{ZONE}")
    assert done.returncode == 3, done.stderr
    assert "does not offer dns-persist-01" in done.stderr
    assert "needs a DNS provider and none is configured" in done.stderr
