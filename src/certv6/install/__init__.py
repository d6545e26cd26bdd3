"""Put a certificate where a server reads it, reload the server, prove it is served over IPv6.

This package knows servers and files, not the store: the application layer
(``certv6.service.install``) reads a lineage and hands in its bytes as
``Material``. See docs/install.md for the user's side.
"""

from certv6.install.commands import commands_for, display, run_command
from certv6.install.deploy import Checkpoint, Deployment
from certv6.install.material import Material
from certv6.install.spec import InstallSpec, parse_install_tables, parse_verify_endpoint
from certv6.install.targets import LINKABLE, TARGETS, VERSION_FILES, Command, snippet_text
from certv6.install.transaction import TargetReport, install_target, sni_for, snippet_path
from certv6.install.verify import (
    Verified,
    fingerprint,
    served_leaf,
    wait_until_served,
)

__all__ = [
    "LINKABLE",
    "TARGETS",
    "VERSION_FILES",
    "Checkpoint",
    "Command",
    "Deployment",
    "InstallSpec",
    "Material",
    "TargetReport",
    "Verified",
    "commands_for",
    "display",
    "fingerprint",
    "install_target",
    "parse_install_tables",
    "parse_verify_endpoint",
    "run_command",
    "served_leaf",
    "sni_for",
    "snippet_path",
    "snippet_text",
    "wait_until_served",
]
