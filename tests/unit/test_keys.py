import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from certv6 import keys
from certv6.errors import ConfigError, StoreError


@pytest.mark.parametrize(
    ("key_type", "kind", "size"),
    [
        ("ec256", ec.EllipticCurvePrivateKey, 256),
        ("ec384", ec.EllipticCurvePrivateKey, 384),
        ("rsa2048", rsa.RSAPrivateKey, 2048),
        ("rsa3072", rsa.RSAPrivateKey, 3072),
    ],
)
def test_key_types(key_type: str, kind: type, size: int) -> None:
    key = keys.generate_key(key_type)
    assert isinstance(key, kind) and key.key_size == size
    assert (
        keys.load_private_key(keys.key_to_pem(key), "x").private_numbers() == key.private_numbers()
    )


def test_unknown_key_type() -> None:
    with pytest.raises(ConfigError, match="unknown key type"):
        keys.generate_key("dsa1024")


def test_csr_carries_every_name_as_san() -> None:
    key = keys.generate_key()
    names = ["example.org", "*.example.org", "xn--bcher-kva.example"]
    csr = x509.load_pem_x509_csr(keys.make_csr(key, names))
    san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == names
    assert csr.is_signature_valid


def test_garbage_keys_are_store_errors() -> None:
    with pytest.raises(StoreError):
        keys.load_private_key(
            b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "k"
        )


@pytest.mark.parametrize("key_type", ["ec256", "ec384", "rsa2048", "rsa3072"])
def test_account_keys_of_every_supported_type_load(key_type: str) -> None:
    pem = keys.key_to_pem(keys.generate_key(key_type))
    assert keys.key_type_of(keys.load_account_key(pem, "account")) == key_type


def test_account_keys_acme_cannot_sign_with_are_refused() -> None:
    p521 = ec.generate_private_key(ec.SECP521R1())
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 (refused)
    for key in (p521, small):
        with pytest.raises(StoreError, match="P-256, EC P-384 or RSA of 2048 bits"):
            keys.load_account_key(keys.key_to_pem(key), "account")


def test_split_chain_keeps_order() -> None:
    blocks = [
        f"-----BEGIN CERTIFICATE-----\n{c}\n-----END CERTIFICATE-----\n".encode() for c in "ABC"
    ]
    assert keys.split_chain(b"".join(blocks)) == blocks
    assert keys.split_chain(b"no pem here") == []
