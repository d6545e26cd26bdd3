import pytest

from certv6.errors import ConfigError
from certv6.providers.rfc2136 import parse_key_file

TSIG_KEYGEN = (
    'key "certv6-key" {\n\talgorithm hmac-sha256;\n\tsecret "c2VjcmV0c2VjcmV0c2VjcmV0";\n};\n'
)


def test_reads_tsig_keygen_output() -> None:
    key = parse_key_file(TSIG_KEYGEN, "f")
    assert (key.name, key.algorithm, key.secret) == (
        "certv6-key",
        "hmac-sha256",
        "c2VjcmV0c2VjcmV0c2VjcmV0",
    )
    assert len(key.keyring()) == 1


def test_algorithm_defaults_and_override() -> None:
    text = 'key k { secret "c2VjcmV0"; };'
    assert parse_key_file(text, "f").algorithm == "hmac-sha256"
    assert parse_key_file(text, "f", "hmac-sha512").algorithm == "hmac-sha512"


@pytest.mark.parametrize(
    ("text", "override", "message"),
    [
        ("hello", None, "not a BIND key file"),
        ("key k { algorithm hmac-sha256; };", None, "no secret"),
        ('key k { algorithm hmac-foo; secret "c2VjcmV0"; };', None, "unknown TSIG algorithm"),
        ('key k { algorithm hmac-md5; secret "c2VjcmV0"; };', None, "only when asked by name"),
    ],
)
def test_bad_key_files(text: str, override: str | None, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as raised:
        parse_key_file(text, "f", override)
    assert "c2VjcmV0" not in str(raised.value)


def test_md5_when_named() -> None:
    key = parse_key_file('key k { algorithm hmac-md5; secret "c2VjcmV0"; };', "f", "hmac-md5")
    assert key.algorithm == "hmac-md5"


NEW_SECRET = "bmV3L3NlY3JldCtiYXNlNjQ="  # noqa: S105 (a test key: base64 with "/" and "+")


@pytest.mark.parametrize(
    "commented",
    [
        '// key "old" { algorithm hmac-sha512; secret "b2xkb2xk"; };\n',
        '# key "old" { algorithm hmac-sha512; secret "b2xkb2xk"; };\n',
        '/* key "old" {\n algorithm hmac-sha512;\n secret "b2xkb2xk";\n}; */\n',
    ],
)
def test_commented_out_keys_are_ignored(commented: str) -> None:
    text = commented + 'key "new" {\n\talgorithm hmac-sha256; // the current one\n'
    text += f'\tsecret "{NEW_SECRET}"; # rotated\n}};\n'
    key = parse_key_file(text, "f")
    assert (key.name, key.algorithm, key.secret) == ("new", "hmac-sha256", NEW_SECRET)


def test_comment_markers_inside_the_secret_are_kept() -> None:
    secret = "YWJj//9kZWZn"  # noqa: S105 (test key) -- base64 may hold "//": inside quotes it is not a comment
    key = parse_key_file(f'key "k" {{ secret "{secret}"; }};', "f")
    assert key.secret == secret
    quoted = parse_key_file('key "k#1" { secret "YWJj"; };', "f")  # nor "#" in a quoted name
    assert quoted.name == "k#1"


def test_only_comments_is_not_a_key_file() -> None:
    with pytest.raises(ConfigError, match="not a BIND key file"):
        parse_key_file('// key "old" { secret "b2xkb2xk"; };\n', "f")
    with pytest.raises(ConfigError, match="never closed"):
        parse_key_file('/* key "old" { secret "b2xkb2xk"; };\n', "f")
