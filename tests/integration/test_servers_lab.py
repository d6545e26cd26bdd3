"""certv6 against Knot, PowerDNS and NSD, and through a real NAT64 (tayga) with DNS64.

Issuance with Knot and PowerDNS primaries (``server`` set and unset) and their NSD and
PowerDNS secondaries; delegation by CNAME from BIND into a Knot configured from what
``certv6 delegate`` prints; and every message that used to name the wrong cause.
"""

from __future__ import annotations

import base64
import contextlib
import secrets
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from certv6_run import Client, make_client
from test_issue_lab import sans, verify_chain
from test_propagation_lab import check, servers_by_name

from certv6.dnsquery import Dns, DnsSettings
from certv6.errors import CertV6Error, ProviderAuthError, ProviderUnreachable
from certv6.model import TxtRecord
from certv6.providers import Provider, ProviderContext, load_provider
from jsonschemas import validated
from lab import Lab, wait_until
from lab import servers as lab_servers
from lab.netns import NamespaceThreads, run_ip

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def labs(lab: Lab) -> Lab:
    """The shared lab, with Knot, PowerDNS and NSD running (started once, on first use)."""
    return lab.start_servers()


@pytest.fixture
def client_threads(labs: Lab) -> Iterator[NamespaceThreads]:
    threads = NamespaceThreads(labs.client_ns, workers=2)
    yield threads
    threads.close()


def provider(lab: Lab, tmp_path: Path, **options: object) -> Provider:
    dns = Dns(DnsSettings(resolvers=(f"[{lab.client_resolver}]:53",)))
    context = ProviderContext(
        name="rfc2136",
        options={"key_file": str(lab.tsig_key_file), **options},
        dns=dns,
        state_dir=tmp_path,
    )
    return load_provider(context)


def failure(threads: NamespaceThreads, call: object, *args: object) -> CertV6Error:
    with pytest.raises(CertV6Error) as raised:
        threads.call(call, *args)  # type: ignore[arg-type]
    return raised.value


def wrong_secret_key(lab: Lab, tmp_path: Path) -> Path:
    secret = base64.b64encode(secrets.token_bytes(32)).decode()
    path = tmp_path / "wrong.key"
    path.write_text(f'key "{lab.tsig_key_name}" {{ algorithm hmac-sha256; secret "{secret}"; }};\n')
    path.chmod(0o600)
    return path


