"""Install tables: defaults, validation, and the commands each target runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from certv6.cli.commands.install import TARGET_NAMES
from certv6.errors import ConfigError, InstallError
from certv6.install import TARGETS, commands_for, parse_install_tables, parse_verify_endpoint
from certv6.install.spec import InstallSpec
from certv6.model import Endpoint


def one(table: dict[str, Any], base: Path = Path("/etc/certv6")) -> InstallSpec:
    return parse_install_tables("www", [table], base)[0]


def test_defaults_for_nginx() -> None:
    spec = one({"target": "nginx"})
    assert spec.directory == Path("/etc/ssl/certv6/www/nginx")
    assert (spec.key_mode, spec.cert_mode, spec.uid, spec.gid) == (0o600, 0o644, -1, -1)
    assert spec.verify == () and spec.links is None


def test_a_group_makes_the_key_group_readable() -> None:
    spec = one({"target": "nginx", "owner": "root", "group": "root"})
    assert (spec.uid, spec.gid, spec.key_mode) == (0, 0, 0o640)


def test_a_single_table_is_accepted_like_a_list_of_one() -> None:
    assert parse_install_tables("www", {"target": "apache"}, Path("/"))[0].target == "apache"


def test_relative_paths_are_relative_to_the_config_file() -> None:
    spec = one({"target": "files", "fullchain": "certs/full.pem", "directory": "d"}, Path("/c"))
    assert spec.links == {"fullchain": Path("/c/certs/full.pem")}
    assert spec.directory == Path("/c/d")


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"target": "lighttpd"}, "unknown target 'lighttpd'"),
        ({"target": "nginx", "verfy": "[::1]:443"}, "unknown option 'verfy'"),
        ({"target": "nginx", "key_mode": 0o644}, "too open"),
        ({"target": "nginx", "key_mode": "0604"}, "too open"),
        ({"target": "nginx", "verify": "192.0.2.1:443"}, "IPv4"),
        ({"target": "nginx", "verify": "[::1]"}, r"must be \[IPv6\]:port or name:port: .* no port"),
        ({"target": "nginx", "owner": "no-such-user-certv6"}, "unknown user"),
        ({"target": "nginx", "group": "no-such-group-certv6"}, "unknown group"),
        ({"target": "nginx", "reload": ["nginx", 3]}, "'reload' must be a list"),
        ({"target": "nginx", "timeout": 0}, "positive number"),
        ({"target": "nginx", "keep": 1}, "'keep'"),
        ({"target": "nginx", "starttls": "pop3"}, "starttls"),
        ({"target": "files"}, "needs at least one of"),
        ({"target": "haproxy", "snippet": "/x.conf"}, "no include file"),
    ],
)
def test_mistakes_are_config_errors_naming_the_table(table: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        one(table)
    assert "[[certificate.www.install]] #1" in str(caught.value)


def test_the_unknown_option_hint_suggests_the_close_one() -> None:
    with pytest.raises(ConfigError) as caught:
        one({"target": "nginx", "verfy": "[::1]:443"})
    assert "did you mean 'verify'?" in caught.value.hint


def test_two_tables_may_not_share_a_directory() -> None:
    with pytest.raises(ConfigError, match="two install tables"):
        parse_install_tables("www", [{"target": "nginx"}, {"target": "nginx"}], Path("/"))


def test_endpoints() -> None:
    assert parse_verify_endpoint("[2001:db8::10]:443") == Endpoint("2001:db8::10", 443)
    assert parse_verify_endpoint("mail.example.org:25") == Endpoint("mail.example.org", 25)
    assert str(Endpoint("2001:db8::10", 443)) == "[2001:db8::10]:443"
    assert [str(e) for e in one({"target": "nginx", "verify": ["[::1]:1", "[::2]:2"]}).verify] == [
        "[::1]:1",
        "[::2]:2",
    ]


def test_commands_default_to_systemctl_when_systemd_runs() -> None:
    spec = one({"target": "nginx"})
    assert commands_for(spec, systemd=True).reload == ("systemctl", "reload", "nginx")
    assert commands_for(spec, systemd=False).reload == ("nginx", "-s", "reload")
    assert commands_for(spec, systemd=False).config_test == ("nginx", "-t")
    named = one({"target": "nginx", "service": "nginx-edge"})
    assert commands_for(named, systemd=True).reload == ("systemctl", "reload", "nginx-edge")


def test_configured_commands_win_and_false_turns_a_step_off() -> None:
    spec = one({"target": "nginx", "config_test": "nginx -t -c /x", "reload": False})
    commands = commands_for(spec, systemd=True)
    assert commands.config_test == "nginx -t -c /x"
    assert commands.reload is None


def test_haproxy_without_systemd_needs_a_reload_command() -> None:
    with pytest.raises(InstallError, match="no reload command") as caught:
        commands_for(one({"target": "haproxy"}), systemd=False)
    assert caught.value.step == "reload"
    assert commands_for(one({"target": "haproxy", "reload": ["kill", "-USR2", "1"]}), systemd=False)


def test_files_target_runs_nothing_unless_asked() -> None:
    spec = one({"target": "files", "cert": "/c.pem"})
    assert commands_for(spec, systemd=True) == commands_for(spec, systemd=False)
    assert commands_for(spec, systemd=True).reload is None


def test_cli_target_names_match_the_installer() -> None:
    assert tuple(TARGETS) == TARGET_NAMES
