"""Alternative chains: `preferred_chain` picks the chain whose top is issued by that root."""

from __future__ import annotations

from pathlib import Path

import pytest
from certv6_run import assert_chain_verifies, make_client
from cryptography import x509

pytestmark = pytest.mark.lab


def root_common_name(lab, index: int) -> str:  # type: ignore[no-untyped-def]
    url = f"{lab.ca_management}/roots/{index}"
    done = lab.run_in_client(["curl", "-sf", "--cacert", str(lab.ca_bundle), url])
    assert done.returncode == 0, done.stderr
    root = x509.load_pem_x509_certificate(done.stdout.encode())
    return str(root.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value)


def top_issuer(chain_pem: bytes) -> str:
    top = x509.load_pem_x509_certificates(chain_pem)[-1]
    return str(top.issuer.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value)


def test_preferred_chain_selects_the_alternate_root(lab, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    lab.restart_pebble({"PEBBLE_ALTERNATE_ROOTS": "1"})
    default_root, alternate_root = root_common_name(lab, 0), root_common_name(lab, 1)
    assert default_root != alternate_root

    plain = make_client(lab, tmp_path / "plain")
    plain.issue("chain", "chain.certv6.test")
    assert top_issuer((plain.live("chain") / "chain.pem").read_bytes()) == default_root

    extra = f'preferred_chain = "{alternate_root}"\n'
    preferred = make_client(lab, tmp_path / "preferred", extra="")
    config = preferred.config.read_text()
    preferred.config.write_text(extra + config)  # a top-level key must precede the tables
    preferred.issue("chain", "chain.certv6.test")
    live = preferred.live("chain")
    assert top_issuer((live / "chain.pem").read_bytes()) == alternate_root
    root = tmp_path / "alt-root.pem"
    done = lab.run_in_client(
        [
            "curl",
            "-sf",
            "--cacert",
            str(lab.ca_bundle),
            "-o",
            str(root),
            f"{lab.ca_management}/roots/1",
        ]
    )
    assert done.returncode == 0
    assert_chain_verifies(live, root)
