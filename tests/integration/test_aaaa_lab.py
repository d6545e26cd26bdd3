"""``certv6 aaaa`` in the IPv6-only lab: the host's own AAAA records follow its prefix.

The client gets a second link (``lab.slaac.Uplink``) on which a router in the
bridge namespace sends real router advertisements; the client's kernel forms
the addresses itself (SLAAC): a stable-privacy one (RFC 7217) and a temporary
one (RFC 8981) per prefix, deprecated ones when a prefix's preferred lifetime
is set to 0. Renumbering is what an ISP does: a new prefix is advertised, the
old one deprecated, and later its addresses are gone. The names live in the
lab's certv6.test (BIND primary ns1, secondary ns2 behind the NOTIFY relay);
the admin key may change AAAA there, the dns-01 key may not.
"""

from __future__ import annotations

import ipaddress
import json
import secrets
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from certv6_run import CERTV6, Client, make_client

from certv6.aaaa import Pacer, PacingSettings
from jsonschemas import error_of, validated
from lab import wait_until
from lab.slaac import Prefix, Uplink

pytestmark = pytest.mark.lab

ZONE = "certv6.test"


@pytest.fixture
def uplink(lab: Any) -> Iterator[Uplink]:
    with Uplink.create(lab) as made:
        yield made


def prefix(lab: Any) -> str:
    """A fresh /64 inside the lab's ULA (never the lab segment itself)."""
    return f"fd00:c6:{lab.id[2:]}:{secrets.randbelow(0xFFFE) + 1:x}::/64"


def unique(label: str) -> str:
    return f"{label}-{secrets.token_hex(3)}.{ZONE}"


def client_for(lab: Any, directory: Path, top: str = "", key: Path | None = None) -> Client:
    client = make_client(lab, directory)
    text = client.config.read_text().replace(str(lab.tsig_key_file), str(key or lab.admin_key_file))
    client.config.write_text(top + "\n" + text)
    return client


def someone_elses(lab: Any, name: str, suffix: str) -> str:
    """An AAAA value someone else (the admin, by hand) put at ``name``; returned."""
    address = str(ipaddress.IPv6Address(f"fd00:c6:{lab.id[2:]}::{suffix}"))  # RFC 5952 form
    lab.nsupdate(f"update add {name}. 300 AAAA {address}", key_file=lab.admin_key_file)
    return address


def served(lab: Any, server: str, name: str) -> set[str]:
    response = lab.query(server, name + ".", "AAAA")
    return {rdata.address for rrset in response.answer for rdata in rrset}


def at_both(lab: Any, name: str) -> tuple[set[str], set[str]]:
    return served(lab, lab.primary_addr, name), served(lab, lab.secondary_addr, name)


def aaaa(client: Client, *args: str) -> tuple[int, dict[str, Any], str]:
    """Run ``certv6 aaaa --json``: the result document, or the error's (same exit code)."""
    done = client.run("aaaa", "--json", *args)
    assert "Traceback" not in done.stderr, done.stderr
    if done.returncode:
        error = error_of(done.stdout)
        assert error["exit"] == done.returncode, error
        return done.returncode, error, done.stderr
    return done.returncode, validated("aaaa", done.stdout), done.stderr


def renumber(uplink: Uplink, new: str, *old: str) -> tuple[str, set[str]]:
    """Advertise ``new`` and deprecate ``old``; return new's stable and every temporary address."""
    uplink.advertise(Prefix(new), *(Prefix(p, preferred=0) for p in old))
    uplink.settle()
    stable = [a for a in uplink.global_addresses("stable-privacy") if in_prefix(a, new)]
    temporary = set(uplink.global_addresses("temporary"))
    assert len(stable) == 1 and any(in_prefix(a, new) for a in temporary), uplink.addresses()
    return stable[0], temporary


def in_prefix(address: str, network: str) -> bool:
    return ipaddress.IPv6Address(address) in ipaddress.IPv6Network(network)


