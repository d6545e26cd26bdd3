"""The ACME side of renewal: certificate IDs, renewalInfo, profiles and alreadyReplaced.

Pebble 2.4 has no ARI and no profiles, so these run against the stand-in
(tests/fakes/ari_ca.py) on [::1] over TLS: real HTTP and the real JSON.
"""

from __future__ import annotations

import base64
import datetime as dt
import logging
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from certv6.acme_client import AcmeSession, RenewalInfoError, certificate_id, choose_profile
from certv6.errors import AcmeError, ConfigError, OrderError
from fakes.ari_ca import AriCa
from fakes.clock import FakeClock
from fakes.tls import TlsFiles, make_tls

NOW = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
# RFC 9773 section 4.1's example: this keyIdentifier and serial give this identifier.
RFC_AKI = bytes.fromhex("69885B6B87464041E1B37B847BA0AE2CDE01C8D4")
RFC_SERIAL = 0x87654321
RFC_CERT_ID = "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE"


def make_cert(serial: int, aki: bytes | None = RFC_AKI) -> bytes:
    # Not testpki: an identifier fixture with a chosen serial and a chosen (or no) AKI, never
    # used for TLS; the RFC example's AKI matches no key on purpose.
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ari.test")])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(NOW)
        .not_valid_after(NOW + dt.timedelta(days=90))
    )
    if aki is not None:
        identifier = x509.AuthorityKeyIdentifier(aki, None, None)
        builder = builder.add_extension(identifier, critical=False)
    cert = builder.sign(key, hashes.SHA256())
    return cert.public_bytes(serialization.Encoding.PEM)


@pytest.fixture
def stand_in(tmp_path: Path) -> Iterator[tuple[AriCa, TlsFiles]]:
    tls = make_tls(tmp_path)
    ca = AriCa("::1", 0, cert=tls.cert, key=tls.key)
    ca.bind()
    thread = threading.Thread(target=ca.serve_forever, daemon=True)
    thread.start()
    yield ca, tls
    ca.shutdown()
    thread.join(timeout=5)


def connect(stand_in: tuple[AriCa, TlsFiles]) -> AcmeSession:
    ca, tls = stand_in
    key = ec.generate_private_key(ec.SECP256R1())
    clock = FakeClock(NOW)
    return AcmeSession.connect(ca.directory_url, key, ca_bundle=str(tls.ca_bundle), clock=clock)


# --- the certificate identifier (RFC 9773 4.1) ---------------------------------------------


def test_certificate_id_matches_the_rfc_example() -> None:
    assert certificate_id(make_cert(RFC_SERIAL)) == RFC_CERT_ID


@pytest.mark.parametrize("serial", [1, 0x7F, 0x80, 0xFF00, 2**159 - 1, 0x1234567890ABCDEF])
def test_certificate_id_uses_the_serial_octets_as_encoded(serial: int) -> None:
    # Independent oracle: the serial INTEGER's content octets as they sit in the DER of
    # the TBSCertificate (after the optional [0] version), not recomputed from the number.
    pem = make_cert(serial)
    serial_der = serial_octets(x509.load_pem_x509_certificate(pem).tbs_certificate_bytes)
    aki = base64.urlsafe_b64encode(RFC_AKI).decode().rstrip("=")
    assert (
        certificate_id(pem) == f"{aki}.{base64.urlsafe_b64encode(serial_der).decode().rstrip('=')}"
    )


def serial_octets(tbs: bytes) -> bytes:
    def header(at: int) -> tuple[int, int, int]:  # tag, content start, content length
        tag, length, at = tbs[at], tbs[at + 1], at + 2
        if length & 0x80:
            size = length & 0x7F
            length, at = int.from_bytes(tbs[at : at + size], "big"), at + size
        return tag, at, length

    _, at, _ = header(0)  # the TBSCertificate SEQUENCE
    tag, start, length = header(at)
    if tag == 0xA0:  # [0] EXPLICIT version
        tag, start, length = header(start + length)
    assert tag == 0x02  # INTEGER
    return tbs[start : start + length]


def test_a_certificate_without_authority_key_identifier_cannot_be_named() -> None:
    with pytest.raises(AcmeError, match="cannot name the certificate"):
        certificate_id(make_cert(5, aki=None))


# --- renewalInfo ----------------------------------------------------------------------------


