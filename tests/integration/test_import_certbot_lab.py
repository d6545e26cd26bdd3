"""`certv6 import certbot` on real certbot state, then a renewal by certv6, in the lab.

Debian's certbot with python3-certbot-dns-rfc2136 gets a certificate from Pebble,
publishing through the lab's BIND primary, with a deploy hook and a
renewal-hooks/deploy script. certv6 then takes the lineage over, must leave
every byte of certbot's directory as it was, and renews the certificate itself
through the rfc2136 provider made from certbot's credentials file, running the
deploy hooks it took over.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

from jsonschemas import validated
from lab import tsig_secret

pytestmark = pytest.mark.lab

CERTV6 = str(Path(sys.executable).parent / "certv6")
NAME = "imported"


def tree_digest(root: Path) -> dict[str, str]:
    """Every file and link under ``root`` with its content (or target) digest and mode."""
    found = {}
    for path in sorted(root.rglob("*")):
        relative = str(path.relative_to(root))
        if path.is_symlink():
            found[relative] = "link:" + os.readlink(path)
        elif path.is_file():
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            found[relative] = f"{oct(path.stat().st_mode)}:{digest}"
    return found


def run_certbot(lab: Any, work: Path, domain: str, marker: Path) -> Path:
    credentials = work / "rfc2136.ini"
    credentials.write_text(
        f"dns_rfc2136_server = {lab.primary_addr}\ndns_rfc2136_port = 53\n"
        f"dns_rfc2136_name = {lab.tsig_key_name}\n"
        f"dns_rfc2136_secret = {tsig_secret(lab.tsig_key_file)}\n"
        "dns_rfc2136_algorithm = HMAC-SHA256\n"
    )
    credentials.chmod(0o600)
    config = work / "letsencrypt"
    hooks = config / "renewal-hooks" / "deploy"
    hooks.mkdir(parents=True)
    script = hooks / "10-record"
    script.write_text(f'#!/bin/sh\necho "dir-hook $RENEWED_LINEAGE" >> {marker}\n')
    script.chmod(0o755)
    argv = [
        "certbot", "certonly", "-n", "--agree-tos", "--register-unsafely-without-email",
        "--server", lab.ca_directory, "--config-dir", str(config),
        "--work-dir", str(work / "work"), "--logs-dir", str(work / "logs"),
        "--authenticator", "dns-rfc2136", "--dns-rfc2136-credentials", str(credentials),
        "--dns-rfc2136-propagation-seconds", "2", "--key-type", "ecdsa",
        "--elliptic-curve", "secp384r1", "--cert-name", NAME,
        "--deploy-hook", f'echo "deploy-hook $RENEWED_LINEAGE" >> {marker}', "-d", domain,
    ]  # fmt: skip
    done = lab.run_in_client(argv, env={"REQUESTS_CA_BUNDLE": str(lab.ca_bundle)}, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    return config


@pytest.mark.skipif(shutil.which("certbot") is None, reason="certbot is not installed")
def test_import_certbot_then_renew_with_certv6(lab: Any, tmp_path: Path) -> None:
    domain = f"import.{lab.zone.rstrip('.')}"
    marker = tmp_path / "hooks-ran"
    certbot_config = run_certbot(lab, tmp_path, domain, marker)
    marker.unlink()  # certbot's own run of the hooks; certv6's come below
    before = tree_digest(certbot_config)
    state = tmp_path / "state"
    config = tmp_path / "certv6.toml"
    config.write_text(
        "# my settings\n"
        f'server = "{lab.ca_directory}"\nemail = "ops@certv6.test"\nagree_tos = true\n'
        f'state_dir = "{state}"\nca_bundle = "{lab.ca_bundle}"\n'
        f'resolvers = ["[{lab.client_resolver}]:53"]\n'
    )
    certv6 = [CERTV6, "--config", str(config)]
    done = lab.run_in_client(
        [*certv6, "import", "certbot", "--config-dir", str(certbot_config), "--json"]
    )
    assert done.returncode == 0, done.stderr
    result = validated("import-certbot", done.stdout)
    assert tree_digest(certbot_config) == before  # certbot's files untouched
    [item] = result["imported"]
    assert (item["name"], item["domains"], item["key_type"]) == (NAME, [domain], "ec384")
    assert item["provider"] == "rfc2136" and item["server"] == lab.ca_directory
    not_mapped = {entry["item"].split(" ")[0] for entry in result["not_mapped"]}
    assert "dns_rfc2136_propagation_seconds" in not_mapped  # certv6 polls instead of sleeping
    written = tomllib.loads(config.read_text())
    assert config.read_text().count("# my settings") == 1
    assert written["provider"]["rfc2136"]["server"] == f"[{lab.primary_addr}]:53"
    assert written["deploy_hook"] == f"run-parts {certbot_config}/renewal-hooks/deploy"
    assert "deploy-hook" in written["certificate"][NAME]["deploy_hook"]
    key_file = Path(written["provider"]["rfc2136"]["key_file"])
    assert key_file.stat().st_mode & 0o777 == 0o600
    live = state / "certificates" / NAME / "current"
    imported_leaf = (live / "cert.pem").read_bytes()
    assert imported_leaf == (certbot_config / "live" / NAME / "cert.pem").read_bytes()

    listed = lab.run_in_client([*certv6, "list", "--json"])
    assert validated("list", listed.stdout)["certificates"][0]["name"] == NAME
    renewed = lab.run_in_client([*certv6, "renew", "--force", "--json"], timeout=180)
    assert renewed.returncode == 0, renewed.stderr
    report = validated("renew", renewed.stdout)
    assert [c["status"] for c in report["certificates"]] == ["renewed"]
    new_leaf = (live / "cert.pem").read_bytes()
    assert new_leaf != imported_leaf
    cert = x509.load_pem_x509_certificate(new_leaf)
    assert cert.public_key().curve.name == "secp384r1"  # type: ignore[union-attr]
    ran = marker.read_text()
    assert f"deploy-hook {live}" in ran and f"dir-hook {live}" in ran
    assert tree_digest(certbot_config) == before


def test_issue_takes_certbots_spellings(lab: Any, tmp_path: Path) -> None:
    config = lab.write_certv6_config(tmp_path / "certv6.toml", state_dir=tmp_path / "state")
    ran = tmp_path / "deployed"
    zone = lab.zone.rstrip(".")
    argv = [
        CERTV6, "issue", "--cert-name", "spelled", "-d", f"a.{zone},b.{zone}",
        "--key-type", "ecdsa", "-m", "ops@certv6.test", "--json", "-q", "--config", str(config),
        "--deploy-hook", f'echo "$RENEWED_LINEAGE $RENEWED_DOMAINS" > {ran}',
    ]  # fmt: skip
    done = lab.run_in_client(argv, timeout=180)
    assert done.returncode == 0, done.stderr
    result = validated("issue", done.stdout)
    assert (result["name"], result["domains"]) == ("spelled", [f"a.{zone}", f"b.{zone}"])
    assert ran.read_text().split() == [result["path"], f"a.{zone}", f"b.{zone}"]
    leaf = x509.load_pem_x509_certificate((Path(result["path"]) / "cert.pem").read_bytes())
    assert leaf.public_key().curve.name == "secp256r1"  # type: ignore[union-attr]
