"""Run the certv6 command inside the lab's IPv6-only client namespace."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jsonschemas import validated
from lab import verify_chain

CERTV6 = str(Path(sys.executable).parent / "certv6")


@dataclass
class Client:
    """certv6 as a user on the client host runs it: a config file and a state directory."""

    lab: Any
    config: Path
    state_dir: Path

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return self.lab.run_in_client(
            [CERTV6, "--config", str(self.config), *args], timeout=timeout
        )

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return self.lab.popen_in_client(
            [CERTV6, "--config", str(self.config), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def issue(self, name: str, *domains: str, extra: tuple[str, ...] = ()) -> dict[str, Any]:
        argv = ["issue", "--json", "--name", name, *extra]
        for domain in domains:
            argv += ["-d", domain]
        done = self.run(*argv)
        assert done.returncode == 0, f"exit {done.returncode}\n{done.stderr}"
        return validated("issue", done.stdout)

    def live(self, name: str) -> Path:
        return self.state_dir / "certificates" / name / "current"


def make_client(lab: Any, directory: Path, extra: str = "", **config: Any) -> Client:
    """``config``: more of ``lab.write_certv6_config``'s options (server=, provider=)."""
    directory.mkdir(parents=True, exist_ok=True)
    state = directory / "state"
    config_file = directory / "certv6.toml"
    lab.write_certv6_config(config_file, state_dir=state, extra=extra, **config)
    return Client(lab, config_file, state)


def assert_chain_verifies(live: Path, root: Path) -> None:
    """``live``'s cert.pem chains, through chain.pem, to the root certificate in ``root``."""
    done = verify_chain(live, root)
    assert done.returncode == 0, done.stdout + done.stderr