def test_renumbering_is_followed_in_one_run_and_a_temporary_address_never_published(
    lab: Any, uplink: Uplink, tmp_path: Path
) -> None:
    name, neighbour = unique("home"), unique("neighbour")
    theirs = someone_elses(lab, neighbour, "beef")
    client = client_for(lab, tmp_path, f'aaaa_names = ["{name}"]\naaaa_interface = "{uplink.name}"')
    first = prefix(lab)
    stable, temporary = renumber(uplink, first)
    code, result, err = aaaa(client)
    assert code == 0, err
    assert result["address"] == stable and result["kind"] == "stable-privacy"
    rejected = {c["address"]: c["rejected"] for c in result["candidates"]}
    assert all(rejected[t].startswith("temporary") for t in temporary)
    assert "stable-privacy" in next(
        c["flags"] for c in result["candidates"] if c["address"] == stable
    )
    assert at_both(lab, name) == ({stable}, {stable})
    published = [stable]

    # The ISP renumbers: a new prefix, the old one deprecated. One run follows.
    second = prefix(lab)
    new_stable, temporary = renumber(uplink, second, first)
    code, result, err = aaaa(client)
    assert code == 0, err
    assert result["changed"] and result["names"][0]["removed"] == [stable]
    assert at_both(lab, name) == ({new_stable}, {new_stable})
    published.append(new_stable)

    # Later the old addresses are gone altogether, and the prefix changes again: certv6
    # still owns what it published (its state says so), so the old record is replaced.
    uplink.flush(first)
    uplink.flush(second)
    third = prefix(lab)
    last, temporary = renumber(uplink, third)
    assert aaaa(client)[0] == 0
    assert at_both(lab, name) == ({last}, {last})
    published.append(last)

    code, result, _ = aaaa(client)  # nothing differs: nothing is written
    assert code == 0 and not result["changed"] and not result["pending"]
    assert not set(published) & temporary
    assert at_both(lab, neighbour) == ({theirs}, {theirs})  # someone else's name: untouched


def test_the_run_waits_for_a_lagging_secondary(lab: Any, uplink: Uplink, tmp_path: Path) -> None:
    name = unique("lag")
    client = client_for(lab, tmp_path, f'aaaa_names = ["{name}"]\naaaa_interface = "{uplink.name}"')
    stable, _ = renumber(uplink, prefix(lab))
    with lab.lagging(1.5):
        code, result, err = aaaa(client)
        assert code == 0, err
        # Returned only once ns2 serves it: no waiting here.
        assert at_both(lab, name) == ({stable}, {stable})
    report = result["propagation"][0]
    assert report["visible"] and {s["status"] for s in report["servers"]} == {"visible"}


def test_a_value_someone_else_put_at_the_name_stays(
    lab: Any, uplink: Uplink, tmp_path: Path
) -> None:
    name = unique("shared")
    other = someone_elses(lab, name, "cafe")
    client = client_for(lab, tmp_path, f'aaaa_interface = "{uplink.name}"')
    stable, _ = renumber(uplink, prefix(lab))
    code, result, err = aaaa(client, "-d", name)
    assert code == 0, err
    assert result["names"][0]["foreign"] == [other]
    assert "left as it is (--adopt replaces it)" in err
    assert served(lab, lab.primary_addr, name) == {stable, other}
    code, result, err = aaaa(client, "-d", name, "--adopt")
    assert code == 0, err
    assert served(lab, lab.primary_addr, name) == {stable}


def test_a_refusal_leaves_the_old_record_and_says_why(
    lab: Any, uplink: Uplink, tmp_path: Path
) -> None:
    name = unique("refused")
    old = someone_elses(lab, name, "1:2")
    # The dns-01 key may change TXT only (update-policy ... zonesub TXT).
    client = client_for(lab, tmp_path, f'aaaa_interface = "{uplink.name}"', key=lab.tsig_key_file)
    renumber(uplink, prefix(lab))
    code, _, err = aaaa(client, "-d", name, "--adopt")
    assert code == 8, err
    assert "REFUSED" in err and "may not change AAAA records" in err
    assert f"hint: allow key {lab.tsig_key_name} to update AAAA" in err
    assert served(lab, lab.primary_addr, name) == {old}
    owned = json.loads((client.state_dir / "published" / f"{name}.AAAA.json").read_text())
    assert "REFUSED" in owned["last_error"]


