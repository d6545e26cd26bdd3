"""certv6: ACME dns-01 certificates for IPv6-only hosts."""

__version__ = "0.1.0"