def test_renewal_info_window_retry_after_and_explanation(
    stand_in: tuple[AriCa, TlsFiles],
) -> None:
    ca, _ = stand_in
    start = NOW + dt.timedelta(days=60)
    ca.script.windows[RFC_CERT_ID] = (start, start + dt.timedelta(days=2))
    ca.script.retry_after = "3600"
    ca.script.explanation_url = "https://ca.test/why"
    session = connect(stand_in)
    assert session.offers_renewal_info
    info = session.renewal_info(RFC_CERT_ID)
    assert (info.window_start, info.window_end) == (start, start + dt.timedelta(days=2))
    assert info.window_start.tzinfo == dt.UTC
    assert info.retry_after == dt.timedelta(hours=1)
    assert info.explanation_url == "https://ca.test/why"
    assert ca.seen.renewal_info == [RFC_CERT_ID]


def test_renewal_info_error_keeps_retry_after_and_is_asked_once(
    stand_in: tuple[AriCa, TlsFiles],
) -> None:
    ca, _ = stand_in
    ca.script.default_window = (NOW, NOW + dt.timedelta(days=1))
    ca.script.renewal_info_status = 503
    ca.script.retry_after = "7200"
    session = connect(stand_in)
    with pytest.raises(RenewalInfoError) as caught:
        session.renewal_info(RFC_CERT_ID)
    assert caught.value.retry_after == dt.timedelta(hours=2)
    assert ca.seen.renewal_info == [RFC_CERT_ID]  # no retry loop inside one run


def test_unknown_certificate_is_an_error_without_retry_after(
    stand_in: tuple[AriCa, TlsFiles],
) -> None:
    ca, _ = stand_in
    ca.script.retry_after = None
    with pytest.raises(RenewalInfoError, match="no such certificate") as caught:
        connect(stand_in).renewal_info("bm90.aGVyZQ")
    assert caught.value.retry_after is None


# --- profiles --------------------------------------------------------------------------------


def test_profiles_come_from_the_directory(stand_in: tuple[AriCa, TlsFiles]) -> None:
    ca, _ = stand_in
    ca.script.profiles = {"classic": "90 days", "shortlived": "6 days"}
    assert connect(stand_in).profiles == {"classic": "90 days", "shortlived": "6 days"}


def test_no_profiles_listed_is_an_empty_mapping(stand_in: tuple[AriCa, TlsFiles]) -> None:
    assert connect(stand_in).profiles == {}


def test_required_profile_must_be_offered() -> None:
    offered = {"classic": "", "tlsserver": ""}
    assert choose_profile(offered, "classic", "required", what="www") == "classic"
    with pytest.raises(ConfigError, match=r"does not offer the profile 'shortlived'.*classic"):
        choose_profile(offered, "shortlived", "required", what="www")
    with pytest.raises(ConfigError, match="lists no profiles"):
        choose_profile({}, "shortlived", "required", what="www")


def test_preferred_profile_falls_back_to_the_default(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="certv6"):
        assert choose_profile({"classic": ""}, "shortlived", "preferred", what="www") is None
    assert "does not offer the profile 'shortlived'" in caplog.text
    assert choose_profile({}, None, "required", what="www") is None


def test_unknown_profile_policy_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="profile_policy"):
        choose_profile({"a": ""}, "a", "mandatory", what="www")


# --- replaces and alreadyReplaced (RFC 9773 5) -------------------------------------------------


def test_order_carries_replaces_and_profile(stand_in: tuple[AriCa, TlsFiles]) -> None:
    ca, _ = stand_in
    session = connect(stand_in)
    session.use_account(ca.base + "/acct/1")
    order = session.new_order(["www.ari.test"], profile="shortlived", replaces=RFC_CERT_ID)
    assert order.status == "pending"
    assert ca.seen.orders[-1]["replaces"] == RFC_CERT_ID
    assert ca.seen.orders[-1]["profile"] == "shortlived"
    session.new_order(["www.ari.test"])
    assert "replaces" not in ca.seen.orders[-1] and "profile" not in ca.seen.orders[-1]


def test_already_replaced_is_a_distinguishable_order_error(
    stand_in: tuple[AriCa, TlsFiles],
) -> None:
    ca, _ = stand_in
    ca.script.already_replaced.add(RFC_CERT_ID)
    session = connect(stand_in)
    session.use_account(ca.base + "/acct/1")
    with pytest.raises(OrderError) as caught:
        session.new_order(["www.ari.test"], replaces=RFC_CERT_ID)
    assert caught.value.code == "alreadyReplaced"
    assert "already replaced" in caught.value.message
    assert ca.seen.refused == [RFC_CERT_ID]
