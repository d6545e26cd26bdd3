"""Providers in the IPv6-only lab: issuance with standalone and exec, bad input against real
BIND, an API host without AAAA, and certv6 delegate checked from the client host.
"""

from __future__ import annotations

import base64
import contextlib
import secrets
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dns.exception
import dns.message
import dns.query
import dns.rcode
import dns.update
import pytest
from certv6_run import CERTV6, Client, make_client
from test_issue_lab import sans, verify_chain

from certv6.dnsquery import Dns, DnsSettings
from certv6.errors import ConfigError, ProviderAuthError, ProviderUnreachable
from certv6.model import TxtRecord
from certv6.providers import Provider, ProviderContext, load_provider
from certv6.providers.tsig import parse_key_file
from fakes.ports import free_port
from jsonschemas import validated
from lab import Lab, wait_until
from lab.netns import NamespaceThreads
from lab.prereq import find_binary
from servers.nsupdate_hook import write_nsupdate_hook

pytestmark = pytest.mark.lab

ZONE = "certv6.test"


@pytest.fixture
def client_threads(lab: Lab) -> Iterator[NamespaceThreads]:
    threads = NamespaceThreads(lab.client_ns, workers=2)
    yield threads
    threads.close()


def lab_provider(lab: Lab, tmp_path: Path, name: str, **options: object) -> Provider:
    dns = Dns(DnsSettings(resolvers=(f"[{lab.client_resolver}]:53",)))
    context = ProviderContext(name=name, options=options, dns=dns, state_dir=tmp_path)
    return load_provider(context)


