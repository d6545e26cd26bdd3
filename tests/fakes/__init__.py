"""Small stand-ins that speak real protocols on real sockets (IPv6 only), for the tests."""
