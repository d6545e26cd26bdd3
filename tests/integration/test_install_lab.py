"""The installer end to end: certv6 and real nginx / HAProxy in the IPv6-only client namespace.

nginx listens on ``[client]:8443`` only, with a default server on a self-signed
("snakeoil") certificate and, once the user includes certv6's snippet, a server
for the certificate's name. Every check of what is served is a TLS handshake
over IPv6 with SNI.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from certv6_run import Client, make_client
from nginx_lab import HAProxy, Nginx, leaf_der, snakeoil

from jsonschemas import validated

pytestmark = pytest.mark.lab

ZONE = "certv6.test"


@dataclass
class Site:
    """A user's nginx with certv6 configured for one certificate."""

    lab: object
    client: Client
    nginx: Nginx
    name: str
    directory: Path  # certv6's install directory
    snakeoil: bytes  # what the default server sends

    @property
    def domain(self) -> str:
        return f"{self.name}.{ZONE}"

    @property
    def snippet(self) -> Path:
        return self.directory / "nginx.conf"

    def configure(self, **table: object) -> None:
        """Rewrite certv6's config with this install table (defaults: the lab nginx)."""
        values: dict[str, object] = {
            "target": "nginx",
            "directory": str(self.directory),
            "verify": self.nginx.endpoint,
            "verify_timeout": 10,
            "config_test": self.nginx.config_test,
            "reload": self.nginx.reload,
            **table,
        }
        lines = [f"[[certificate.{self.name}.install]]"]
        lines += [f"{key} = {json.dumps(value)}" for key, value in values.items()]
        self.lab.write_certv6_config(  # type: ignore[attr-defined]
            self.client.config, state_dir=self.client.state_dir, extra="\n".join(lines) + "\n"
        )

    def user_includes_the_snippet(self, extra: str = "") -> None:
        self.nginx.write_site(
            self._default_server() + "server {\n"
            f"    {self.nginx.listen()}\n"
            f"    server_name {self.domain};\n"
            f"    include {self.snippet};\n"
            f"    {extra}\n"
            "    return 200 'ok';\n"
            "}\n"
        )

    def _default_server(self) -> str:
        cert, key = self.nginx.directory / "snakeoil.crt", self.nginx.directory / "snakeoil.key"
        return (
            "server {\n"
            f"    {self.nginx.listen().replace(' ssl;', ' ssl default_server;')}\n"
            f"    ssl_certificate {cert};\n"
            f"    ssl_certificate_key {key};\n"
            "    return 200 'default';\n"
            "}\n"
        )

    def stored_leaf(self) -> bytes:
        return leaf_der((self.client.live(self.name) / "cert.pem").read_bytes())

    def served(self) -> bytes:
        return self.nginx.served_der(self.domain)

    def live_version(self) -> str:
        return os.readlink(self.directory / "live")


def new_site(lab, tmp_path: Path, name: str) -> Site:  # type: ignore[no-untyped-def]
    nginx = Nginx(lab, tmp_path / "nginx")
    cert, _ = snakeoil(nginx.directory)
    client = make_client(lab, tmp_path)
    site = Site(lab, client, nginx, name, tmp_path / "etc-ssl" / name, leaf_der(cert.read_bytes()))
    nginx.write_site(site._default_server())
    nginx.run()
    site.configure()
    return site


def onboard(site: Site) -> bytes:
    """The documented first steps: issue, include the snippet, install. Returns the leaf."""
    site.configure(verify_timeout=2)
    first = site.client.run("issue", "--name", site.name, "-d", site.domain)
    # Nothing includes the snippet yet, so nginx still sends its snakeoil: verification
    # fails, and on a first install the files stay so that the snippet can be included.
    assert first.returncode == 10, first.stderr
    assert "first install" in first.stderr and "Traceback" not in first.stderr
    assert site.snippet.is_file()
    assert site.served() == site.snakeoil
    site.user_includes_the_snippet()
    site.configure()
    done = site.client.run("install", "--name", site.name, "--json")
    assert done.returncode == 0, done.stderr
    report = validated("install", done.stdout)
    assert report["targets"][0]["verified"] == [site.nginx.endpoint]
    print("install timings:", report["targets"][0]["timings"])  # shown with pytest -s
    return site.stored_leaf()


