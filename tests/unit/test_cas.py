"""``server`` as one CA or a list, ``[ca.NAME]`` tables, and each CA's account options."""

from __future__ import annotations

from pathlib import Path

import pytest

from certv6.errors import ConfigError
from certv6.settings import Settings, load_settings
from certv6.values import SERVER_SHORTCUTS

LE = SERVER_SHORTCUTS["letsencrypt"]
ZEROSSL = SERVER_SHORTCUTS["zerossl"]


def load(tmp_path: Path, text: str, env: dict[str, str] | None = None, **flags: object) -> Settings:
    config = tmp_path / "certv6.toml"
    config.write_text(f'state_dir = "{tmp_path / "state"}"\n' + text)
    return load_settings(config, env or {}, flags)


def test_one_ca_is_a_list_of_one(tmp_path: Path) -> None:
    settings = load(tmp_path, 'server = "letsencrypt"\n')
    assert settings.server == LE and settings.ca_urls() == (LE,)
    assert settings.cas[0].name == "letsencrypt" and settings.cas[0].account_key_type == "ec256"


def test_a_list_keeps_its_order_and_each_ca_its_table(tmp_path: Path) -> None:
    hmac = tmp_path / "zerossl.hmac"
    hmac.write_text("c2VjcmV0")
    settings = load(
        tmp_path,
        'server = ["letsencrypt", "zerossl", "mine"]\n'
        'account_key_type = "rsa2048"\n'
        "[ca.zerossl]\n"
        'eab_kid = "kid-1"\n'
        'eab_hmac_key_file = "zerossl.hmac"\n'
        'account_key_type = "ec384"\n'
        "[ca.mine]\n"
        'url = "https://ca.example.net/dir"\n'
        'caa_identities = ["example.net"]\n',
    )
    assert settings.ca_urls() == (LE, ZEROSSL, "https://ca.example.net/dir")
    assert settings.server == LE
    zerossl = settings.at_ca(ZEROSSL)
    assert zerossl.server == ZEROSSL and zerossl.eab_kid == "kid-1"
    assert zerossl.eab_hmac_key_file == hmac.absolute()  # relative to the config file
    assert zerossl.account_key_type == "ec384"
    letsencrypt = settings.at_ca(LE)
    assert letsencrypt.eab_kid is None and letsencrypt.account_key_type == "rsa2048"
    assert settings.at_ca("https://ca.example.net/dir").caa_identities == ("example.net",)
    assert zerossl.ca_urls() == settings.ca_urls()  # the list stays whole


def test_a_url_in_the_list_takes_the_options_of_the_table_with_that_url(tmp_path: Path) -> None:
    settings = load(
        tmp_path,
        'server = ["https://ca.example.net/dir"]\n'
        "[ca.mine]\n"
        'url = "https://ca.example.net/dir"\n'
        'account_key_type = "ec384"\n',
    )
    assert settings.cas[0].account_key_type == "ec384"


def test_top_level_eab_belongs_to_the_single_ca_and_wins_over_its_table(tmp_path: Path) -> None:
    (tmp_path / "a.hmac").write_text("x")
    (tmp_path / "b.hmac").write_text("x")
    settings = load(
        tmp_path,
        'server = "zerossl"\neab_kid = "flag-kid"\neab_hmac_key_file = "a.hmac"\n'
        '[ca.zerossl]\neab_kid = "table-kid"\neab_hmac_key_file = "b.hmac"\n',
    )
    assert settings.at_ca(ZEROSSL).eab_kid == "flag-kid"
    # A flag naming one CA (certv6 account register --server ...) lifts the list.
    listed = load(
        tmp_path,
        'server = ["letsencrypt", "zerossl"]\n',
        server="zerossl",
        eab_kid="k",
        eab_hmac_key_file=str(tmp_path / "a.hmac"),
    )
    assert listed.ca_urls() == (ZEROSSL,) and listed.at_ca(ZEROSSL).eab_kid == "k"


def test_the_environment_lists_cas_separated_by_commas(tmp_path: Path) -> None:
    settings = load(tmp_path, "", {"CERTV6_SERVER": "letsencrypt, zerossl"})
    assert settings.ca_urls() == (LE, ZEROSSL)


def test_a_ca_outside_the_list_gets_the_defaults_only(tmp_path: Path) -> None:
    settings = load(tmp_path, 'server = ["letsencrypt"]\naccount_key_type = "ec384"\n')
    other = settings.at_ca("https://old.example.net/dir")
    assert other.server == "https://old.example.net/dir" and other.eab_kid is None
    assert other.account_key_type == "ec384"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('server = "zerosssl"\n', "'zerosssl' is not a known CA"),
        ('server = ["letsencrypt", "https://acme-v02.api.letsencrypt.org/directory"]\n', "twice"),
        ("server = []\n", "lists no CA"),
        ('server = ["mine"]\n[ca.mine]\naccount_key_type = "ec384"\n', "has no url"),
        ('server = ["letsencrypt", "zerossl"]\neab_kid = "k"\n', "belongs to one CA"),
        ('server = ["zerossl"]\n[ca.zerossl]\neab_kid = "k"\n', "eab_hmac_key_file is not"),
        ('[ca.zerossl]\nurl = "https://x.example/dir"\nbogus = 1\n', "unknown setting 'bogus'"),
        ('account_key_type = "ec521"\n', "unknown account_key_type 'ec521'"),
    ],
)
def test_bad_ca_settings_are_config_errors(tmp_path: Path, text: str, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment.replace("(", r"\(")):
        load(tmp_path, text)


def test_a_missing_hmac_key_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"cannot read EAB HMAC key file .*missing"):
        load(tmp_path, 'server = "zerossl"\neab_kid = "k"\neab_hmac_key_file = "nope.hmac"\n')
