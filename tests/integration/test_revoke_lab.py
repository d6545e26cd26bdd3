"""Revocation against Pebble: the CA's own records say the certificate is revoked."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from certv6_run import make_client
from cryptography import x509

from jsonschemas import error_of, validated

pytestmark = pytest.mark.lab


def pebble_status(lab, serial_hex: str) -> dict:  # type: ignore[no-untyped-def, type-arg]
    url = f"{lab.ca_management}/cert-status-by-serial/{serial_hex}"
    done = lab.run_in_client(["curl", "-sf", "--cacert", str(lab.ca_bundle), url])
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))


def test_revoke_marks_the_certificate_revoked_at_the_ca(lab, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    client = make_client(lab, tmp_path)
    client.issue("gone", "gone.certv6.test")
    cert = x509.load_pem_x509_certificate((client.live("gone") / "cert.pem").read_bytes())
    serial = f"{cert.serial_number:x}"
    assert pebble_status(lab, serial)["Status"] == "Valid"
    done = client.run("revoke", "--name", "gone", "--reason", "superseded")
    assert done.returncode == 0, done.stderr
    status = pebble_status(lab, serial)
    assert status["Status"] == "Revoked"
    assert status["Reason"] == 4  # superseded (RFC 5280 5.3.1)


def test_revoke_takes_certbots_spelling_and_answers_in_json(lab, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    client = make_client(lab, tmp_path)
    client.issue("leaked", "leaked.certv6.test")
    done = client.run("revoke", "--cert-name", "leaked", "--reason", "keycompromise", "--json")
    assert done.returncode == 0, done.stderr
    result = validated("revoke", done.stdout)
    assert (result["name"], result["reason"]) == ("leaked", "keyCompromise")
    assert pebble_status(lab, result["serial"])["Reason"] == 1  # keyCompromise


def test_revoking_an_unknown_certificate_is_a_config_error(lab, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    done = make_client(lab, tmp_path).run("revoke", "--name", "nothing")
    assert done.returncode == 3 and "no certificate named 'nothing'" in done.stderr
    done = make_client(lab, tmp_path).run("revoke", "--name", "nothing", "--json")
    error = error_of(done.stdout)
    assert (done.returncode, error["code"], error["exit"]) == (3, "config", 3)
    assert error["message"] == "no certificate named 'nothing'" and error["hint"]
