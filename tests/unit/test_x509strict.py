"""Python 3.13's strict X.509 checks (issue #22), over real TLS on [::1].

What each Python does with a home-made CA is asserted as it is: 3.11 and 3.12 accept it, 3.13
refuses it. The explanation is tested on every Python by setting the strict flag by hand
(``x509_strict=True``, what doctor does on a lenient Python).
"""

from __future__ import annotations

import json
import platform
import re
import socket
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from certv6 import httpnet, x509strict
from certv6.acme_client.session import AcmeSession
from certv6.doctor import ca
from certv6.doctor.report import Status
from certv6.errors import CaUnreachable
from fakes.ari_ca import AriCa
from fakes.clock import FakeClock
from fakes.connect_proxy import ConnectProxy
from fakes.https import HttpsServer, Reply, Request
from fakes.resolver import ZoneResolver
from fakes.tls import TlsFiles, make_tls
from lab import pki
from testpki import HOME_MADE, Flaw, self_signed

DIRECTORY = {"newNonce": "https://ca.example/nonce", "meta": {}}
PYTHON_IS_STRICT = sys.version_info >= (3, 13)
DOCS = Path(__file__).resolve().parents[2] / "docs" / "private-ca.md"
# Per flaw: OpenSSL's reason, and the extension the hint must tell to add.
FLAWS = {
    Flaw.NO_KEY_IDENTIFIERS: ("Missing Authority Key Identifier", "authorityKeyIdentifier="),
    Flaw.BASIC_CONSTRAINTS_NOT_CRITICAL: (
        "Basic Constraints of CA cert not marked critical",
        "basicConstraints=critical,CA:TRUE",
    ),
    Flaw.NO_KEY_USAGE: (
        "CA cert does not include key usage extension",
        "keyUsage=critical,keyCertSign,cRLSign",
    ),
}


def app(request: Request) -> Reply:
    return Reply(200, DIRECTORY)


@pytest.fixture(autouse=True)
def no_proxy_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    return monkeypatch


@pytest.fixture
def home_made(tmp_path: Path) -> Iterator[tuple[HttpsServer, TlsFiles]]:
    tls = make_tls(tmp_path, flaws=HOME_MADE)
    with HttpsServer(app, tls) as server:
        yield server, tls


def get(server: HttpsServer, tls: TlsFiles, x509_strict: bool | None = None) -> httpnet.HttpProbe:
    return httpnet.probe_json(
        server.url + "/dir",
        ca_bundle=str(tls.ca_bundle),
        allow_ipv4=False,
        timeout=5,
        x509_strict=x509_strict,
    )


def strict_verify(ca: Path, cert: Path) -> subprocess.CompletedProcess[str]:
    """OpenSSL's own strict verification (the checks Python 3.13 turns on), for any file."""
    return subprocess.run(
        ["openssl", "verify", "-x509_strict", "-purpose", "sslserver", "-CAfile", ca, cert],
        capture_output=True,
        text=True,
    )


# --- the test PKI itself --------------------------------------------------------------------


def test_every_certificate_the_tests_make_passes_the_strict_checks(tmp_path: Path) -> None:
    stand_in = make_tls(tmp_path, names=["ca.example"])
    lab_bundle, listener, _ = pki.write_listener_tls(
        tmp_path, address="fd00::1", names=["pebble.test"]
    )
    snakeoil, _ = self_signed("snakeoil").write(tmp_path / "s.crt", tmp_path / "s.key")
    for bundle, cert in [
        (stand_in.ca_bundle, stand_in.cert),
        (lab_bundle, listener),
        (snakeoil, snakeoil),
    ]:
        done = strict_verify(bundle, cert)
        assert done.returncode == 0, done.stdout + done.stderr
    assert oct(stand_in.key.stat().st_mode & 0o777) == "0o600"


@pytest.mark.parametrize("flaw", list(Flaw))
def test_each_flaw_is_one_that_openssl_refuses(tmp_path: Path, flaw: Flaw) -> None:
    tls = make_tls(tmp_path, flaws={flaw})
    done = strict_verify(tls.ca_bundle, tls.cert)
    assert done.returncode != 0 and FLAWS[flaw][0] in done.stdout + done.stderr


# --- what each Python does ------------------------------------------------------------------


def test_python_3_13_and_later_check_strictly_by_default() -> None:
    assert x509strict.default_is_strict() is PYTHON_IS_STRICT