def key_file(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    path.chmod(0o600)
    return path


# --- issuance end to end -----------------------------------------------------------------


def test_issue_with_standalone_answering_the_delegated_zone(lab: Lab, tmp_path: Path) -> None:
    # _acme-challenge.standalone.certv6.test is delegated (NS) to client.certv6.test: certv6
    # itself answers there, for its own resolver lookups, the checker and Pebble's validator.
    client = make_client(lab, tmp_path, extra="[provider.standalone]\n")
    names = (f"standalone.{ZONE}", f"*.standalone.{ZONE}")
    client.issue("standalone", *names, extra=("--provider", "standalone"))
    live = client.live("standalone")
    assert sans(live) == set(names)
    verify_chain(lab, live, tmp_path)
    # The run is over: nothing answers on the client's port 53 any more.
    with pytest.raises(dns.exception.DNSException):
        lab.query(lab.client_addr, f"_acme-challenge.standalone.{ZONE}.", "SOA", timeout=0.5)


def test_issue_with_exec_calling_nsupdate(lab: Lab, tmp_path: Path) -> None:
    hook = write_nsupdate_hook(tmp_path / "dns-hook", lab.tsig_key_file)
    client = make_client(lab, tmp_path, extra=f'[provider.exec]\nprogram = "{hook}"\n')
    names = (f"exec.{ZONE}", f"*.exec.{ZONE}")
    client.issue("exec", *names, extra=("--provider", "exec"))
    assert sans(client.live("exec")) == set(names)
    assert lab.txt_at(lab.primary_addr, f"_acme-challenge.exec.{ZONE}.") == set()


# --- rfc2136: bad input, each a clear error naming provider, operation and record --------


def test_wrong_tsig_secret(lab: Lab, tmp_path: Path, client_threads: NamespaceThreads) -> None:
    secret = base64.b64encode(secrets.token_bytes(32)).decode()
    wrong = key_file(
        tmp_path,
        "wrong.key",
        f'key "{lab.tsig_key_name}" {{ algorithm hmac-sha256; secret "{secret}"; }};\n',
    )
    provider = lab_provider(lab, tmp_path, "rfc2136", key_file=str(wrong))
    record = TxtRecord(f"_acme-challenge.wrong-secret.{ZONE}.", "v1")
    with pytest.raises(ProviderAuthError) as raised:
        client_threads.call(provider.present, [record])
    error = raised.value
    assert f"rfc2136 present of {record.owner}" in error.message
    assert "TSIG BADSIG" in error.message and "certv6-key" in error.message
    assert "secret differs" in error.message and "copy the key file" in error.hint
    assert secret not in error.message + error.hint
    assert (error.provider, error.operation, error.record) == ("rfc2136", "present", str(record))


def test_key_not_allowed_for_the_name(
    lab: Lab, tmp_path: Path, client_threads: NamespaceThreads
) -> None:
    provider = lab_provider(lab, tmp_path, "rfc2136", key_file=str(lab.limited_key_file))
    record = TxtRecord("_acme-challenge.limited.challenges.test.", "v1")
    with pytest.raises(ProviderAuthError) as raised:
        client_threads.call(provider.present, [record])
    error = raised.value
    assert f"rfc2136 present of {record.owner} in zone challenges.test." in error.message
    assert "REFUSED" in error.message and "may not change TXT" in error.message
    assert "update-policy" in error.hint
    # The same key works where it is allowed.
    allowed = TxtRecord(f"_acme-challenge.limited.{ZONE}.", "v1")
    client_threads.call(provider.present, [allowed])
    client_threads.call(provider.cleanup, [allowed])


def test_a_refused_batch_names_the_refused_record(
    lab: Lab, tmp_path: Path, client_threads: NamespaceThreads
) -> None:
    # One UPDATE for both names; the server refuses it whole without saying which name.
    provider = lab_provider(lab, tmp_path, "rfc2136", key_file=str(lab.scoped_key_file))
    allowed = TxtRecord(f"_acme-challenge.scoped.{ZONE}.", "v1")
    forbidden = TxtRecord(f"_acme-challenge.unscoped.{ZONE}.", "v1")  # sorts after
    with pytest.raises(ProviderAuthError) as raised:
        client_threads.call(provider.present, [allowed, forbidden])
    error = raised.value
    assert f"rfc2136 present of {forbidden.owner} in zone {ZONE}." in error.message
    assert allowed.owner not in error.message and error.record == str(forbidden)
    assert "REFUSED" in error.message and "scoped-key" in error.message
    # The probes changed nothing: the allowed name has no TXT value.
    assert lab.txt_at(lab.primary_addr, allowed.owner) == set()


def test_algorithm_the_server_does_not_know_for_this_key(
    lab: Lab, tmp_path: Path, client_threads: NamespaceThreads
) -> None:
    provider = lab_provider(
        lab, tmp_path, "rfc2136", key_file=str(lab.tsig_key_file), algorithm="hmac-sha512"
    )
    record = TxtRecord(f"_acme-challenge.badalg.{ZONE}.", "v1")
    with pytest.raises(
        ProviderAuthError,
        match=r"does not know a key named 'certv6-key' with algorithm hmac-sha512",
    ):
        client_threads.call(provider.present, [record])


def test_unknown_algorithm_is_a_config_error(lab: Lab, tmp_path: Path) -> None:
    text = lab.tsig_key_file.read_text().replace("hmac-sha256", "hmac-sha3")
    odd = key_file(tmp_path, "odd.key", text)
    with pytest.raises(ConfigError, match=r"rfc2136 key_file .*unknown TSIG algorithm 'hmac-sha3'"):
        lab_provider(lab, tmp_path, "rfc2136", key_file=str(odd))


def test_unreachable_server(lab: Lab, tmp_path: Path, client_threads: NamespaceThreads) -> None:
    provider = lab_provider(
        lab,
        tmp_path,
        "rfc2136",
        key_file=str(lab.tsig_key_file),
        server=f"[{lab.blackhole_addr}]:53",
        timeout=1,
    )
    record = TxtRecord(f"_acme-challenge.unreachable.{ZONE}.", "v1")
    with pytest.raises(ProviderUnreachable) as raised:
        client_threads.call(provider.present, [record])
    assert f"rfc2136 present of {record.owner}" in raised.value.message
    assert f"[{lab.blackhole_addr}]:53 did not answer within 1 s" in raised.value.message


def test_bad_secret_through_the_cli_is_exit_8_without_secret(lab: Lab, tmp_path: Path) -> None:
    secret = base64.b64encode(secrets.token_bytes(32)).decode()
    text = f'key "{lab.tsig_key_name}" {{ algorithm hmac-sha256; secret "{secret}"; }};\n'
    wrong = key_file(tmp_path, "wrong.key", text)
    client = make_client(lab, tmp_path)
    client.config.write_text(client.config.read_text().replace(str(lab.tsig_key_file), str(wrong)))
    done = client.run("issue", "-d", f"badsecret.{ZONE}", "--json")
    assert done.returncode == 8, done.stderr
    assert "TSIG BADSIG" in done.stderr and "hint:" in done.stderr
    assert "rfc2136 preflight" in done.stderr  # caught before any order
    assert "Traceback" not in done.stderr and secret not in done.stderr + done.stdout


# --- HTTP providers on a v6-only host ----------------------------------------------------


def test_api_host_without_aaaa_fails_before_any_order(lab: Lab, tmp_path: Path) -> None:
    token = key_file(tmp_path, "gandi.token", "pat-not-used\n")
    extra = (
        f'[provider.gandi]\ntoken_file = "{token}"\napi_url = "https://ns4.aonly.test/v5/livedns"\n'
    )
    client = make_client(lab, tmp_path, extra=extra)
    done = client.run("issue", "-d", f"gandi.{ZONE}", "--provider", "gandi")
    assert done.returncode == 8, done.stderr
    assert "gandi preflight: the API host ns4.aonly.test has no IPv6 address" in done.stderr
    assert "(only 192.0.2.53)" in done.stderr and "HTTPS_PROXY" in done.stderr
    assert "order" not in done.stderr and "pat-not-used" not in done.stderr
    assert not (client.state_dir / "accounts").exists()  # not even an account was made


# --- certv6 delegate, checked from the client host ---------------------------------------


def delegate(client: Client, *args: str) -> tuple[subprocess.CompletedProcess[str], Any]:
    done = client.run("delegate", *args, "--to", "challenges.test", "--json")
    return done, validated("delegate", done.stdout) if done.stdout else None


def test_delegate_finds_the_existing_alias_and_the_zone_answering(lab: Lab, tmp_path: Path) -> None:
    client = make_client(lab, tmp_path)
    done, result = delegate(client, f"cname.{ZONE}", f"*.cname.{ZONE}")
    assert done.returncode == 0, done.stderr
    (record,) = result["records"]
    # The lab already has _acme-challenge.cname CNAME cname.challenges.test: kept as it is.
    assert (record["status"], record["cname"]) == ("ok", "cname.challenges.test.")
    assert "grant certv6.challenges.test name cname.challenges.test. TXT;" in result["bind"]
    (server,) = result["servers"]
    assert server["address"] == lab.ns3_addr and server["answered"]


def test_delegate_says_what_is_missing(lab: Lab, tmp_path: Path) -> None:
    client = make_client(lab, tmp_path)
    done = client.run("delegate", f"new.{ZONE}", "--to", "challenges.test")
    assert done.returncode == 6, done.stderr
    assert f"_acme-challenge.new.{ZONE}. CNAME new.{ZONE}.challenges.test." in done.stdout
    assert f"missing  _acme-challenge.new.{ZONE}. has no CNAME" in done.stdout
    assert "the delegation is not complete" in done.stderr and "Traceback" not in done.stderr


def test_delegate_reports_a_nameserver_without_ipv6(lab: Lab, tmp_path: Path) -> None:
    client = make_client(lab, tmp_path)
    done = client.run("delegate", f"x.{ZONE}", "--to", "aonly.test", "--json")
    assert done.returncode == 6
    servers = {s["nameservers"][0]: s for s in validated("delegate", done.stdout)["servers"]}
    assert servers["ns1.certv6.test."]["answered"]
    assert not servers["ns4.aonly.test."]["answered"]
    assert "no IPv6 address" in servers["ns4.aonly.test."]["detail"]


# --- the printed BIND policy, enforced by a real named -----------------------------------

ZONE_FILE = """$TTL 60
@ SOA ns hostmaster 1 3600 600 86400 1
@ NS ns
ns AAAA ::1
"""


@contextlib.contextmanager
def named(directory: Path, bind_snippet: str, port: int) -> Iterator[None]:
    options = (
        f'options {{ directory "{directory}"; pid-file none; session-keyfile none;'
        f" listen-on {{ none; }}; listen-on-v6 port {port} {{ ::1; }}; recursion no; }};\n"
    )
    (directory / "named.conf").write_text(options + bind_snippet)
    (directory / "acme.example.net.db").write_text(ZONE_FILE)
    log = (directory / "named.log").open("w")
    proc = subprocess.Popen(
        [str(find_binary("named")), "-g", "-6", "-c", str(directory / "named.conf")],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        query = dns.message.make_query("acme.example.net.", "SOA")

        def answers() -> bool:
            assert proc.poll() is None, (directory / "named.log").read_text()
            try:
                return dns.query.udp(query, "::1", port=port, timeout=0.2).rcode() == 0
            except dns.exception.Timeout:
                return False

        wait_until(answers, timeout=15, what="named answers")
        yield
    finally:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=15)
        log.close()


def test_delegate_policy_allows_only_our_txt_names(require_lab: None, tmp_path: Path) -> None:
    done = subprocess.run(
        [
            CERTV6,
            "delegate",
            "example.org",
            "www.example.org",
            "--to",
            "acme.example.net",
            "--state-dir",
            str(tmp_path / "state"),
            "--no-verify",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    result = validated("delegate", done.stdout)
    port = free_port()
    (tmp_path / "named").mkdir()
    with named(tmp_path / "named", result["bind"], port):
        # A resolver that knows the challenge zone: the named itself (it answers SOA walks).
        dns_ = Dns(DnsSettings(resolvers=(f"[::1]:{port}",)))
        options = {"key_file": result["key"]["file"], "server": f"[::1]:{port}"}
        context = ProviderContext(name="rfc2136", options=options, dns=dns_, state_dir=tmp_path)
        provider = load_provider(context)
        granted = [
            TxtRecord("example.org.acme.example.net.", "v1"),
            TxtRecord("www.example.org.acme.example.net.", "v2"),
        ]
        provider.present(granted)
        provider.cleanup(granted)
        with pytest.raises(ProviderAuthError, match="REFUSED"):
            provider.present([TxtRecord("other.acme.example.net.", "v3")])
        key = parse_key_file(Path(result["key"]["file"]).read_text(), "k")
        update = dns.update.UpdateMessage(
            "acme.example.net.", keyring=key.keyring(), keyname=key.dns_name
        )
        update.add("example.org.acme.example.net.", 60, "AAAA", "2001:db8::1")
        response = dns.query.tcp(update, "::1", port=port, timeout=5)
        assert response.rcode() == dns.rcode.REFUSED  # TXT only, even at a granted name