def label(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


# --- issuance with Knot and PowerDNS primaries -------------------------------------------


@pytest.mark.parametrize("kind", ["knot", "pdns"])
@pytest.mark.parametrize("with_server", [False, True], ids=["soa-mname", "server"])
def test_issue_against_knot_and_powerdns(
    labs: Lab, tmp_path: Path, kind: str, with_server: bool
) -> None:
    primary = {"knot": labs.knot_addr, "pdns": labs.pdns_addr}[kind]
    extra = f'server = "[{primary}]:53"\n' if with_server else ""
    client = make_client(labs, tmp_path)
    client.config.write_text(client.config.read_text() + extra)
    base = f"{label(kind)}.{kind}.test"
    result = client.issue("srv", base, f"*.{base}")
    live = client.live("srv")
    assert sans(live) == {base, f"*.{base}"}
    verify_chain(labs, live, tmp_path)
    # The secondaries (NSD; for pdns.test after PowerDNS's NOTIFY cycle) were waited for.
    assert result["warnings"] == []
    assert labs.txt_at(primary, f"_acme-challenge.{base}.") == set()


def test_delegation_from_bind_into_knot_with_the_acl_certv6_delegate_prints(
    labs: Lab, tmp_path: Path
) -> None:
    name = f"{label('kd')}.certv6.test"
    client = make_client(labs, tmp_path)
    done = client.run("delegate", name, "--to", "kacme.test", "--no-verify", "--json")
    assert done.returncode == 0, done.stderr
    printed = validated("delegate", done.stdout)
    target = f"{name}.kacme.test."
    directory = tmp_path / "knot-delegate"
    directory.mkdir()
    (directory / "kacme.test.zone").write_text(lab_servers.kacme_zone(labs.plan))
    conf = lab_servers.knot_server(labs.knot_delegate_addr, directory) + printed["knot"]
    (directory / "knot.conf").write_text(conf)
    with running_knot(labs, directory):
        labs.nsupdate(
            f"update add _acme-challenge.{name}. 30 CNAME {target}", key_file=labs.admin_key_file
        )
        key_file = printed["key"]["file"]
        client.config.write_text(
            client.config.read_text().replace(str(labs.tsig_key_file), key_file)
        )
        result = client.issue("kd", name)
        assert sans(client.live("kd")) == {name}
        assert result["warnings"] == []
        # The ACL grants exactly that name: Knot refuses any other, and certv6 says why.
        other = provider(labs, tmp_path, key_file=key_file)
        threads = NamespaceThreads(labs.client_ns, workers=1)
        try:
            error = failure(threads, other.present, [TxtRecord(f"other.{name}.kacme.test.", "v")])
        finally:
            threads.close()
    assert isinstance(error, ProviderAuthError)
    assert "Knot DNS" in error.message and "knows key 'certv6.kacme.test'" in error.message
    assert "policy does not let it make this update" in error.message


@contextlib.contextmanager
def running_knot(lab: Lab, directory: Path) -> Iterator[None]:
    argv = [str(Path("/usr/sbin/knotd")), "-c", str(directory / "knot.conf")]
    lab.spawn(f"knotd-{directory.name}-{uuid.uuid4().hex[:4]}", "knot", argv, cwd=directory)

    def answers() -> bool:
        try:
            return lab.serial_at(lab.knot_delegate_addr, "kacme.test.", timeout=0.3) >= 1
        except Exception:
            return False

    wait_until(answers, timeout=15, what="the delegate knotd answers")
    yield


# --- propagation with NSD and PowerDNS secondaries ---------------------------------------


def test_nsd_behind_powerdns_lags_by_its_notify_cycle_and_is_waited_for(
    labs: Lab, tmp_path: Path, client_threads: NamespaceThreads
) -> None:
    # PowerDNS NOTIFYs its secondaries when its communicator next runs (every 3 s here):
    # NSD first lags by serial, then catches up, and only then is the value visible.
    # An update that lands just before the communicator runs reaches NSD at once, so a
    # single try may see no lag at all; a few tries see it (each lags with p > 0.9).
    lagged = []
    for attempt in range(5):
        owner, value = f"_acme-challenge.{label(f'cyc{attempt}')}.pdns.test.", uuid.uuid4().hex
        client_threads.call(provider(labs, tmp_path).present, [TxtRecord(owner, value)])
        result = check(labs, [(owner, value)])
        assert result["outcome"] == "visible", result
        assert {s["status"] for s in result["report"]["servers"]} == {"visible"}
        assert value in labs.txt_at(labs.nsd_addr, owner, tcp=True)
        if "lagging: nsd.pdns.test" in result["lines"][0]:
            lagged.append(attempt)
            break
    assert lagged, "NSD never lagged behind PowerDNS: is the communicator's cycle still 3 s?"


def test_the_ns_set_is_the_zones_own_not_the_resolvers_cached_copy(labs: Lab) -> None:
    # PowerDNS already copies knot.test (a stealth secondary); now it joins the NS set,
    # in the zone and in its delegation, while the client's resolver still caches the
    # old NS RRset (5 s here, a day in real life).
    joined = "pdns.knot.test."
    before = labs.resolve("knot.test.", "NS")
    assert joined not in before, "run once per lab: this test adds pdns to the NS set"
    labs.nsupdate(f"update add knot.test. 30 NS {joined}", key_file=labs.admin_key_file)
    labs.nsupdate(
        f"server {labs.tld_addr}\nzone test.\nupdate add knot.test. 30 NS {joined}\n"
        f"update add {joined} 30 AAAA {labs.pdns_addr}",
        key_file=labs.admin_key_file,
    )
    assert labs.resolve("knot.test.", "NS") == before  # still the cached copy
    owner, value = f"_acme-challenge.{label('ns')}.knot.test.", uuid.uuid4().hex
    labs.nsupdate(f"update add {owner} 30 TXT {value}")
    result = check(labs, [(owner, value)])
    assert result["outcome"] == "visible", result
    found = servers_by_name(result)
    assert found[joined]["address"] == labs.pdns_addr  # the new server was asked
    assert found[joined]["status"] == "visible"  # ... and waited for (a PowerDNS secondary)
    (delegation,) = result["report"]["delegations"]
    assert delegation["matches"] is True  # no mismatch that does not exist
    assert any("out of date" in warning for warning in result["report"]["warnings"])


# --- messages that name the true cause ---------------------------------------------------


def test_knot_as_server_answers_a_signed_query_with_an_unsigned_refused_and_that_is_fine(
    labs: Lab, tmp_path: Path, client_threads: NamespaceThreads
) -> None:
    knot = provider(labs, tmp_path, server=f"[{labs.knot_addr}]:53")
    client_threads.call(knot.preflight)  # was: "cannot reach ... set HTTPS_PROXY"
    owner = f"_acme-challenge.{label('pf')}.knot.test."
    serial = labs.serial_at(labs.knot_addr, "knot.test.")
    client_threads.call(knot.preflight_for, [TxtRecord(owner, "")])  # type: ignore[attr-defined]
    assert labs.serial_at(labs.knot_addr, "knot.test.") == serial  # nothing changed


@pytest.mark.parametrize(
    ("zone", "server", "cause"),
    [
        ("pdns.test", None, "REFUSED: the server answered without a TSIG record: it did not"),
        ("knot.test", None, "TSIG BADSIG: the server did not accept the signature"),
        ("certv6.test", "ns1", "TSIG BADSIG: the server did not accept the signature"),
    ],
)
def test_a_wrong_secret_is_caught_by_the_preflight_before_any_order(
    labs: Lab, tmp_path: Path, zone: str, server: str | None, cause: str
) -> None:
    client = make_client(labs, tmp_path)
    text = client.config.read_text().replace(
        str(labs.tsig_key_file), str(wrong_secret_key(labs, tmp_path))
    )
    if server:
        text += f'server = "[{labs.primary_addr}]:53"\n'
    client.config.write_text(text)
    primary = {"pdns.test": labs.pdns_addr, "knot.test": labs.knot_addr}.get(
        zone, labs.primary_addr
    )
    serial = labs.serial_at(primary, f"{zone}.")
    done = client.run("issue", "-d", f"{label('bad')}.{zone}")
    assert done.returncode == 8, done.stderr
    assert cause in done.stderr and "secret differs" in done.stderr
    assert "rfc2136 preflight" in done.stderr
    assert "cannot reach" not in done.stderr and "HTTPS_PROXY" not in done.stderr
    assert not (client.state_dir / "accounts").exists()  # no account, let alone an order
    assert labs.serial_at(primary, f"{zone}.") == serial  # nothing left in the zone
    doctor = client.run("doctor", "-d", f"{label('doc')}.{zone}", "--json")
    findings = {f["check"]: f for f in validated("doctor", doctor.stdout)["checks"]}
    assert findings["preflight"]["status"] == "fail"
    assert "secret differs" in findings["preflight"]["message"]


def test_knot_badkey_for_a_key_no_acl_of_the_zone_allows(
    labs: Lab, tmp_path: Path, client_threads: NamespaceThreads
) -> None:
    # Knot has limited-key, but no acl of knot.test names it: Knot answers exactly as for a
    # key it does not have, so certv6 names both (a known key that an acl refuses for this
    # name is in test_delegation_from_bind_into_knot_with_the_acl_certv6_delegate_prints).
    limited = provider(labs, tmp_path, key_file=str(labs.limited_key_file))
    record = TxtRecord(f"_acme-challenge.{label('k')}.knot.test.", "v")
    error = failure(client_threads, limited.present, [record])
    assert isinstance(error, ProviderAuthError)
    assert "NOTAUTH: Knot DNS 3" in error.message
    assert "for a key it does not have and for one that no acl of zone knot.test." in error.message
    assert "action: update, update-type: [TXT]" in error.hint


def test_powerdns_address_refusal_names_allow_dnsupdate_from(
    labs: Lab, tmp_path: Path, client_threads: NamespaceThreads
) -> None:
    error = failure(
        client_threads,
        provider(labs, tmp_path).present,
        [TxtRecord(f"_acme-challenge.{label('c')}.closed.test.", "v")],
    )
    assert isinstance(error, ProviderAuthError)
    assert f"refused the update from {labs.client_addr}" in error.message
    assert "allow-dnsupdate-from" in error.message and "update-policy" not in error.hint
    assert f"add {labs.client_addr} to allow-dnsupdate-from" in error.hint


@pytest.mark.parametrize("server", ["ns1", "knot"])
def test_a_cname_into_a_zone_the_server_is_not_primary_for(
    labs: Lab, tmp_path: Path, server: str
) -> None:
    # _acme-challenge.cname.certv6.test is a CNAME into challenges.test (served by ns3).
    address = {"ns1": labs.primary_addr, "knot": labs.knot_addr}[server]
    client = make_client(labs, tmp_path)
    client.config.write_text(client.config.read_text() + f'server = "[{address}]:53"\n')
    done = client.run("issue", "-d", "cname.certv6.test")
    assert done.returncode == 8, done.stderr
    assert "this server is not the primary of zone challenges.test." in done.stderr
    assert "unset server" in done.stderr and "update-policy" not in done.stderr
    assert not (client.state_dir / "accounts").exists()


def test_a_primary_that_never_raises_its_serial_is_named_not_a_timeout_to_raise(
    labs: Lab, tmp_path: Path, client_threads: NamespaceThreads
) -> None:
    # frozen.test: PowerDNS with SOA-EDIT-DNSUPDATE=NONE, so NSD never transfers the change.
    owner, value = f"_acme-challenge.{label('fz')}.frozen.test.", uuid.uuid4().hex
    client_threads.call(provider(labs, tmp_path).present, [TxtRecord(owner, value)])
    result = check(labs, [(owner, value)], timeout=4.0)
    assert result["outcome"] == "PropagationTimeout"
    assert "the zone changed without a new serial" in result["message"]
    assert "nsd.pdns.test" in result["message"]
    assert "SOA-EDIT-DNSUPDATE" in result["hint"] and "cannot help" in result["hint"]
    assert servers_by_name(result)["nsd.pdns.test."]["serial_unchanged"] is True


@contextlib.contextmanager
def blackhole_route(lab: Lab, address: str) -> Iterator[None]:
    argv = ["-n", lab.client_ns, "-6", "route", "add", "blackhole", f"{address}/128"]
    run_ip(argv, ip=lab.ip)
    try:
        yield
    finally:
        run_ip(
            ["-n", lab.client_ns, "-6", "route", "del", "blackhole", f"{address}/128"], ip=lab.ip
        )


def test_a_blackhole_route_is_named_not_invalid_argument(
    labs: Lab, tmp_path: Path, client_threads: NamespaceThreads
) -> None:
    owner, value = f"_acme-challenge.{label('bh')}.partial.test.", uuid.uuid4().hex
    labs.nsupdate(f"update add {owner} 30 TXT {value}")
    with blackhole_route(labs, labs.blackhole_addr):
        nowhere = provider(labs, tmp_path, server=f"[{labs.blackhole_addr}]:53", timeout=1)
        error = failure(client_threads, nowhere.present, [TxtRecord(owner, "v")])
        result = check(labs, [(owner, value)], unverified_grace=0.0)
    assert isinstance(error, ProviderUnreachable)
    assert "no route to this address (a blackhole route drops it)" in error.message
    assert "Invalid argument" not in error.message
    dead = servers_by_name(result)["dead.partial.test."]
    assert dead["problem"] == "no route to this address (a blackhole route drops it)"


# --- NAT64 on and off: what was verified, and the warnings ------------------------------


def nat64_client(lab: Lab, tmp_path: Path, *, dns64: bool) -> Client:
    client = make_client(lab, tmp_path)
    if dns64:
        text = client.config.read_text().replace(lab.client_resolver, lab.client_resolver_nat64)
        client.config.write_text(text)
    return client


def test_issue_with_nat64_asks_the_ipv4_only_nameserver_through_tayga(
    labs: Lab, tmp_path: Path
) -> None:
    client = nat64_client(labs, tmp_path, dns64=True)
    name = f"{label('v4')}.aonly.test"
    done = client.run("issue", "--json", "--name", "v4", "-d", name)
    assert done.returncode == 0, done.stderr
    assert "visible at every authoritative address (2 of 2)" in done.stderr
    assert validated("issue", done.stdout)["warnings"] == []
    table = client.run("check-txt", "--once", f"_acme-challenge.{name}", "gone")
    # ns4's synthesized AAAA and its A are one server, asked through the NAT64: not "not asked".
    assert "ns4.aonly.test. also has A" not in table.stdout + table.stderr


def test_issue_without_nat64_says_what_was_not_verified_and_prints_the_warnings(
    labs: Lab, tmp_path: Path
) -> None:
    client = nat64_client(labs, tmp_path, dns64=False)
    client.config.write_text("unverified_grace = 1.5\n" + client.config.read_text())
    done = client.run("issue", "--json", "--name", "nonat", "-d", f"{label('v4')}.aonly.test")
    assert done.returncode == 0, done.stderr
    assert "visible on every authoritative nameserver" not in done.stderr
    assert (
        "visible at 1 of 2 authoritative addresses; not verified: ns4.aonly.test [192.0.2.53]"
        in (done.stderr)
    )
    assert "waited 1.5 s more for it" in done.stderr
    warning = (
        "ns4.aonly.test [192.0.2.53] has only an IPv4 address and no NAT64 prefix is known:"
        " not checked"
    )
    assert f"certv6: warning: {warning}" in done.stderr
    assert any(w.startswith(warning) for w in validated("issue", done.stdout)["warnings"])


def test_tayga_is_a_real_nat64(labs: Lab) -> None:
    # ns4 has IPv4 only and the client IPv6 only: every answer crossed tayga's tun device.
    assert (
        run_ip(["-n", labs.netns("ns4"), "-6", "addr", "show", "scope", "global"], ip=labs.ip) == ""
    )
    assert "192.0.2.53" in run_ip(["-n", labs.netns("ns4"), "-4", "addr"], ip=labs.ip)
    assert "nat64" in run_ip(["-n", labs.netns("nat64"), "link", "show", "nat64"], ip=labs.ip)
    assert labs.serial_at(labs.nat64_ns_addr, "aonly.test.") >= 1