def test_an_unattended_refusal_is_critical_in_list_until_a_run_works(
    lab: Any, uplink: Uplink, tmp_path: Path
) -> None:
    # The timer's run (the configured names) with the dns-01 key, which may change TXT only.
    name = unique("timer")
    top = f'aaaa_names = ["{name}"]\naaaa_interface = "{uplink.name}"'
    client = client_for(lab, tmp_path, top, key=lab.tsig_key_file)
    stable, _ = renumber(uplink, prefix(lab))
    code, _, err = aaaa(client)
    assert code == 8, err
    plugin = client.run("list", "--check")
    assert plugin.returncode == 2, plugin.stdout
    assert plugin.stdout.startswith(f"CERTV6 CRITICAL - AAAA: {name} not pointing here"), (
        plugin.stdout
    )
    listed = client.run("list").stdout
    assert f"AAAA (certv6 aaaa): critical: {name} not pointing here; certv6 aaaa failing" in listed
    assert f"aaaa: hint: allow key {lab.tsig_key_name} to update AAAA" in listed

    # The operator gives it a key that may: the next timer run fixes the name, and list says so.
    config = client.config.read_text()
    client.config.write_text(config.replace(str(lab.tsig_key_file), str(lab.admin_key_file)))
    code, _, err = aaaa(client)
    assert code == 0, err
    plugin = client.run("list", "--check")
    assert plugin.returncode == 0 and "AAAA ok" in plugin.stdout.splitlines()[0], plugin.stdout
    assert f"AAAA (certv6 aaaa): {name} -> {stable}: ok (last run " in client.run("list").stdout


def test_bad_input_is_refused_before_anything_is_written(
    lab: Any, uplink: Uplink, tmp_path: Path
) -> None:
    client = client_for(lab, tmp_path)
    renumber(uplink, prefix(lab))
    outside = client.run("aaaa", "-d", "www.nowhere.test")
    assert outside.returncode == 3, outside.stderr
    assert "www.nowhere.test is outside every zone certv6 may change" in outside.stderr
    assert "a top-level domain" in outside.stderr
    missing = client.run("aaaa", "-d", unique("x"), "--interface", "nosuch0")
    assert missing.returncode == 3, missing.stderr
    assert "interface 'nosuch0' does not exist on this host" in missing.stderr
    assert uplink.name in missing.stderr  # the hint lists the host's interfaces
    token = client.run("aaaa", "-d", unique("x"), "--interface", uplink.name, "--token", "::53")
    assert token.returncode == 15, token.stderr
    assert "interface identifier is not the token ::53" in token.stderr
    assert "ip token set ::53" in token.stderr
    alias = unique("alias")
    lab.nsupdate(f"update add {alias}. 300 CNAME www.{ZONE}.", key_file=lab.admin_key_file)
    cname = client.run("aaaa", "-d", alias, "--interface", uplink.name)
    assert cname.returncode == 6, cname.stderr
    assert f"{alias}. is a CNAME: it cannot have AAAA records of its own" in cname.stderr
    assert not client.state_dir.exists()  # nothing written, not even the state directory
    # A host with no global address at all: the lab's bridge namespace has none.
    bare = lab.run_in("bridge", [CERTV6, "--config", str(client.config), "aaaa", "-d", unique("x")])
    assert bare.returncode == 15, bare.stderr
    assert "this host has no global IPv6 address" in bare.stderr


CHANGES, MIN_INTERVAL = 6, 2.0


def most_writes(seconds: float, min_interval: float, *, earlier: int) -> int:
    """Writes certv6's pacing allows within ``seconds``, ``earlier`` writes having been made
    long enough ago not to delay the first (the most it can be)."""
    pacer = Pacer(PacingSettings(min_interval=min_interval))
    pacer.writes = [-3000.0 + i for i in range(earlier)]
    count, moment = 0, 0.0
    while (moment := pacer.next_write(moment)) <= seconds:
        pacer.wrote(moment)
        count += 1
    return count


