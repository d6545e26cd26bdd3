"""`certv6 import certbot` on a certbot directory laid out as certbot lays it (no network).

The lab test (tests/integration/test_import_certbot_lab.py) uses real certbot state and
renews it; these cover what it cannot: other authenticators, an existing config kept, and a
config that would not load leaving everything as it was.
"""

from __future__ import annotations

import datetime
import os
import subprocess
import sys
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from jsonschemas import validated


def certbot_dir(root: Path, name: str, renewal_params: str) -> Path:
    """live/NAME links into archive/NAME, and renewal/NAME.conf, as certbot writes them."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "www.example.org")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
        .public_key(key.public_key()).serial_number(7).not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=60))
        .add_extension(x509.SubjectAlternativeName(
            [x509.DNSName("www.example.org"), x509.DNSName("example.org")]), critical=False)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    pem = cert.public_bytes(serialization.Encoding.PEM)
    archive, live = root / "archive" / name, root / "live" / name
    archive.mkdir(parents=True)
    live.mkdir(parents=True)
    files = {
        "cert": pem, "chain": pem, "fullchain": pem + pem,
        "privkey": key.private_bytes(serialization.Encoding.PEM,
                                     serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption()),
    }  # fmt: skip
    for kind, data in files.items():
        (archive / f"{kind}1.pem").write_bytes(data)
        os.symlink(f"../../archive/{name}/{kind}1.pem", live / f"{kind}.pem")
    (root / "renewal").mkdir(exist_ok=True)
    (root / "renewal" / f"{name}.conf").write_text(
        f"version = 2.1.0\narchive_dir = {archive}\n"
        + "".join(f"{kind} = {live}/{kind}.pem\n" for kind in files)
        + "\n# Options used in the renewal process\n[renewalparams]\n"
        + renewal_params
    )
    return root


def certv6(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "certv6", "--config", "certv6.toml", *args],
        capture_output=True, text=True, cwd=tmp_path, timeout=60,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )  # fmt: skip


def test_a_webroot_lineage_is_imported_and_its_authenticator_listed(tmp_path: Path) -> None:
    params = "authenticator = webroot\nrenew_hook = systemctl reload nginx\n"
    root = certbot_dir(tmp_path / "le", "www", params + "server = https://ca.example/dir\n")
    config = tmp_path / "certv6.toml"
    config.write_text('state_dir = "state"\n\n[certificate.other]\nprofile = "classic"\n')
    done = certv6(tmp_path, "import", "certbot", "--config-dir", str(root))
    assert done.returncode == 0, done.stderr
    assert "imported www: www.example.org, example.org" in done.stdout
    assert "not mapped: www: authenticator webroot: certv6 does dns-01" in done.stderr
    text = config.read_text()
    assert text.startswith('state_dir = "state"\n\n[certificate.other]')  # the user's text kept
    assert '[certificate.www]\ndeploy_hook = "systemctl reload nginx"\n' in text
    listed = validated("list", certv6(tmp_path, "list", "--json").stdout)["certificates"]
    assert [(c["name"], c["domains"]) for c in listed] == [
        ("www", ["www.example.org", "example.org"])
    ]
    lineage = (tmp_path / "state" / "certificates" / "www" / "lineage.json").read_text()
    assert '"key_type": "rsa2048"' in lineage and '"server": "https://ca.example/dir"' in lineage
    again = certv6(tmp_path, "import", "certbot", "--config-dir", str(root), "--json")
    [entry] = validated("import-certbot", again.stdout)["not_mapped"]
    assert "already has a certificate 'www'" in entry["why"]


def test_a_config_that_would_not_load_leaves_everything_as_it_was(tmp_path: Path) -> None:
    ini = tmp_path / "rfc2136.ini"
    ini.write_text("dns_rfc2136_server = 2001:db8::53\ndns_rfc2136_name = k\n"
                   "dns_rfc2136_secret = c2VjcmV0c2VjcmV0\n")  # fmt: skip
    root = certbot_dir(tmp_path / "le", "www", "authenticator = dns-rfc2136\n"
                       f"dns_rfc2136_credentials = {ini}\n")  # fmt: skip
    config = tmp_path / "certv6.toml"
    # An rfc2136 table written inline: the import's [provider.rfc2136] would define it twice.
    original = 'state_dir = "state"\n[provider]\nrfc2136 = { key_file = "k.key" }\n'
    config.write_text(original)
    done = certv6(tmp_path, "import", "certbot", "--config-dir", str(root))
    assert done.returncode == 3 and "is not valid TOML" in done.stderr, done.stderr
    assert config.read_text() == original
    assert not (tmp_path / "state").exists()  # no lineage, no TSIG key file written


def test_the_next_renew_installs_the_imported_version_once(tmp_path: Path) -> None:
    # 60 days left: not due. The imported version is owed to the servers like any new one,
    # so the certificate's deploy hook (certbot's renew_hook) runs once, then never again.
    marker = tmp_path / "deployed"
    params = f'authenticator = webroot\nrenew_hook = echo "$RENEWED_LINEAGE" >> {marker}\n'
    root = certbot_dir(tmp_path / "le", "www", params)
    (tmp_path / "certv6.toml").write_text('state_dir = "state"\n')
    assert certv6(tmp_path, "import", "certbot", "--config-dir", str(root)).returncode == 0
    first = certv6(tmp_path, "renew", "--json")
    assert first.returncode == 0, first.stdout + first.stderr
    [www] = validated("renew", first.stdout)["certificates"]
    assert (www["name"], www["status"], www["renewed"]) == ("www", "installed", False)
    live = tmp_path / "state" / "certificates" / "www" / "current"
    assert marker.read_text() == f"{live}\n"
    again = certv6(tmp_path, "renew", "--json")
    [www] = validated("renew", again.stdout)["certificates"]
    assert www["status"] == "skipped" and marker.read_text() == f"{live}\n"
