"""ARI and profiles on a real CA: the upstream Pebble build, which Debian's 2.4 is not.

The stand-in of tests/fakes/ari_ca.py (test_renew_lab.py) scripts what 2.4 lacks;
here the CA itself computes the renewal window, accepts ``replaces`` (and refuses
a second order replacing the same certificate), and issues a profile's lifetime.
Time moves for certv6 only (tests/fakes/certv6_at.py), never for the CA.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
from certv6_run import CERTV6, Client, make_client

from certv6.acme_client import certificate_id
from fakes import certv6_at
from jsonschemas import validated

pytestmark = [pytest.mark.lab, pytest.mark.upstream_pebble]

ZONE = "certv6.test"


def run_at(client: Client, moment: dt.datetime | None, *args: str) -> Any:
    prefix = certv6_at.command(sys.executable, moment) if moment else [CERTV6]
    return client.lab.run_in_client([*prefix, "--config", str(client.config), *args], timeout=180)


def meta(client: Client, name: str) -> dict[str, Any]:
    return dict(json.loads((client.live(name) / "meta.json").read_text()))


def lifetime(client: Client, name: str) -> dt.timedelta:
    found = meta(client, name)
    return dt.datetime.fromisoformat(found["not_after"]) - dt.datetime.fromisoformat(
        found["not_before"]
    )


def test_the_shortlived_profile_gives_a_six_day_certificate(
    lab: Any, upstream_pebble: str, tmp_path: Path
) -> None:
    extra = '[certificate.short]\nprofile = "shortlived"\nprofile_policy = "required"\n'
    client = make_client(lab, tmp_path, extra, server=upstream_pebble)
    client.issue("short", f"short.{ZONE}")
    assert abs(lifetime(client, "short") - dt.timedelta(days=6)) < dt.timedelta(minutes=5)
    client.issue("long", f"long.{ZONE}", extra=("--profile", "default"))
    assert abs(lifetime(client, "long") - dt.timedelta(days=90)) < dt.timedelta(minutes=5)
    lineage = json.loads((client.state_dir / "certificates/short/lineage.json").read_text())
    assert lineage["profile"] == "shortlived"
    # A profile the CA does not list, required: refused before any order.
    done = client.run(
        "issue", "-d", f"nope.{ZONE}", "--profile", "forever", "--profile-policy", "required"
    )
    assert done.returncode != 0 and "forever" in done.stderr


def test_renewal_follows_the_cas_window_and_replaces_is_accepted(
    lab: Any, upstream_pebble: str, tmp_path: Path
) -> None:
    client = make_client(lab, tmp_path, server=upstream_pebble)
    client.issue("ari", f"ari.{ZONE}", extra=("--profile", "default"))
    old_id = certificate_id((client.live("ari") / "cert.pem").read_bytes())
    # A second lineage holding the same certificate, to replace it a second time below.
    certificates = client.state_dir / "certificates"
    shutil.copytree(certificates / "ari", certificates / "twin", symlinks=True)

    early = run_at(client, None, "renew", "--name", "ari")
    assert early.returncode == 0, early.stderr
    ari = json.loads((certificates / "ari" / "ari.json").read_text())
    assert ari["offered"] is True and ari["cert_id"] == old_id
    start, end = (dt.datetime.fromisoformat(moment) for moment in ari["window"])
    issued = meta(client, "ari")
    assert dt.datetime.fromisoformat(issued["not_before"]) < start < end
    assert end < dt.datetime.fromisoformat(issued["not_after"])

    done = run_at(client, end, "renew", "--name", "ari", "--json")
    assert done.returncode == 0, done.stderr
    assert f"replaces {old_id}" in done.stderr
    assert validated("renew", done.stdout)["certificates"][0]["status"] == "renewed"
    assert certificate_id((client.live("ari") / "cert.pem").read_bytes()) != old_id

    # The CA remembers: a second order replacing the same certificate is refused
    # (alreadyReplaced, RFC 9773 5), and certv6 orders again without 'replaces'.
    twin = run_at(client, end, "renew", "--name", "twin", "--json")
    assert twin.returncode == 0, twin.stderr
    assert "already replaced" in twin.stderr
    assert validated("renew", twin.stdout)["certificates"][0]["status"] == "renewed"