def test_watch_follows_changes_and_paces_writes_on_a_flapping_link(
    lab: Any, uplink: Uplink, tmp_path: Path
) -> None:
    name = unique("watch")
    top = (
        f'aaaa_names = ["{name}"]\naaaa_interface = "{uplink.name}"\n'
        f"aaaa_min_interval = {MIN_INTERVAL}\n"
    )
    client = client_for(lab, tmp_path, top)
    first = prefix(lab)
    stable, _ = renumber(uplink, first)
    watcher = client.popen("aaaa", "--watch", "--json")
    try:
        wait_until(lambda: at_both(lab, name) == ({stable}, {stable}), timeout=60, what="first")
        # Renumbering: followed without anyone running certv6.
        renumbered_at, second = time.monotonic(), prefix(lab)
        new_stable, _ = renumber(uplink, second, first)
        wait_until(
            lambda: at_both(lab, name) == ({new_stable}, {new_stable}),
            timeout=60,
            what="renumbered",
        )
        took = time.monotonic() - renumbered_at
        print(f"watch: renumbering visible at both servers {took:.1f} s after the RA")
        # A flapping link: the modem reconnects every 3 s, each time with a new prefix (and
        # the one before deprecated), so the address to publish changes every 3 s.
        serial_before = lab.serial_at(lab.primary_addr, ZONE + ".")
        began, previous = time.monotonic(), second
        for _ in range(CHANGES):
            time.sleep(3.0)
            current = prefix(lab)
            uplink.advertise(Prefix(current), Prefix(previous, preferred=0))
            previous = current
        uplink.settle()
        final = next(a for a in uplink.global_addresses("stable-privacy") if in_prefix(a, previous))
        # Once the link is quiet the record settles on the last prefix's stable address.
        wait_until(lambda: at_both(lab, name) == ({final}, {final}), timeout=120, what="settled")
        window = time.monotonic() - began
        updates = lab.serial_at(lab.primary_addr, ZONE + ".") - serial_before
    finally:
        watcher.send_signal(signal.SIGTERM)
        out, err = watcher.communicate(timeout=30)
    assert watcher.returncode == 0, err
    assert "aaaa --watch stopped" in err
    # One document per run, each on a line of its own (JSON Lines).
    lines = [validated("aaaa", line) for line in out.splitlines() if line.strip()]
    assert lines and all(line["version"] == 1 for line in lines)
    # BIND bumps the serial once per UPDATE. Waiting for the changes to settle and pacing the
    # writes keep them far below one per change; the most the pacing alone would allow in the
    # window, after the two writes before it, is the bound (a slow machine only lowers it).
    allowed = most_writes(window, MIN_INTERVAL, earlier=2)
    print(f"watch: {updates} UPDATE(s) for {CHANGES} prefixes in {window:.1f} s (<= {allowed})")
    assert 1 <= updates <= allowed < CHANGES, (updates, window)


def test_standalone_serves_the_zone_while_the_watcher_runs(
    lab: Any, uplink: Uplink, tmp_path: Path
) -> None:
    zone = unique("dyn")
    name = f"home.{zone}"
    # The zone is delegated to the client, which answers it itself (certv6's standalone server).
    lab.nsupdate(f"update add {zone}. 300 NS client.{ZONE}.", key_file=lab.admin_key_file)
    client = make_client(lab, tmp_path)
    client.config.write_text(
        f'aaaa_names = ["{name}"]\naaaa_interface = "{uplink.name}"\n'
        + client.config.read_text().split("[provider.rfc2136]")[0]
        + f'[provider.standalone]\nlisten = "[{lab.client_addr}]:53"\nzones = ["{zone}"]\n'
        + f'nameservers = ["client.{ZONE}."]\n'
    )
    once = client.run("aaaa")
    assert once.returncode == 8 and "only while certv6 runs" in once.stderr, once.stderr
    stable, _ = renumber(uplink, prefix(lab))
    watcher = client.popen("aaaa", "--watch")
    try:
        # Through the lab's real resolver: delegation from certv6.test, then certv6's answer.
        wait_until(lambda: lab.resolve(name, "AAAA") == {stable}, timeout=60, what="resolved")
    finally:
        watcher.send_signal(signal.SIGTERM)
        _, err = watcher.communicate(timeout=30)
    assert watcher.returncode == 0, err


def test_doctor_names_the_command_that_points_a_name_here(lab: Any, tmp_path: Path) -> None:
    name = unique("elsewhere")
    lab.nsupdate(f"update add {name}. 300 AAAA 2001:db8::99", key_file=lab.admin_key_file)
    client = client_for(lab, tmp_path)
    done = client.run("doctor", "--json", "-d", name)
    report = validated("doctor", done.stdout)
    found = [c for c in report["checks"] if c["section"] == name and c["check"] == "aaaa"]
    assert found[0]["status"] == "warn", found
    assert f"certv6 --config {client.config} aaaa -d {name}" in found[0]["fix"]
