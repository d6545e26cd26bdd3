"""certv6 renew end to end: the IPv6-only client namespace, Pebble, BIND9.

Time is moved forward for certv6 only (tests/fakes/certv6_at.py hands the CLI a
shifted clock through ``main(clock=...)``), never for the system. Pebble 2.4 has
no ARI and no profiles: those tests put the stand-in of tests/fakes/ari_ca.py in
front of Pebble, in the CA's namespace, and Pebble still does every real step.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from certv6_run import CERTV6

from certv6.acme_client import certificate_id
from fakes import certv6_at
from fakes.ari_ca import AriCa
from lab.netns import NamespaceThreads

pytestmark = pytest.mark.lab

ZONE = "certv6.test"
ARI_PORT = 14001


@dataclass
class Renewer:
    """certv6 on the lab's client host, with its own config and state directory."""

    lab: Any
    config: Path
    state: Path

    def run(
        self, *args: str, now: dt.datetime | None = None, timeout: float = 180
    ) -> subprocess.CompletedProcess[str]:
        argv = [*self._certv6(now), "--config", str(self.config), *args]
        return self.lab.run_in_client(argv, timeout=timeout)

    def popen(self, *args: str, now: dt.datetime) -> subprocess.Popen[str]:
        argv = [*self._certv6(now), "--config", str(self.config), *args]
        return self.lab.popen_in_client(
            argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ)
        )

    @staticmethod
    def _certv6(now: dt.datetime | None) -> list[str]:
        return certv6_at.command(sys.executable, now) if now else [CERTV6]

    def issue(self, name: str, *domains: str) -> None:
        argv = ["issue", "--name", name]
        for domain in domains:
            argv += ["-d", domain]
        done = self.run(*argv)
        assert done.returncode == 0, done.stderr

    def lineage(self, name: str) -> Path:
        return self.state / "certificates" / name

    def meta(self, name: str) -> dict[str, Any]:
        return dict(json.loads((self.lineage(name) / "current" / "meta.json").read_text()))

    def versions(self, name: str) -> list[str]:
        return sorted(p.name for p in (self.lineage(name) / "versions").iterdir())

    def due_time(self, name: str, share: float = 0.7) -> dt.datetime:
        """A moment ``share`` of the way through the current certificate's lifetime."""
        meta = self.meta(name)
        start = dt.datetime.fromisoformat(meta["not_before"])
        end = dt.datetime.fromisoformat(meta["not_after"])
        return start + (end - start) * share

    def rewrite(self, old: str, new: str) -> None:
        self.config.write_text(self.config.read_text().replace(old, new))


def make_renewer(lab: Any, directory: Path, extra: str = "") -> Renewer:
    state = directory / "state"
    config = lab.write_certv6_config(directory / "certv6.toml", state_dir=state, extra=extra)
    return Renewer(lab, config, state)


@pytest.fixture
def renewer(lab: Any, tmp_path: Path) -> Renewer:
    return make_renewer(lab, tmp_path)


def tree(root: Path) -> dict[str, str]:
    found = {}
    for path in sorted(root.rglob("*")):
        if path.is_symlink():
            found[str(path.relative_to(root))] = "-> " + os.readlink(path)
        elif path.is_file():
            found[str(path.relative_to(root))] = path.read_bytes().hex()
    return found


def txt_left(lab: Any, name: str) -> set[str]:
    lab.sync_secondary()
    owner = f"_acme-challenge.{name}."
    return set(lab.txt_at(lab.primary_addr, owner) | lab.txt_at(lab.secondary_addr, owner))


# --- the fallback schedule on real Pebble -------------------------------------------------------


def test_renew_when_due_keeps_the_old_version(lab: Any, renewer: Renewer) -> None:
    renewer.issue("rn-basic", f"rn-basic.{ZONE}")
    first = renewer.meta("rn-basic")
    old_cert = (renewer.lineage("rn-basic") / "versions/0001/cert.pem").read_bytes()

    early = renewer.run("renew")
    assert early.returncode == 0, early.stderr
    assert "skipped  rn-basic  due " in early.stdout and "a third of the lifetime" in early.stdout
    ari = json.loads((renewer.lineage("rn-basic") / "ari.json").read_text())
    assert ari["offered"] is False  # Pebble's directory has no renewalInfo

    later = renewer.due_time("rn-basic")
    done = renewer.run("renew", now=later)
    assert done.returncode == 0, done.stderr
    assert "renewed  rn-basic  renewed, valid until" in done.stdout
    assert "certv6 renew: 1 renewed, 0 skipped, 0 failed" in done.stdout
    assert renewer.versions("rn-basic") == ["0001", "0002"]
    assert os.readlink(renewer.lineage("rn-basic") / "current") == "versions/0002"
    assert renewer.meta("rn-basic")["serial"] != first["serial"]
    assert (renewer.lineage("rn-basic") / "versions/0001/cert.pem").read_bytes() == old_cert
    assert txt_left(lab, f"rn-basic.{ZONE}") == set()

    again = renewer.run("renew")  # the new certificate is not due yet
    assert again.returncode == 0 and "0 renewed, 1 skipped" in again.stdout
    assert renewer.versions("rn-basic") == ["0001", "0002"]