def test_a_home_made_ca_on_this_python(home_made: tuple[HttpsServer, TlsFiles]) -> None:
    found = get(*home_made)
    if not PYTHON_IS_STRICT:
        assert found.body == DIRECTORY and found.strict is None  # 3.11, 3.12: accepted
        return
    assert found.body is None
    assert found.problem == (
        "TLS to ::1 failed: certificate verify failed: Missing Authority Key Identifier"
    )
    assert found.strict is not None and found.strict.code == 85
    assert found.hint == found.strict.hint
    assert "authorityKeyIdentifier=keyid,issuer" in found.hint
    assert "VERIFY_X509_STRICT" in found.hint and "docs/private-ca.md" in found.hint


def test_the_acme_client_explains_it_too(tmp_path: Path) -> None:
    tls = make_tls(tmp_path, flaws=HOME_MADE)
    ca = AriCa("::1", 0, cert=tls.cert, key=tls.key)
    ca.bind()
    thread = threading.Thread(target=ca.serve_forever, daemon=True)
    thread.start()
    key = ec.generate_private_key(ec.SECP256R1())
    try:
        if not PYTHON_IS_STRICT:
            session = AcmeSession.connect(
                ca.directory_url, key, ca_bundle=str(tls.ca_bundle), clock=FakeClock()
            )
            assert session is not None
            return
        with pytest.raises(CaUnreachable) as raised:
            AcmeSession.connect(
                ca.directory_url, key, ca_bundle=str(tls.ca_bundle), clock=FakeClock()
            )
        assert "Missing Authority Key Identifier" in raised.value.message
        assert raised.value.hint is not None
        assert "authorityKeyIdentifier=keyid,issuer" in raised.value.hint
    finally:
        ca.shutdown()
        thread.join(timeout=5)


# --- the explanation, on every Python --------------------------------------------------------


@pytest.mark.parametrize("flaw", list(Flaw))
def test_the_strict_flag_set_by_hand_names_the_flaw_and_the_fix(tmp_path: Path, flaw: Flaw) -> None:
    reason, extension = FLAWS[flaw]
    tls = make_tls(tmp_path, flaws={flaw})
    with HttpsServer(app, tls) as server:
        found = get(server, tls, x509_strict=True)
    assert found.problem == f"TLS to ::1 failed: certificate verify failed: {reason}"
    assert found.hint is not None and extension in found.hint
    assert "openssl" in found.hint and "Python 3.13" in found.hint


def test_a_conforming_ca_passes_with_the_flag_set(tmp_path: Path) -> None:
    tls = make_tls(tmp_path)
    with HttpsServer(app, tls) as server:
        assert get(server, tls, x509_strict=True).body == DIRECTORY


def test_clearing_the_flag_leaves_verification_on(
    home_made: tuple[HttpsServer, TlsFiles], tmp_path: Path
) -> None:
    server, tls = home_made
    assert get(server, tls, x509_strict=False).body == DIRECTORY
    (tmp_path / "other").mkdir()
    stranger = make_tls(tmp_path / "other", flaws=HOME_MADE)  # a CA that did not sign it
    refused = get(server, stranger, x509_strict=False)
    # Same CA name, other key, no key identifiers to tell them apart: the signature fails.
    assert (
        refused.problem
        == "TLS to ::1 failed: certificate verify failed: certificate signature failure"
    )
    assert refused.strict is None and refused.hint is not None and "ca_bundle" in refused.hint


def test_clearing_the_flag_still_checks_the_host_name(tmp_path: Path) -> None:
    tls = make_tls(tmp_path, ips=(), names=["elsewhere.example"], flaws=HOME_MADE)
    with HttpsServer(app, tls) as server:
        found = get(server, tls, x509_strict=False)
    assert found.problem.endswith("IP address mismatch, certificate is not valid for '::1'")


def test_the_flag_reaches_connections_through_a_proxy(
    home_made: tuple[HttpsServer, TlsFiles], no_proxy_env: pytest.MonkeyPatch
) -> None:
    proxy = ConnectProxy(("::1", 0))
    try:
        no_proxy_env.setenv("HTTPS_PROXY", proxy.url)
        found = get(*home_made, x509_strict=True)
        assert found.proxy == proxy.url
        assert found.strict is not None and found.strict.code == 85
        assert get(*home_made, x509_strict=False).body == DIRECTORY
    finally:
        proxy.close()


def test_an_unrelated_tls_error_is_not_called_strict() -> None:
    error = ssl.SSLCertVerificationError(1, "certificate verify failed")
    error.verify_code, error.verify_message = 10, "certificate has expired"
    assert x509strict.strict_failure(error) is None
    wrapped = RuntimeError("outer")
    wrapped.__cause__ = ssl.SSLCertVerificationError(1, "strict")
    wrapped.__cause__.verify_code, wrapped.__cause__.verify_message = 89, "Basic Constraints"
    found = x509strict.strict_failure(wrapped)
    assert found is not None and found.rule.section == "4.2.1.9"


