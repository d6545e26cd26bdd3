"""The account use cases against real Pebbles on [::1]: what a killed rollover leaves is
settled by the next run, EAB per CA, and the account operations of RFC 8555 7.3."""

from __future__ import annotations

import base64
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from certv6.acme_client import account_for_key, change_key, fetch_account, thumbprint
from certv6.errors import AccountError, ConfigError, FleetUnreachable
from certv6.keys import generate_key, key_to_pem, load_account_key
from certv6.service.account import connect_account, eab_credentials, note_key_change
from certv6.service.accounts import deactivate_account, register_account, rollover, show
from certv6.settings import Settings, load_settings
from certv6.store import Store
from fakes.clock import FakeClock
from jsonschemas import validated
from servers.pebble import Pebble

HMAC_KEY = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")
CLOCK = FakeClock()


@pytest.fixture(scope="module")
def pebbles(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Pebble, Pebble]]:
    """A plain CA, and one that requires external account binding."""
    root = tmp_path_factory.mktemp("pebbles")
    with Pebble(root / "plain") as plain, Pebble(root / "eab", eab_keys={"kid-1": HMAC_KEY}) as eab:
        yield plain, eab


def config(tmp_path: Path, plain: Pebble, eab: Pebble) -> Path:
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(plain.ca_bundle.read_bytes() + eab.ca_bundle.read_bytes())
    hmac = tmp_path / "eab.hmac"
    hmac.write_text(HMAC_KEY + "\n")
    hmac.chmod(0o600)
    path = tmp_path / "certv6.toml"
    path.write_text(
        f'server = ["plain", "strict"]\nstate_dir = "{tmp_path / "state"}"\n'
        f'ca_bundle = "{bundle}"\nagree_tos = true\n\n'
        f'[ca.plain]\nurl = "{plain.directory_url}"\n\n'
        f'[ca.strict]\nurl = "{eab.directory_url}"\neab_kid = "kid-1"\n'
        'eab_hmac_key_file = "eab.hmac"\naccount_key_type = "ec384"\n'
    )
    return path


@pytest.fixture
def settings(tmp_path: Path, pebbles: tuple[Pebble, Pebble]) -> Settings:
    return load_settings(config(tmp_path, *pebbles), {})


def key_pem(settings: Settings) -> bytes:
    pem = Store(settings.state_dir).account(settings.server).read_key()
    assert pem is not None
    return pem


def test_each_ca_of_the_list_gets_its_own_account_with_its_own_options(
    settings: Settings, pebbles: tuple[Pebble, Pebble]
) -> None:
    plain, strict = pebbles
    first = register_account(settings.at_ca(plain.directory_url), clock=CLOCK)
    second = register_account(settings.at_ca(strict.directory_url), clock=CLOCK)
    assert first.key_type == "ec256" and second.key_type == "ec384"  # [ca.strict]
    assert first.directory != second.directory and first.url != second.url
    views = show(settings, clock=CLOCK)
    assert [v.ca for v in views] == [plain.directory_url, strict.directory_url]
    assert [v.status for v in views] == ["valid", "valid"]
    assert [v.ca_name for v in views] == ["plain", "strict"]


def test_a_killed_rollover_that_reached_the_ca_is_finished_by_the_next_run(
    settings: Settings,
) -> None:
    register_account(settings, clock=CLOCK)
    store = Store(settings.state_dir)
    files = store.account(settings.server)
    session = connect_account(settings, store, CLOCK)
    url = session.net.account_url
    new = generate_key("ec256")
    files.write_next_key(key_to_pem(new))
    change_key(session, new)  # the CA switched; killed before the new key was made current
    again = connect_account(settings, store, CLOCK)  # what issue and renew do first
    assert key_pem(settings) == key_to_pem(new) and files.read_next_key() is None
    assert fetch_account(again).url == url


def test_a_killed_rollover_that_never_reached_the_ca_keeps_the_old_key(
    settings: Settings,
) -> None:
    register_account(settings, clock=CLOCK)
    store = Store(settings.state_dir)
    files = store.account(settings.server)
    old = key_pem(settings)
    files.write_next_key(key_to_pem(generate_key("ec256")))
    session = connect_account(settings, store, CLOCK)
    assert key_pem(settings) == old and files.read_next_key() is None
    assert fetch_account(session).status == "valid"


def test_rollover_resends_a_pending_key_the_ca_never_got(settings: Settings) -> None:
    register_account(settings, clock=CLOCK)
    store = Store(settings.state_dir)
    files = store.account(settings.server)
    old = load_account_key(key_pem(settings), "old")
    pending = key_to_pem(generate_key("ec256"))
    files.write_next_key(pending)
    view = rollover(settings, clock=CLOCK)
    assert key_pem(settings) == pending and view.note == "key rolled over"
    assert view.thumbprint == thumbprint(load_account_key(pending, "new"))
    session = connect_account(settings, store, CLOCK)
    assert account_for_key(session, old) is None  # the CA forgot the old key