def test_two_runs_at_once_the_second_gives_up(lab: Any, renewer: Renewer) -> None:
    renewer.issue("rn-conc", f"rn-conc.{ZONE}")
    later = renewer.due_time("rn-conc")
    ledger = renewer.state / "ledger"
    with lab.lagging(60.0):
        first = renewer.popen("renew", now=later)
        try:
            deadline = time.monotonic() + 60
            while not (ledger.is_dir() and any(ledger.glob("*.json"))):
                assert first.poll() is None, first.communicate()
                assert time.monotonic() < deadline, "the first run never published"
                time.sleep(0.05)
            # The first run waits for the lagging secondary, holding the run lock.
            second = renewer.run("renew", now=later, timeout=60)
        finally:
            lab.sync_secondary()  # let the first run see its values everywhere
        out, err = first.communicate(timeout=120)
    assert second.returncode == 11, second.stderr
    assert "certv6 renew is locked by another certv6 run" in second.stderr
    assert "hint:" in second.stderr and "Traceback" not in second.stderr
    assert first.returncode == 0, err
    assert "1 renewed" in out
    assert renewer.versions("rn-conc") == ["0001", "0002"]


def test_a_failing_provider_does_not_block_the_others(
    lab: Any, renewer: Renewer, tmp_path: Path
) -> None:
    good, bad = f"rn-good.{ZONE}", f"cname.{ZONE}"  # cname's challenge lives in challenges.test
    renewer.issue("rn-good", good)
    renewer.issue("rn-bad", bad)
    # From now on the key may only change certv6.test: challenges.test refuses it.
    renewer.rewrite(str(lab.tsig_key_file), str(lab.limited_key_file))
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    later = max(renewer.due_time("rn-good"), renewer.due_time("rn-bad"))
    done = renewer.run(
        "renew",
        "--pre-hook",
        f"echo pre >> {hooks}/pre",
        "--deploy-hook",
        f'echo "$RENEWED_LINEAGE|$RENEWED_DOMAINS" >> {hooks}/deploy',
        "--post-hook",
        f'echo "$RENEWED_DOMAINS|$FAILED_DOMAINS" >> {hooks}/post',
        now=later,
    )
    assert done.returncode == 12, done.stderr
    assert "renewed  rn-good" in done.stdout
    assert "failed   rn-bad" in done.stdout
    assert "certv6: error: 1 certificate(s) failed: rn-bad" in done.stderr
    assert "Traceback" not in done.stderr
    assert renewer.versions("rn-good") == ["0001", "0002"]
    assert renewer.versions("rn-bad") == ["0001"]
    assert (hooks / "pre").read_text() == "pre\n"
    live = renewer.lineage("rn-good") / "current"
    assert (hooks / "deploy").read_text() == f"{live}|{good}\n"
    assert (hooks / "post").read_text() == f"{good}|{bad}\n"


def test_dry_run_uses_staging_and_writes_nothing_live(lab: Any, tmp_path: Path) -> None:
    # Pebble is its own staging CA here.
    renewer = make_renewer(lab, tmp_path, extra="")
    renewer.config.write_text(
        f"staging_server = {json.dumps(lab.ca_directory)}\n" + renewer.config.read_text()
    )
    renewer.issue("rn-dry", f"rn-dry.{ZONE}")
    before = tree(renewer.state)
    done = renewer.run("renew", "--dry-run", "--deploy-hook", f"touch {tmp_path}/deployed")
    assert done.returncode == 0, done.stderr
    assert "renewed  rn-dry  dry run: staging issued" in done.stdout
    assert "(dry run: nothing was stored)" in done.stdout
    assert tree(renewer.state) == before
    assert not (tmp_path / "deployed").exists()
    assert txt_left(lab, f"rn-dry.{ZONE}") == set()


# --- ARI and profiles, through the stand-in in front of Pebble ----------------------------------


@pytest.fixture
def ari_ca(lab: Any) -> Iterator[AriCa]:
    listener = lab.workdir / "ca"
    ca = AriCa(
        lab.ca_addr,
        ARI_PORT,
        cert=listener / "listener.pem",
        key=listener / "listener.key",
        upstream=(lab.ca_addr, 14000),
        upstream_ca=lab.ca_bundle,
    )
    # The socket and the serving thread live in the CA's namespace; so do the
    # threads that serve each request and open the connections to Pebble.
    threads = NamespaceThreads(lab.netns("ca"), workers=2)
    threads.call(ca.bind)
    serving = threads.submit(ca.serve_forever)
    try:
        yield ca
    finally:
        ca.shutdown()
        serving.result(timeout=10)
        threads.close()