@pytest.fixture
def site(lab, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Site]:  # type: ignore[no-untyped-def]
    name = "inst-" + request.node.name.removeprefix("test_").replace("_", "-")[:24]
    running = new_site(lab, tmp_path, name)
    try:
        yield running
    finally:
        running.nginx.stop()


def test_issue_install_and_a_second_issuance_swaps_the_certificate(site: Site) -> None:
    first = onboard(site)
    assert site.served() == first
    assert site.nginx.served_der(f"other.{ZONE}") == site.snakeoil  # SNI picks the server
    assert site.live_version() == "versions/0002"  # the failed first attempt's files stayed
    # A second issuance installs by itself: new files, config test, reload, verify.
    second = site.client.issue(site.name, site.domain, extra=("--force",))
    assert second["sha256"] != hashlib.sha256(first).hexdigest()
    assert site.served() == site.stored_leaf() != first
    assert site.live_version() == "versions/0003"


def test_a_failing_config_test_rolls_back_and_the_old_certificate_stays(site: Site) -> None:
    first = onboard(site)
    site.user_includes_the_snippet(extra=f"include {site.nginx.directory}/missing.conf;")
    done = site.client.run("issue", "--force", "--name", site.name, "-d", site.domain)
    assert done.returncode == 10, done.stderr
    assert "config-test" in done.stderr and "missing.conf" in done.stderr
    assert "Traceback" not in done.stderr
    assert site.live_version() == "versions/0002"
    assert site.served() == first
    # The new certificate is in the store all the same, ready for the next install.
    assert site.stored_leaf() != first
    site.user_includes_the_snippet()
    assert site.client.run("install", "--name", site.name).returncode == 0
    assert site.served() == site.stored_leaf()


def test_a_reload_that_changes_nothing_is_caught_by_verification(site: Site) -> None:
    first = onboard(site)
    # Like `systemctl reload` of the wrong unit: exit 0, and nginx never reloads.
    site.configure(reload=["/bin/true"], verify_timeout=3)
    done = site.client.run("issue", "--force", "--name", site.name, "-d", site.domain)
    assert done.returncode == 10, done.stderr
    assert "verify" in done.stderr and "not the new certificate" in done.stderr
    assert site.live_version() == "versions/0002"
    assert site.served() == first
    site.configure()
    assert site.client.run("install", "--name", site.name).returncode == 0
    assert site.served() == site.stored_leaf() != first


def test_haproxy_gets_the_combined_pem_and_serves_it(lab, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    name, directory = "inst-haproxy", tmp_path / "etc-ssl"
    domain = f"{name}.{ZONE}"
    client = make_client(lab, tmp_path)
    haproxy = HAProxy(lab, tmp_path / "haproxy", crt=directory / "live/combined.pem")

    def configure(**table: object) -> None:
        values = {"target": "haproxy", "directory": str(directory), **table}
        lines = [f"[[certificate.{name}.install]]"]
        lines += [f"{key} = {json.dumps(value)}" for key, value in values.items()]
        lab.write_certv6_config(client.config, state_dir=client.state_dir, extra="\n".join(lines))

    # HAProxy cannot start without its certificate: the first install only writes it.
    configure(config_test=False, reload=False)
    client.issue(name, domain)
    haproxy.run()
    try:
        first = leaf_der((client.live(name) / "cert.pem").read_bytes())
        assert haproxy.served_der(domain) == first
        configure(
            config_test=haproxy.config_test,
            reload=haproxy.reload,
            verify=haproxy.endpoint,
            verify_timeout=10,
        )
        client.issue(name, domain, extra=("--force",))
        second = leaf_der((client.live(name) / "cert.pem").read_bytes())
        assert second != first
        assert haproxy.served_der(domain) == second
    finally:
        haproxy.stop()