def test_deactivation_at_the_ca_and_here(settings: Settings) -> None:
    register_account(settings, clock=CLOCK)
    view = deactivate_account(settings, clock=CLOCK)
    assert view.local_status == "deactivated" and view.deactivated == CLOCK.now().isoformat(
        timespec="seconds"
    )
    with pytest.raises(AccountError, match="never uses it again") as refused:
        connect_account(settings, Store(settings.state_dir), CLOCK)
    assert "certv6 account register --server plain" in refused.value.hint


def test_an_interrupted_deactivation_that_reached_the_ca_is_finished(settings: Settings) -> None:
    register_account(settings, clock=CLOCK)
    store = Store(settings.state_dir)
    files = store.account(settings.server)
    record = files.read_record()
    assert record is not None
    session = connect_account(settings, store, CLOCK)
    session.net.post(str(record.url), {"status": "deactivated"})  # the CA did it ...
    files.write_record(record.but(status="deactivating"))  # ... the run was killed here
    with pytest.raises(AccountError, match="interrupted") as refused:
        connect_account(settings, store, CLOCK)
    assert "account deactivate --server plain --yes" in refused.value.hint
    assert deactivate_account(settings, clock=CLOCK).local_status == "deactivated"


def test_register_refuses_a_second_account_and_a_bad_eab_key_before_writing(
    settings: Settings, tmp_path: Path, pebbles: tuple[Pebble, Pebble]
) -> None:
    strict = settings.at_ca(pebbles[1].directory_url)
    hmac = tmp_path / "eab.hmac"
    hmac.write_text("ab+cd/ef==\n")
    with pytest.raises(ConfigError, match="is not base64url") as bad:
        register_account(strict, clock=CLOCK)
    assert "ab+cd" not in str(bad.value) and "ab+cd" not in bad.value.hint
    assert not (tmp_path / "state").exists()
    hmac.write_text(HMAC_KEY)
    register_account(strict, clock=CLOCK)
    with pytest.raises(ConfigError, match=r"has an account with .* already"):
        register_account(strict, clock=CLOCK)


def test_eab_keys_with_and_without_padding_are_read(tmp_path: Path) -> None:
    hmac = tmp_path / "k"
    padded = base64.urlsafe_b64encode(b"0123456789abcdef0").decode()
    assert padded.endswith("=")
    for text in (padded, padded.rstrip("="), f"  {padded}\n"):
        hmac.write_text(text)
        hmac.chmod(0o600)
        found = eab_credentials(Settings(eab_kid="k", eab_hmac_key_file=hmac))
        assert found == ("k", text.strip())


def test_the_cli_show_local_needs_no_network(settings: Settings, tmp_path: Path) -> None:
    register_account(settings, clock=CLOCK)
    done = subprocess.run(
        [sys.executable, "-m", "certv6", "--config", str(tmp_path / "certv6.toml"),
         "account", "show", "--local", "--json", "--server", "https://[::1]:9/dir"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    (view,) = validated("account-show", done.stdout)["accounts"]
    assert view["local_status"] == "none" and view["url"] is None
    listed = subprocess.run(
        [sys.executable, "-m", "certv6", "--config", str(tmp_path / "certv6.toml"),
         "account", "show", "--local", "--json"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    views = validated("account-show", listed.stdout)["accounts"]
    assert [v["local_status"] for v in views] == ["valid", "none"]
    assert views[0]["status"] is None  # not asked


def test_a_rollover_the_fleet_cannot_hear_of_says_the_ca_has_the_new_key(
    tmp_path: Path, pebbles: tuple[Pebble, Pebble]
) -> None:
    """In a fleet whose etcd refuses the connection ([::1]:9), the rolled-over key is
    recorded here and the error says the CA has it: only the fleet is behind."""
    path = config(tmp_path, *pebbles)
    plain = load_settings(path, {})
    connect_account(plain, Store(plain.state_dir), CLOCK)
    fleet_key = tmp_path / "fleet.key"
    fleet_key.write_text(base64.b64encode(secrets.token_bytes(32)).decode() + "\n")
    fleet_key.chmod(0o600)
    path.write_text(
        path.read_text().replace(
            "agree_tos = true\n",
            'agree_tos = true\n\n[store]\nbackend = "etcd"\n[store.etcd]\n'
            f'endpoints = ["https://[::1]:9"]\nfleet_key_file = "{fleet_key}"\ntimeout = 2\n',
        )
    )
    fleet = load_settings(path, {})
    store = Store(fleet.state_dir)
    files = store.account(fleet.server)
    with pytest.raises(FleetUnreachable) as refused:
        note_key_change(fleet, store, files, CLOCK)
    assert refused.value.exit_code == 17
    assert str(refused.value).startswith("the account key changed at the CA, but the fleet")
    assert "next certv6 run on this host" in refused.value.hint
    record = files.read_record()
    assert record is not None and record.key_changed is not None