@pytest.fixture
def ari_renewer(lab: Any, ari_ca: AriCa, tmp_path: Path) -> Renewer:
    renewer = make_renewer(lab, tmp_path)
    renewer.rewrite(lab.ca_directory, ari_ca.directory_url)
    return renewer


def cert_id(renewer: Renewer, name: str) -> str:
    return certificate_id((renewer.lineage(name) / "current" / "cert.pem").read_bytes())


def test_ari_window_and_retry_after_drive_renewal_with_replaces(
    ari_ca: AriCa, ari_renewer: Renewer
) -> None:
    now = dt.datetime.now(dt.UTC)
    ari_ca.script.default_window = (now + dt.timedelta(days=300), now + dt.timedelta(days=302))
    ari_ca.script.retry_after = "3600"
    ari_renewer.issue("rn-ari", f"rn-ari.{ZONE}")
    old_id = cert_id(ari_renewer, "rn-ari")

    first = ari_renewer.run("renew")
    assert first.returncode == 0, first.stderr
    assert "skipped  rn-ari" in first.stdout and "(ARI window)" in first.stdout
    assert ari_ca.seen.renewal_info == [old_id]
    state = json.loads((ari_renewer.lineage("rn-ari") / "ari.json").read_text())
    renew_at = dt.datetime.fromisoformat(state["renew_at"])
    assert ari_ca.script.default_window[0] <= renew_at <= ari_ca.script.default_window[1]

    # Within Retry-After, nothing is due: no request to the CA at all.
    asked = len(ari_ca.seen.requests)
    quiet = ari_renewer.run("renew", now=now + dt.timedelta(minutes=30))
    assert quiet.returncode == 0, quiet.stderr
    assert len(ari_ca.seen.requests) == asked

    # The CA moves the window into the past (say, a revocation); after Retry-After: renew.
    ari_ca.script.windows[old_id] = (now - dt.timedelta(hours=2), now - dt.timedelta(hours=1))
    done = ari_renewer.run("renew", now=now + dt.timedelta(hours=2))
    assert done.returncode == 0, done.stderr
    assert "renewed  rn-ari" in done.stdout
    assert ari_renewer.versions("rn-ari") == ["0001", "0002"]
    renewal_orders = [o for o in ari_ca.seen.orders if o.get("replaces")]
    assert [o["replaces"] for o in renewal_orders] == [old_id]
    # RFC 9773 4.3: the new certificate's renewal info is fetched right after issuance.
    new_id = cert_id(ari_renewer, "rn-ari")
    assert ari_ca.seen.renewal_info[-1] == new_id != old_id


def test_already_replaced_leads_to_a_fresh_order(ari_ca: AriCa, ari_renewer: Renewer) -> None:
    now = dt.datetime.now(dt.UTC)
    ari_ca.script.default_window = (now - dt.timedelta(hours=2), now - dt.timedelta(hours=1))
    ari_ca.script.already_replaced.add("*")
    ari_renewer.issue("rn-repl", f"rn-repl.{ZONE}")
    old_id = cert_id(ari_renewer, "rn-repl")
    done = ari_renewer.run("renew")
    assert done.returncode == 0, done.stderr
    assert "already replaced" in done.stderr
    assert ari_ca.seen.refused == [old_id]
    assert "replaces" not in ari_ca.seen.orders[-1]
    assert ari_renewer.versions("rn-repl") == ["0001", "0002"]


def test_profiles_required_and_preferred(ari_ca: AriCa, ari_renewer: Renewer) -> None:
    ari_ca.script.profiles = {"classic": "the default", "shortlived": "six days"}
    ari_ca.script.default_window = None  # renewal info: 404, the fallback applies
    table = '\n[certificate.rn-prof]\nprofile = "shortlived"\nprofile_policy = "required"\n'
    ari_renewer.config.write_text(ari_renewer.config.read_text() + table)
    ari_renewer.issue("rn-prof", f"rn-prof.{ZONE}")

    done = ari_renewer.run("renew", "--force", "--name", "rn-prof")
    assert done.returncode == 0, done.stderr
    assert ari_ca.seen.orders[-1]["profile"] == "shortlived"
    lineage = json.loads((ari_renewer.lineage("rn-prof") / "lineage.json").read_text())
    assert lineage["profile"] == "shortlived"

    ari_ca.script.profiles = {"classic": "the default"}
    orders = len(ari_ca.seen.orders)
    refused = ari_renewer.run("renew", "--force", "--name", "rn-prof")
    assert refused.returncode == 12
    assert "the CA does not offer the profile 'shortlived' (it lists: classic)" in refused.stderr
    assert len(ari_ca.seen.orders) == orders  # refused before any order exists

    ari_renewer.rewrite('profile_policy = "required"', 'profile_policy = "preferred"')
    preferred = ari_renewer.run("renew", "--force", "--name", "rn-prof")
    assert preferred.returncode == 0, preferred.stderr
    assert "using its default" in preferred.stderr
    assert "profile" not in ari_ca.seen.orders[-1]
    assert ari_renewer.versions("rn-prof") == ["0001", "0002", "0003"]
