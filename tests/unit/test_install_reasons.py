"""Config tests name the reason: the real postfix and dovecot tools installed here."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from certv6.errors import InstallError
from certv6.install.commands import run_command
from certv6.install.targets import TARGETS


@pytest.mark.skipif(shutil.which("postfix") is None, reason="postfix is not installed")
def test_postfix_check_failure_shows_postfixs_reason(tmp_path: Path) -> None:
    # postfix logs to syslog unless stderr is a terminal; certv6 gives it one.
    (tmp_path / "main.cf").write_text("smtpd_tls_security_level = may\nbogus line\n")
    shutil.copy("/etc/postfix/master.cf", tmp_path / "master.cf")
    with pytest.raises(InstallError) as raised:
        run_command(("postfix", "-c", str(tmp_path), "check"), step="config-test", timeout=30)
    assert "exited with status 1:" in raised.value.message
    assert "missing '=' after attribute name" in raised.value.message
    assert "(no output)" not in raised.value.message


@pytest.mark.skipif(shutil.which("doveconf") is None, reason="dovecot is not installed")
def test_dovecot_config_test_catches_an_unreadable_ssl_ca(tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-subj", "/CN=x", "-days", "1"],
        check=True, capture_output=True,
    )  # fmt: skip
    conf = tmp_path / "dovecot.conf"
    base = f"ssl = yes\nssl_cert = <{cert}\nssl_key = <{key}\n"
    conf.write_text(base + f"ssl_ca = <{tmp_path}/missing-ca.pem\n")
    default = TARGETS["dovecot"].config_test
    assert default == "doveconf -x -n >/dev/null"
    # With this config: plain -n (the old test) passes what the reload then refuses.
    run_command(("doveconf", "-c", str(conf), "-n"), step="config-test", timeout=30)
    ours = f"doveconf -c {conf} -x -n >/dev/null"
    with pytest.raises(InstallError) as raised:
        run_command(ours, step="config-test", timeout=30)
    assert "missing-ca.pem: No such file or directory" in raised.value.message
    conf.write_text(base)
    output = run_command(ours, step="config-test", timeout=30)
    assert "PRIVATE KEY" not in output  # -x shows file contents: they never reach a log