# --- the fix the docs and the hints give ------------------------------------------------------


def test_the_documented_openssl_commands_make_a_strict_chain(tmp_path: Path) -> None:
    text = DOCS.read_text()
    block = re.search(r"runs this block as it is.*?```sh\n(.*?)```", text, re.S)
    assert block is not None
    script = block.group(1)
    assert x509strict.CA_EXAMPLE in script and x509strict.SERVER_EXAMPLE in script
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script], cwd=tmp_path, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "server.pem: OK" in done.stdout
    # And Python with the strict flag agrees, over a real handshake.
    files = TlsFiles(tmp_path / "ca.pem", tmp_path / "server.pem", tmp_path / "server.key")
    with HttpsServer(app, files) as server:
        context = ssl.create_default_context(cafile=str(files.ca_bundle))
        context.verify_flags |= ssl.VERIFY_X509_STRICT
        with (
            socket.create_connection(("::1", server.port), timeout=5) as raw,
            context.wrap_socket(raw, server_hostname="ca.internal") as tls,
        ):
            assert tls.version() is not None


# --- certv6 doctor ----------------------------------------------------------------------------


def doctor_ca_checks(tls: TlsFiles, tmp_path: Path) -> dict[str, dict[str, Any]]:
    """``certv6 doctor --json`` against a stand-in CA using ``tls``: the ca section by check."""
    with HttpsServer(app, tls) as server, ZoneResolver([]) as resolver:
        config = tmp_path / "certv6.toml"
        config.write_text(
            f'server = "{server.url}/dir"\nca_bundle = "{tls.ca_bundle}"\n'
            f'state_dir = "{tmp_path}/state"\nresolvers = ["[::1]:{resolver.port}"]\n'
        )
        done = subprocess.run(
            [sys.executable, "-m", "certv6", "--config", str(config), "doctor", "--json"],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert "Traceback" not in done.stderr
    checks = json.loads(done.stdout)["checks"]
    return {c["check"]: c for c in checks if c["section"] == "ca"}


def test_doctor_with_a_home_made_ca(tmp_path: Path) -> None:
    found = doctor_ca_checks(make_tls(tmp_path, flaws=HOME_MADE), tmp_path)
    strict = found["x509 strict"]
    assert "authorityKeyIdentifier=keyid,issuer" in strict["fix"]
    if not PYTHON_IS_STRICT:  # works today; doctor warns before the upgrade to 3.13
        assert found["directory"]["status"] == "ok" and strict["status"] == "warn"
        assert strict["message"] == (
            "the CA's TLS chain breaks RFC 5280 4.2.1.1 (Missing Authority Key Identifier):"
            f" Python {platform.python_version()} accepts it, Python 3.13 and later refuse it"
        )
        return
    assert found["directory"]["status"] == "fail"
    assert found["directory"]["message"].endswith("Missing Authority Key Identifier")
    assert strict["status"] == "fail"
    assert strict["message"] == (
        "only the strict RFC 5280 checks (Missing Authority Key Identifier) refuse the CA's"
        " TLS chain: it verifies without them, but certv6 keeps them on"
    )


def test_doctor_with_a_conforming_ca(tmp_path: Path) -> None:
    found = doctor_ca_checks(make_tls(tmp_path), tmp_path)
    assert found["directory"]["status"] == "ok"
    assert found["x509 strict"]["status"] == "ok"
    assert "meets RFC 5280" in found["x509 strict"]["message"]


def probe(problem: str = "", strict: x509strict.StrictFailure | None = None) -> httpnet.HttpProbe:
    body = None if problem else DIRECTORY
    return httpnet.HttpProbe("https://ca.example/dir", None, None, body, problem, None, 0.1, strict)


AKI = x509strict.StrictFailure(85, "Missing Authority Key Identifier", x509strict.RULES[85])


def test_doctor_says_what_else_fails_without_the_strict_checks() -> None:
    expired = probe("TLS to ca.example failed: certificate verify failed: certificate has expired")
    found = ca.strictness_finding(probe("refused", AKI), expired, python_strict=True)
    assert found is not None and found.status == Status.FAIL
    assert found.message == (
        "the CA's TLS chain fails the strict RFC 5280 checks (Missing Authority Key Identifier);"
        " without them: TLS to ca.example failed: certificate verify failed:"
        " certificate has expired"
    )


def test_doctor_adds_nothing_to_an_unrelated_failure() -> None:
    assert ca.strictness_finding(probe("no route"), None, python_strict=True) is None
    unchecked = ca.strictness_finding(probe(), probe("timed out"), python_strict=False)
    assert unchecked is not None and unchecked.status == Status.WARN
    assert unchecked.message == "not checked: timed out"
