"""The cron file from ``certv6 timer`` works under cron's environment (issue #13).

cron runs a job with almost nothing in its environment and PATH=/usr/bin:/bin,
where nginx is not (it is in /usr/sbin): the install's ``nginx -t`` then
cannot run. The file ``certv6 timer`` prints sets PATH itself; this test runs
its job line the way cron does (``env -i``, cron's PATH, the file's variables,
``/bin/sh -c``) in the lab's client namespace, against a real nginx whose
config test and reload are the bare commands ``nginx -t`` and ``nginx -s reload``.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from nginx_lab import Nginx, leaf_der, snakeoil

from certv6.service import schedule
from certv6.settings import load_settings
from fakes import certv6_at

pytestmark = pytest.mark.lab

NAME = "cron"
DOMAIN = f"{NAME}.certv6.test"
CRON_PATH = "/usr/bin:/bin"  # what cron gives a job (cron(8), Debian)


class Host:
    def __init__(self, lab: Any, root: Path, nginx: Nginx) -> None:
        self.lab, self.root, self.nginx = lab, root, nginx
        self.config = root / "certv6.toml"
        self.state = root / "state"
        self.log = root / "certv6.log"

    def configure(self, **table: object) -> None:
        values = {
            "target": "nginx",
            "directory": str(self.root / "tls"),
            "verify": self.nginx.endpoint,
            "verify_timeout": 10,
            # Bare names, as a user writes them: found through PATH, or not at all.
            "config_test": ["nginx", "-t", "-c", str(self.nginx.conf)],
            "reload": ["nginx", "-s", "reload", "-c", str(self.nginx.conf)],
            **table,
        }
        extra = f"[[certificate.{NAME}.install]]\n"
        extra += "".join(f"{key} = {json.dumps(value)}\n" for key, value in values.items())
        self.lab.write_certv6_config(self.config, state_dir=self.state, extra=extra)

    def cron_file(self, now: dt.datetime) -> str:
        """What ``certv6 timer`` prints, for a certv6 whose clock says ``now``."""
        settings = load_settings(self.config, {})
        planned = schedule.generate(settings, command=certv6_at.command(sys.executable, now))
        return planned.cron.replace("/var/log/certv6.log", str(self.log))

    def run_like_cron(self, cron_file: str, *, keep_path: bool = True) -> Any:
        """The job line under cron's environment: its PATH, the file's variables, sh -c."""
        variables = [line for line in cron_file.splitlines() if "=" in line.split()[0]]
        job = next(line for line in cron_file.splitlines() if line and line[0].isdigit())
        command = job.split(" root ", 1)[1].replace("\\\\%", "%")
        env = ["env", "-i", f"PATH={CRON_PATH}", "SHELL=/bin/sh", "HOME=/root", "LOGNAME=root"]
        env += [line for line in variables if keep_path or not line.startswith("PATH=")]
        return self.lab.run_in_client([*env, "/bin/sh", "-c", command], timeout=300)

    def meta(self) -> dict[str, Any]:
        return dict(json.loads((self.state / f"certificates/{NAME}/current/meta.json").read_text()))

    def renew_at(self, shift: float) -> dt.datetime:
        meta = self.meta()
        start, end = (dt.datetime.fromisoformat(meta[k]) for k in ("not_before", "not_after"))
        return end - (end - start) / 3 + dt.timedelta(seconds=shift)

    def stored(self) -> bytes:
        return leaf_der((self.state / f"certificates/{NAME}/current/cert.pem").read_bytes())


@pytest.fixture
def host(lab: Any, tmp_path: Path) -> Iterator[Host]:
    nginx = Nginx(lab, tmp_path / "nginx")
    cert, key = snakeoil(nginx.directory)
    snippet = tmp_path / "tls" / "nginx.conf"
    nginx.write_site(
        f"server {{\n    {nginx.listen().replace(' ssl;', ' ssl default_server;')}\n"
        f"    ssl_certificate {cert};\n    ssl_certificate_key {key};\n    return 200 'd';\n}}\n"
        f"server {{\n    {nginx.listen()}\n    server_name {DOMAIN};\n"
        f"    include {snippet};\n    return 200 'ok';\n}}\n"
    )
    yield Host(lab, tmp_path, nginx)
    nginx.stop()


def test_the_cron_line_renews_and_installs_under_crons_path(host: Host) -> None:
    host.configure(config_test=False, reload=False, verify=[])
    issued = host.lab.run_in_client(
        [*certv6_at.command(sys.executable, dt.datetime.now(dt.UTC)), "--config",
         str(host.config), "issue", "--name", NAME, "-d", DOMAIN]
    )  # fmt: skip
    assert issued.returncode == 0, issued.stderr
    host.nginx.run()
    host.configure()
    first = host.stored()
    assert host.nginx.served_der(DOMAIN) == first

    # Without the file's PATH line, as cron lines used to be: nginx -t is not found.
    bare = host.run_like_cron(host.cron_file(host.renew_at(+1)), keep_path=False)
    assert bare.returncode == 12, bare.stdout + bare.stderr
    assert "cannot run nginx" in bare.stderr and "No such file or directory" in bare.stderr
    second = host.stored()
    assert second != first and host.nginx.served_der(DOMAIN) == first  # renewed, not installed

    # The cron file as certv6 timer prints it: the owed install is done at the next run.
    fixed = host.run_like_cron(host.cron_file(host.renew_at(-1)))
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert fixed.stdout == ""  # --quiet: cron mails nothing when all is well
    assert host.nginx.served_der(DOMAIN) == second
    logged = host.log.read_text()
    # --quiet keeps stderr (cron's mail) for failures; the log file still has every line.
    assert " INFO certv6: install: cron" in logged and "nginx: reloaded" in logged

    # ...and a renewal under cron installs its certificate itself.
    renewed = host.run_like_cron(host.cron_file(host.renew_at(+1)))
    assert renewed.returncode == 0, renewed.stdout + renewed.stderr
    third = host.stored()
    assert third != second and host.nginx.served_der(DOMAIN) == third
