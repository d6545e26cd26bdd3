from pathlib import Path

import pytest

from certv6.errors import ConfigError
from certv6.settings import SERVER_SHORTCUTS, load_settings, read_secret_file


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "certv6.toml"
    path.write_text(text)
    return path


def test_file_then_env_then_flags(tmp_path: Path) -> None:
    config = write(
        tmp_path,
        'email = "file@example.org"\nkey_type = "ec384"\n'
        'server = "letsencrypt-staging"\nstate_dir = "state"\n',
    )
    env = {"CERTV6_EMAIL": "env@example.org", "CERTV6_KEY_TYPE": "rsa2048"}
    settings = load_settings(config, env, {"email": "flag@example.org"})
    assert settings.email == "flag@example.org"
    assert settings.key_type == "rsa2048"
    assert settings.server == SERVER_SHORTCUTS["letsencrypt-staging"]
    assert settings.state_dir == tmp_path / "state"  # relative to the file


def test_provider_tables_and_their_environment(tmp_path: Path) -> None:
    config = write(
        tmp_path, '[provider.rfc2136]\nkey_file = "tsig.key"\nserver = "[2001:db8::1]:53"\n'
    )
    env = {
        "CERTV6_PROVIDER_RFC2136_SERVER": "[2001:db8::2]:53",
        "CERTV6_PROVIDER_ACME_DNS_SERVER": "https://auth.example",
    }
    settings = load_settings(config, env, provider_names=["rfc2136", "acme-dns", "acme"])
    assert settings.providers["rfc2136"].options["key_file"] == tmp_path / "tsig.key"
    assert settings.providers["rfc2136"].options["server"] == "[2001:db8::2]:53"
    assert settings.providers["acme-dns"].options == {"server": "https://auth.example"}
    assert "acme" not in settings.providers


def test_env_booleans_and_lists(tmp_path: Path) -> None:
    settings = load_settings(
        write(tmp_path, ""),
        {"CERTV6_AGREE_TOS": "yes", "CERTV6_RESOLVERS": "[fd00::1]:53, fd00::2"},
    )
    assert settings.agree_tos is True
    assert settings.resolvers == ("[fd00::1]:53", "fd00::2")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('servr = "x"', "did you mean 'server'"),
        ('server = "http://ca.example/dir"', "https://"),
        ("agree_tos = 3", "expected true or false"),
        ('key_type = "dsa"', "unknown key type"),
        ("propagation_timeout = -1", "positive"),
        ('propagation_policy = "lazy"', "propagation_policy"),
        ("resolvers = [1]", "list of strings"),
        ("provider = 1", "table"),
        ("email = [", "not valid TOML"),
        ('aaaa_nmaes = ["www.example.org"]', "did you mean 'aaaa_names'"),
        ('aaaa_token = "2001:db8::53"', "only the low 64 bits"),
        ("aaaa_ttl = 0", "above 0"),
        ("aaaa_min_interval = 0", "positive"),
        ("[certificate.www]\naaa = true", "did you mean 'aaaa'"),
        ('challenge = ["dns-02"]', "did you mean 'dns-01'"),
        ('[certificate.www]\nchallenges = ["dns-01"]', "did you mean 'challenge'"),
        ('issuer_domain_name = "lets encrypt"', "not a domain name"),
    ],
)
def test_mistakes_are_config_errors(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings(write(tmp_path, text), {})
    assert message in str(raised.value) + str(raised.value.hint)


def test_missing_config_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config"):
        load_settings(tmp_path / "absent.toml", {})


def test_secret_files_readable_by_others_are_refused(tmp_path: Path) -> None:
    secret = tmp_path / "key"
    secret.write_text("s3cret")
    secret.chmod(0o644)
    with pytest.raises(ConfigError) as raised:
        read_secret_file(secret, allow_insecure=False, what="TSIG key file")
    assert "chmod 600" in raised.value.hint
    assert "s3cret" not in str(raised.value)
    assert read_secret_file(secret, allow_insecure=True, what="x") == b"s3cret"
    secret.chmod(0o640)
    assert read_secret_file(secret, allow_insecure=False, what="x") == b"s3cret"


def test_the_propagation_settings_docs_propagation_md_documents(tmp_path: Path) -> None:
    # docs/propagation.md lists discover_nat64 and unverified_grace: the config takes both,
    # and they reach the checker's settings.
    from certv6.model import ProviderHints
    from certv6.service.runtime import propagation_settings

    class Hinting:
        def hints(self) -> ProviderHints:
            return ProviderHints(propagation_timeout=60.0, poll_interval=0.5)

    config = write(tmp_path, "discover_nat64 = false\nunverified_grace = 0\n")
    settings = load_settings(config, {"CERTV6_UNVERIFIED_GRACE": "12.5"})
    assert (settings.discover_nat64, settings.unverified_grace) == (False, 12.5)
    checker = propagation_settings(settings, Hinting())  # type: ignore[arg-type]
    assert (checker.discover_nat64, checker.unverified_grace) == (False, 12.5)
    default = propagation_settings(load_settings(write(tmp_path, ""), {}), Hinting())  # type: ignore[arg-type]
    assert (default.discover_nat64, default.unverified_grace) == (True, 5.0)
    with pytest.raises(ConfigError, match="unverified_grace"):
        load_settings(write(tmp_path, "unverified_grace = -1\n"), {})
