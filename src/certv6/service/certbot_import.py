"""Use case: take over certbot's lineages (``certv6 import certbot``).

For each ``<config-dir>/renewal/NAME.conf`` certbot keeps: the current
certificate and key become version 0001 of certv6 lineage NAME (names from
the certificate, key type from the key, the CA from ``server``); a
``dns-rfc2136`` credentials file becomes a TSIG key file (BIND format, 0600)
and ``[provider.rfc2136]``; ``renew_hook`` (certbot's ``--deploy-hook``) and
the ``renewal-hooks/`` directories become certv6 hooks. certbot's files are
only read. Whatever has no certv6 equivalent is reported, never guessed.

The config file keeps the user's text: tables are appended, top-level keys are
put before the first table; a key the file already sets is left alone. The
result is loaded like any config before it replaces the old file, atomically.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from certv6 import fsatomic, keys
from certv6.clock import SYSTEM_CLOCK, Clock
from certv6.errors import CertV6Error, ConfigError
from certv6.service.certbot_files import read_ini, read_renewal_conf, toml_string, write_config
from certv6.settings import Settings
from certv6.store import Store
from certv6.store.lineage import check_lineage_name

log = logging.getLogger("certv6")


@dataclass(frozen=True, slots=True)
class Unmapped:
    lineage: str  # "" for what concerns all of certbot
    item: str
    why: str


@dataclass
class ImportResult:
    config: Path
    imported: list[dict[str, Any]] = field(default_factory=list)
    unmapped: list[Unmapped] = field(default_factory=list)
    root_keys: dict[str, Any] = field(default_factory=dict)
    tables: list[str] = field(default_factory=list)
    # Store writes, done only once the new config has loaded.
    pending: list[Callable[[], None]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "config": str(self.config),
            "imported": self.imported,
            "not_mapped": [
                {"lineage": u.lineage or None, "item": u.item, "why": u.why} for u in self.unmapped
            ],
        }


def import_certbot(
    settings: Settings,
    config_dir: Path,
    config_path: Path,
    reload: Callable[[], Settings],
    *,
    clock: Clock = SYSTEM_CLOCK,
) -> ImportResult:
    """Import every lineage under ``config_dir``; ``reload`` loads the new config to check it.

    Raises:
        ConfigError: no certbot configuration there, or the resulting config is invalid.
    """
    renewal = sorted((config_dir / "renewal").glob("*.conf"))
    if not renewal:
        raise ConfigError(
            f"no certbot renewal configuration in {config_dir / 'renewal'}",
            hint="pass --config-dir (certbot's, default /etc/letsencrypt)",
        )
    text = config_path.read_text() if config_path.exists() else ""
    result = ImportResult(config_path)
    store = Store(settings.state_dir)
    for path in renewal:
        try:
            _import_lineage(path, settings, store, text, result, clock=clock)
        except CertV6Error as error:
            result.unmapped.append(Unmapped(path.stem, "lineage", f"not imported: {error}"))
    _directory_hooks(config_dir, text, result)
    if result.root_keys or result.tables:
        write_config(config_path, text, result.root_keys, result.tables, reload)
    for write in result.pending:
        write()
    return result


def _import_lineage(
    path: Path,
    settings: Settings,
    store: Store,
    config_text: str,
    result: ImportResult,
    *,
    clock: Clock,
) -> None:
    name = check_lineage_name(path.stem)
    conf = read_renewal_conf(path)
    params = conf.get("renewalparams", {})
    if store.lineages.get(name).exists():
        raise ConfigError(f"certv6 already has a certificate {name!r}")
    if f"[certificate.{name}]" in config_text:
        raise ConfigError(f"the config already has [certificate.{name}]")
    files = {
        target: Path(conf[source]).read_bytes()
        for target, source in (("cert.pem", "cert"), ("chain.pem", "chain"),
                               ("fullchain.pem", "fullchain"), ("privkey.pem", "privkey"))
    }  # fmt: skip
    key = keys.load_private_key(files["privkey.pem"], conf["privkey"])
    if not keys.key_matches_certificate(key, files["cert.pem"]):
        raise ConfigError(f"{conf['privkey']} does not belong to {conf['cert']}")
    info = keys.certificate_info(files["cert.pem"])
    key_type = _key_type(key, name, result)
    provider = _provider(name, params, settings, config_text, result)
    server = params.get("server", settings.server)
    lineage = store.lineages.get(name)
    config = {"domains": list(info.names), "key_type": key_type, "provider": provider,
              "server": server, "profile": None}  # fmt: skip

    def write() -> None:
        store.ensure()
        # The write-ahead switch of any new version; its installs are owed like any
        # other's, so the next renew deploys certv6's copy where the config says.
        lineage.add_version(files, _meta(info, conf), config, now=clock.now())

    result.pending.append(write)
    hook = params.get("renew_hook") or params.get("deploy_hook")
    table = f"[certificate.{name}]\n" + (f"deploy_hook = {toml_string(hook)}\n" if hook else "")
    result.tables.append(table)
    for item in ("pre_hook", "post_hook"):
        if params.get(item):
            _root_key(item, params[item], config_text, result, name)
    _note_rest(name, params, result)
    result.imported.append(
        {"name": name, "domains": list(info.names), "key_type": key_type, "provider": provider,
         "server": server, "deploy_hook": hook or None, "path": str(lineage.current_link),
         "not_after": info.not_after.isoformat()}
    )  # fmt: skip
    log.info("import: %s (%s) from %s", name, ", ".join(info.names), path)


def _meta(info: keys.CertificateInfo, conf: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "domains": list(info.names),
        "not_before": info.not_before.isoformat(),
        "not_after": info.not_after.isoformat(),
        "serial": f"{info.serial:x}",
        "sha256": info.sha256,
        # Issued to certbot's account: renewal must not claim to replace it (RFC 9773 5).
        "imported_from": "certbot",
        "certbot_archive": conf.get("archive_dir"),
    }


def _key_type(key: keys.PrivateKey, name: str, result: ImportResult) -> str:
    found = keys.key_type_of(key)
    if found is None:
        result.unmapped.append(
            Unmapped(name, "key type", "certv6 has no such key type; renewals use ec384")
        )
    return found or "ec384"


def _provider(
    name: str, params: Mapping[str, Any], settings: Settings, config_text: str, result: ImportResult
) -> str | None:
    authenticator = params.get("authenticator", "")
    if authenticator != "dns-rfc2136":
        result.unmapped.append(Unmapped(
            name, f"authenticator {authenticator or '(none)'}",
            "certv6 does dns-01 through its providers only: choose one (docs/providers.md) "
            "and set it in lineage.json's provider, or renew with certv6 issue --provider",
        ))  # fmt: skip
        return None
    credentials = Path(params.get("dns_rfc2136_credentials", ""))
    values = read_ini(credentials)
    table = _rfc2136_table(name, values, params, settings, result)
    if "[provider.rfc2136]" in config_text:
        result.unmapped.append(Unmapped(
            name, f"credentials {credentials}",
            "the config already has [provider.rfc2136]; it is kept and used",
        ))  # fmt: skip
    elif not any(t.startswith("[provider.rfc2136]") for t in result.tables):
        result.tables.append(table)
    return "rfc2136"


def _rfc2136_table(
    name: str,
    values: Mapping[str, str],
    params: Mapping[str, Any],
    settings: Settings,
    result: ImportResult,
) -> str:
    key_name = values.get("dns_rfc2136_name", "").rstrip(".")
    secret = values.get("dns_rfc2136_secret", "")
    if not key_name or not secret:
        raise ConfigError("the credentials file has no dns_rfc2136_name / dns_rfc2136_secret")
    algorithm = values.get("dns_rfc2136_algorithm", "HMAC-MD5").lower()  # the plugin's default
    key_file = settings.state_dir / "keys" / f"certbot-{key_name}.key"
    text = f'key "{key_name}" {{\n\talgorithm {algorithm};\n\tsecret "{secret}";\n}};\n'

    def write() -> None:
        Store(settings.state_dir).ensure()
        key_file.parent.mkdir(mode=0o700, exist_ok=True)
        fsatomic.write(key_file, text.encode(), mode=0o600)

    result.pending.append(write)
    lines = ["[provider.rfc2136]", f"key_file = {toml_string(str(key_file))}"]
    server, port = values.get("dns_rfc2136_server", ""), values.get("dns_rfc2136_port", "53")
    try:
        address = ipaddress.ip_address(server)
    except ValueError:
        address = None
    if address is not None and address.version == 4:
        result.unmapped.append(Unmapped(
            name, f"dns_rfc2136_server {server}",
            "an IPv4 address: certv6 sends the UPDATE over IPv6 to the zone's primary "
            "(its SOA MNAME); set server = \"[addr]:53\" under [provider.rfc2136] if that is wrong",
        ))  # fmt: skip
    elif server:
        lines.append(
            f"server = {toml_string(f'[{server}]:{port}' if address else f'{server}:{port}')}"
        )
    seconds = params.get("dns_rfc2136_propagation_seconds")
    if seconds and seconds.isdigit() and int(seconds) > 120:
        # certbot slept this long; certv6 watches every nameserver, and waits at least as long.
        lines.append(f"propagation_timeout = {int(seconds)}")
    elif seconds:
        result.unmapped.append(Unmapped(
            name, f"dns_rfc2136_propagation_seconds {seconds}",
            "certv6 does not sleep: it asks every authoritative nameserver until each serves "
            "the value (up to 120 s by default)",
        ))  # fmt: skip
    return "\n".join(lines) + "\n"


def _note_rest(name: str, params: Mapping[str, Any], result: ImportResult) -> None:
    for item, why in (
        ("preferred_chain", "set preferred_chain in the config (one for all certificates)"),
        ("must_staple", "certv6 does not request OCSP Must-Staple"),
        ("manual_auth_hook", "a manual hook: choose a certv6 provider instead"),
        ("account", "certv6 uses its own ACME account (a new one at the first renewal)"),
    ):
        if params.get(item):
            result.unmapped.append(Unmapped(name, f"{item} = {params[item]}", why))


def _directory_hooks(config_dir: Path, config_text: str, result: ImportResult) -> None:
    for stage in ("pre", "deploy", "post"):
        directory = config_dir / "renewal-hooks" / stage
        scripts = (
            sorted(p for p in directory.glob("*") if p.is_file()) if directory.is_dir() else []
        )
        if scripts:
            # run-parts runs them in the same (C locale) order certbot does.
            _root_key(f"{stage}_hook", f"run-parts {directory}", config_text, result, "")


def _root_key(key: str, value: str, config_text: str, result: ImportResult, name: str) -> None:
    present = any(line.split("=")[0].strip() == key for line in config_text.splitlines())
    if present or (key in result.root_keys and result.root_keys[key] != value):
        result.unmapped.append(
            Unmapped(name, f"{key} = {value}", f"the config already sets {key}; kept as it is")
        )
    else:
        result.root_keys[key] = value
