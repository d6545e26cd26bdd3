"""``certv6 account`` against the lab's real Pebbles, from the IPv6-only client namespace.

Key types (P-256, P-384, RSA) each register and issue; rollover and contact
updates are seen by the CA; a deactivated account is refused with the way
out, by ``issue`` and by ``renew``, and a new one replaces it; two CAs keep
two accounts in one state directory.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from certv6_run import Client, make_client
from josepy.b64 import b64encode
from josepy.jwk import JWK

from jsonschemas import validated

pytestmark = pytest.mark.lab

ZONE = "certv6.test"


def account_json(client: Client, *args: str) -> dict[str, Any]:
    done = client.run("account", *args, "--json")
    assert done.returncode == 0, done.stderr
    if args[0] == "show":
        return dict(validated("account-show", done.stdout)["accounts"][0])
    return dict(validated("account", done.stdout)["account"])


def key_file(client: Client) -> Path:
    (found,) = (client.state_dir / "accounts").glob("*/account_key.pem")
    return found


def rfc7638(path: Path) -> str:
    return b64encode(JWK.load(path.read_bytes()).thumbprint()).decode()


@pytest.mark.parametrize("key_type", ["ec384", "rsa2048"])
def test_account_key_types_register_and_issue(lab: Any, tmp_path: Path, key_type: str) -> None:
    client = make_client(lab, tmp_path)
    made = account_json(client, "register", "--key-type", key_type, "--email", "a@certv6.test")
    assert made["key_type"] == key_type and made["local_status"] == "valid"
    assert made["thumbprint"] == rfc7638(key_file(client))
    client.issue(f"kt-{key_type}", f"kt-{key_type}.{ZONE}")
    shown = account_json(client, "show")
    assert shown["status"] == "valid" and shown["contact"] == ["mailto:a@certv6.test"]


def test_rollover_and_contact_update_are_what_the_ca_sees(lab: Any, tmp_path: Path) -> None:
    client = make_client(lab, tmp_path)
    client.issue("acc-roll", f"acc-roll.{ZONE}")  # the account is created implicitly
    before = account_json(client, "show")
    assert before["key_type"] == "ec256" and before["created"]
    rolled = account_json(client, "rollover", "--key-type", "ec384")
    assert rolled["url"] == before["url"] and rolled["thumbprint"] != before["thumbprint"]
    assert rolled["thumbprint"] == rfc7638(key_file(client)) and rolled["key_changed"]
    updated = account_json(client, "update", "--email", "new@certv6.test")
    assert updated["contact"] == ["mailto:new@certv6.test"] and updated["status"] == "valid"
    # The CA signs off on the new key: an order, validation and issuance with it.
    done = client.run("issue", "--force", "--name", "acc-roll", "-d", f"acc-roll.{ZONE}")
    assert done.returncode == 0, done.stderr
    assert account_json(client, "show")["contact"] == ["mailto:new@certv6.test"]


def test_a_deactivated_account_is_never_used_again(lab: Any, tmp_path: Path) -> None:
    client = make_client(lab, tmp_path)
    client.issue("acc-off", f"acc-off.{ZONE}")
    first = account_json(client, "show")["url"]
    no_tty = client.run("account", "deactivate")
    assert no_tty.returncode == 2 and "--yes" in no_tty.stderr
    off = account_json(client, "deactivate", "--yes")
    assert off["local_status"] == "deactivated" and off["deactivated"]
    for args in (
        ("issue", "--force", "--name", "acc-off", "-d", f"acc-off.{ZONE}"),
        ("renew", "--force", "--name", "acc-off"),
        ("account", "rollover"),
    ):
        done = client.run(*args)
        assert done.returncode in (4, 12), f"{args}: {done.stderr}"
        assert "was deactivated" in done.stderr and "never uses it again" in done.stderr
        assert "certv6 account register" in done.stderr, done.stderr
    again = account_json(client, "deactivate", "--yes")
    assert again["note"] == "was deactivated already"
    # The way out: a new account, with a new key; the old files are kept aside.
    fresh = account_json(client, "register", "--agree-tos")
    assert fresh["url"] != first and fresh["local_status"] == "valid"
    assert list((client.state_dir / "accounts").glob("*/retired/*/account.json"))
    done = client.run("renew", "--force", "--name", "acc-off")
    assert done.returncode == 0, done.stderr


def test_two_cas_two_accounts_in_one_state_directory(lab: Any, tmp_path: Path) -> None:
    lab.start_second_ca()
    client = make_client(lab, tmp_path)
    text = client.config.read_text()
    both = f"server = [{json.dumps(lab.ca_directory)}, {json.dumps(lab.ca2_directory)}]"
    client.config.write_text(text.replace(f"server = {json.dumps(lab.ca_directory)}", both))
    for server in (lab.ca_directory, lab.ca2_directory):
        done = client.run("account", "register", "--server", server)
        assert done.returncode == 0, done.stderr
    shown = client.run("account", "show", "--json")
    assert shown.returncode == 0, shown.stderr
    accounts = validated("account-show", shown.stdout)["accounts"]
    assert [a["ca"] for a in accounts] == [lab.ca_directory, lab.ca2_directory]
    assert all(a["status"] == "valid" for a in accounts)
    assert len({a["directory"] for a in accounts}) == 2
    assert len({a["url"] for a in accounts}) == 2
    # The second CA's account goes; the first CA still issues, the list is untouched.
    done = client.run("account", "deactivate", "--yes", "--server", lab.ca2_directory)
    assert done.returncode == 0, done.stderr
    issued = client.issue("acc-two", f"acc-two.{ZONE}")
    assert issued["ca"] == lab.ca_directory
