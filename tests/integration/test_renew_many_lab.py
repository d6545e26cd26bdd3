"""Many lineages renewed side by side (issue #19), on real Pebble and BIND9.

The stand-in of tests/fakes/ari_ca.py sits in front of Pebble (in the CA's
namespace): it suggests renewal windows (ARI), records every newOrder and its
``replaces``, answers 429 with a Retry-After for the identifiers a test rate-limits,
and counts the requests it handles at once. Pebble does every real step.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from test_renew_lab import (  # noqa: F401  (ari_ca, ari_renewer: fixtures)
    Renewer,
    ari_ca,
    ari_renewer,
    cert_id,
    make_renewer,
    txt_left,
)

from certv6.acme_client.network import IN_FLIGHT
from fakes.ari_ca import AriCa
from jsonschemas import validated

pytestmark = pytest.mark.lab

ZONE = "certv6.test"
SERVER_A = ("rm-ok1", "rm-ok2", "rm-ok3")  # one server: tested and reloaded once for all
SERVER_B = ("rm-ok4", "rm-inst")  # another; its config test refuses rm-inst's new version
FAILING = "rm-fail"  # its challenge lives in challenges.test, which the limited key cannot change
LIMITED = "rm-limit"  # the CA answers 429 to its orders
DOMAIN = {name: f"{name}.{ZONE}" for name in (*SERVER_A, *SERVER_B, LIMITED)}
DOMAIN[FAILING] = f"cname2.{ZONE}"
ALL = sorted(DOMAIN)


def table(name: str, root: Path, server: str, config_test: str) -> str:
    reload = f"echo reload >> {root}/{server}-reloads.log"  # the same for every table
    return (
        f"[[certificate.{name}.install]]\n"
        'target = "files"\n'
        f'directory = "{root}/deploy-{name}"\n'
        f'cert = "{root}/app/{name}.crt"\n'
        f"config_test = {json.dumps(['/bin/sh', '-c', config_test])}\n"
        f"reload = {json.dumps(['/bin/sh', '-c', reload])}\n"
    )


def configure(renewer: Renewer, root: Path) -> None:
    refuses = (
        f'test "$(readlink {root}/deploy-rm-inst/live)" != versions/0002 || test -e {root}/fixed'
    )
    text = "".join(table(name, root, "a", f"echo test >> {root}/a-tests.log") for name in SERVER_A)
    text += "".join(table(name, root, "b", refuses) for name in SERVER_B)
    hooks = (
        f'pre_hook = "echo pre >> {root}/pre"\n'
        f"deploy_hook = 'echo \"$RENEWED_DOMAINS\" >> {root}/deploy'\n"
        f"post_hook = 'echo \"$RENEWED_DOMAINS|$FAILED_DOMAINS\" >> {root}/post'\n"
    )
    config = renewer.config.read_text()
    renewer.config.write_text(hooks + config + "\n" + text)


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def renew(renewer: Renewer, code: int, now: dt.datetime | None = None) -> dict[str, Any]:
    done = renewer.run("renew", "--json", now=now, timeout=300)
    assert done.returncode == code, f"{done.returncode}\n{done.stdout}\n{done.stderr}"
    assert "Traceback" not in done.stderr
    return dict(validated("renew", done.stdout))


def statuses(report: dict[str, Any]) -> dict[str, str]:
    return {each["name"]: each["status"] for each in report["certificates"]}


def test_many_lineages_side_by_side_each_with_its_own_fate(
    lab: Any,
    ari_ca: AriCa,  # noqa: F811  (the fixture imported above)
    ari_renewer: Renewer,  # noqa: F811
    tmp_path: Path,
) -> None:
    renewer = ari_renewer
    now = dt.datetime.now(dt.UTC)
    ari_ca.script.default_window = (now + dt.timedelta(days=300), now + dt.timedelta(days=302))
    configure(renewer, tmp_path)
    for name in ALL:
        renewer.issue(name, DOMAIN[name])
    old = {name: cert_id(renewer, name) for name in ALL}
    served_before = (tmp_path / "app/rm-inst.crt").read_bytes()
    # Every current certificate is due now (the CA's window for it has begun).
    for cert in old.values():
        ari_ca.script.windows[cert] = (now - dt.timedelta(hours=2), now - dt.timedelta(hours=1))
    ari_ca.script.rate_limited[DOMAIN[LIMITED]] = "3600"
    renewer.rewrite(str(lab.tsig_key_file), str(lab.limited_key_file))
    reloads_a, tests_a, reloads_b = (
        len(lines(tmp_path / f)) for f in ("a-reloads.log", "a-tests.log", "b-reloads.log")
    )

    report = renew(renewer, 12)
    assert report["summary"] == "4 renewed, 0 skipped, 2 failed, 1 postponed"
    by_name = {each["name"]: each for each in report["certificates"]}
    assert statuses(report) == {
        **dict.fromkeys((*SERVER_A, "rm-ok4"), "renewed"),
        "rm-inst": "failed",
        FAILING: "failed",
        LIMITED: "postponed",
    }
    assert by_name["rm-inst"]["renewed"] is True and by_name["rm-inst"]["step"] == "install"
    assert by_name[FAILING]["renewed"] is False and by_name[FAILING]["step"] == "renewal"
    assert "postponed until" in by_name[LIMITED]["detail"]
    # Server A: its three certificates got one config test and one reload.
    assert len(lines(tmp_path / "a-tests.log")) == tests_a + 1
    assert len(lines(tmp_path / "a-reloads.log")) == reloads_a + 1
    # Server B refused them together, then rm-ok4 alone went through; rm-inst kept its files.
    assert len(lines(tmp_path / "b-reloads.log")) == reloads_b + 1
    assert (tmp_path / "app/rm-inst.crt").read_bytes() == served_before
    # ARI: every order carried `replaces`, naming the certificate it replaces.
    renewals = [o for o in ari_ca.seen.orders if o.get("replaces")]
    ordered = {o["identifiers"][0]["value"]: o["replaces"] for o in renewals}
    assert ordered == {DOMAIN[name]: old[name] for name in ALL if name != FAILING}
    assert ari_ca.seen.limited == [DOMAIN[LIMITED]]
    assert 1 <= ari_ca.seen.most_in_flight <= IN_FLIGHT
    # Hooks: pre and post once; the deploy hook once per renewed and installed certificate.
    assert lines(tmp_path / "pre") == ["pre"]
    assert lines(tmp_path / "deploy") == [DOMAIN[name] for name in (*SERVER_A, "rm-ok4")]
    renewed = " ".join(DOMAIN[name] for name in ALL if name in (*SERVER_A, *SERVER_B))
    assert lines(tmp_path / "post") == [f"{renewed}|{DOMAIN[FAILING]}"]
    for name in ALL:
        assert txt_left(lab, DOMAIN[name]) == set(), name
    assert not list((renewer.state / "ledger").glob("*.json"))

    # Again at once: the rate-limited one is not asked again before its time.
    orders = len(ari_ca.seen.orders)
    again = renew(renewer, 12)
    assert statuses(again)[LIMITED] == "postponed"
    assert statuses(again)["rm-inst"] == "failed" and statuses(again)[FAILING] == "failed"
    assert len(ari_ca.seen.orders) == orders  # rm-fail fails before ordering; rm-limit waits

    # The server and the key are fixed: the install and the renewal go through.
    (tmp_path / "fixed").touch()
    renewer.rewrite(str(lab.limited_key_file), str(lab.tsig_key_file))
    fixed = renew(renewer, 16)
    assert fixed["summary"] == "1 renewed, 1 installed, 4 skipped, 0 failed, 1 postponed"
    assert statuses(fixed)["rm-inst"] == "installed" and statuses(fixed)[FAILING] == "renewed"
    listing = renewer.run("list", "--json")
    certificates = validated("list", listing.stdout)["certificates"]
    limited = next(each for each in certificates if each["name"] == LIMITED)
    assert limited["status"] == "warning" and "postponed" in limited["summary"]

    # After the CA's Retry-After, it is renewed.
    del ari_ca.script.rate_limited[DOMAIN[LIMITED]]
    later = renew(renewer, 0, now=dt.datetime.now(dt.UTC) + dt.timedelta(hours=2))
    assert statuses(later)[LIMITED] == "renewed"
    assert later["summary"] == "1 renewed, 6 skipped, 0 failed"


def test_side_by_side_with_a_lagging_secondary_no_validation_fails(
    lab: Any, tmp_path: Path
) -> None:
    renewer = make_renewer(lab, tmp_path)
    renewer.config.write_text("renew_concurrency = 2\n" + renewer.config.read_text())
    names = [f"rm-lag{i}" for i in range(6)]
    for name in names:
        renewer.issue(name, f"{name}.{ZONE}")
    later = max(renewer.due_time(name) for name in names)
    with lab.lagging(3.0):
        done = renewer.run("renew", now=later, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "certv6 renew: 6 renewed, 0 skipped, 0 failed" in done.stdout
    for name in names:
        assert renewer.versions(name) == ["0001", "0002"]
        assert txt_left(lab, f"{name}.{ZONE}") == set()
    # Only two worked at a time, yet all six waited for the secondary together.
    assert "renewing 6 certificate(s), 2 at a time" in done.stderr


def test_sigterm_while_they_wait_removes_every_value(lab: Any, tmp_path: Path) -> None:
    renewer = make_renewer(lab, tmp_path)
    names = [f"rm-term{i}" for i in range(4)]
    for name in names:
        renewer.issue(name, f"{name}.{ZONE}")
    later = max(renewer.due_time(name) for name in names)
    ledger = renewer.state / "ledger"
    with lab.lagging(60.0):
        running = renewer.popen("renew", now=later)
        deadline = time.monotonic() + 60
        while len(list(ledger.glob("*.json"))) < len(names):
            assert running.poll() is None, running.communicate()
            assert time.monotonic() < deadline, "not every lineage published"
            time.sleep(0.05)
        time.sleep(0.5)  # every lineage is in the shared wait for the secondary
        os.killpg(running.pid, signal.SIGTERM)
        _, err = running.communicate(timeout=120)
    assert running.returncode == 130, err
    assert "certv6: error: interrupted" in err and "Traceback" not in err
    assert not list(ledger.glob("*.json"))
    for name in names:
        assert renewer.versions(name) == ["0001"]
        assert txt_left(lab, f"{name}.{ZONE}") == set()
