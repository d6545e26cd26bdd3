"""Configuration: TOML file, then CERTV6_* environment, then flags; loaded once, frozen.

    server = "letsencrypt"                    # a shortcut, a [ca.NAME] table or a directory URL;
                                              # a list is tried in order (docs/accounts.md)
    email = "ops@example.org"
    agree_tos = true
    state_dir = "/var/lib/certv6"
    ca_bundle = "/etc/certv6/extra-ca.pem"
    resolvers = ["[2001:db8::53]:53"]
    staging_server = "letsencrypt-staging"    # certv6 renew --dry-run (docs/renewal.md)
    deploy_hook = "systemctl reload nginx"    # also pre_hook, post_hook: certbot's
    metrics_file = "/var/lib/node_exporter/textfile/certv6.prom"  # after each renew
    aaaa_names = ["www.example.org"]          # certv6 aaaa: AAAA follows this host (docs/aaaa.md)
    challenge = ["dns-persist-01", "dns-01"]  # the first the CA offers (docs/challenges.md)
    account_key_type = "ec256"                # or ec384, rsa2048, rsa3072, rsa4096
    renew_concurrency = 8                     # certificates worked on at once (docs/renewal.md)

    [provider.rfc2136]
    key_file = "/etc/certv6/tsig.key"

    [ca.zerossl]                              # one CA's options: eab_kid, ... (cas.py)

    [certificate.www]
    deploy_hook = "systemctl reload nginx"

Relative paths in the file are relative to the file. Environment variables are
``CERTV6_<SETTING>`` (``CERTV6_STATE_DIR``) and ``CERTV6_PROVIDER_<NAME>_<OPTION>``
(``CERTV6_PROVIDER_RFC2136_KEY_FILE``). Unknown keys are refused, with the
closest known one as the hint, at the top level and in every table.

Adding a setting is one place: a field of ``Settings`` declared with
``setting(default, KIND, "what it means")`` (KIND from certv6.values). Its
``CERTV6_*`` variable, its conversion, the unknown-key check and its row in
docs/settings.md follow from that field. A command flag for it is a click
option whose parameter has the setting's name (``--state-dir`` -> state_dir);
docs/settings.md finds it there. A key of ``[certificate.NAME]`` is one row of
``CERTIFICATE_KEYS``; a key of ``[ca.NAME]`` is one of ``cas.TABLE_KEYS`` (each
but ``url`` a top-level setting too, converted by its kind). Then run
``scripts/reference`` (a test fails until the generated docs are current).
"""

from __future__ import annotations

import difflib
import logging
import stat
import tomllib
import types
from collections.abc import Iterable, Mapping
from dataclasses import Field, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from certv6 import values
from certv6.cas import TABLE_KEYS, CaSettings, resolve
from certv6.errors import ConfigError
from certv6.values import (
    CHALLENGE_TYPES,
    DNS01,
    DNS_ACCOUNT01,
    DNS_PERSIST01,
    SERVER_SHORTCUTS,
    Kind,
    challenge_list,
)

__all__ = [
    "CHALLENGE_TYPES",
    "DNS01",
    "DNS_ACCOUNT01",
    "DNS_PERSIST01",
    "SERVER_SHORTCUTS",
    "CaSettings",
    "Settings",
    "challenge_list",
    "challenges_for",
    "check_email",
    "load_settings",
    "read_secret_file",
]

DEFAULT_CONFIG = Path("/etc/certv6/certv6.toml")
KEY_TYPES = ("ec256", "ec384", "rsa2048", "rsa3072", "rsa4096")
POLICIES = ("all-reachable", "strict")
PROFILE_POLICIES = ("preferred", "required")
BACKENDS = ("file", "etcd")
_SETTING = "certv6.setting"
log = logging.getLogger("certv6")


def setting(default: Any, kind: Kind, doc: str) -> Any:
    """A field of Settings that is a setting: its default, its kind and what it means."""
    return field(default=default, metadata={_SETTING: (kind, doc)})


@dataclass(frozen=True, slots=True)
class ProviderSettings:
    name: str
    options: Mapping[str, Any] = field(default_factory=lambda: types.MappingProxyType({}))


@dataclass(frozen=True, slots=True)
class EtcdSettings:
    """``[store.etcd]``: the fleet's etcd cluster (docs/fleet.md)."""

    endpoints: tuple[str, ...] = setting(
        (), values.TEXT_LIST, "etcd client URLs, `https://[2001:db8::1]:2379` (IPv6, TLS)."
    )
    prefix: str = setting(
        "/certv6/", values.TEXT, "Key prefix of this fleet in etcd; nothing else may write there."
    )
    ca_file: Path | None = setting(
        None, values.PATH, "CA certificate(s) that signed etcd's TLS certificate."
    )
    cert_file: Path | None = setting(
        None, values.PATH, "Client certificate for etcd (with key_file; etcd's RBAC user = CN)."
    )
    key_file: Path | None = setting(None, values.PATH, "Private key of cert_file, mode 0600.")
    username: str | None = setting(None, values.TEXT, "etcd user (password authentication).")
    password_file: Path | None = setting(
        None, values.PATH, "File holding that user's password, mode 0600."
    )
    fleet_key_file: Path | None = setting(
        None, values.PATH, "32-byte fleet key (base64) sealing private keys in etcd, mode 0600."
    )
    encrypt_keys: bool = setting(
        True, values.BOOL, "Seal private keys with fleet_key_file before they go to etcd."
    )
    lease_ttl: float = setting(
        30.0, values.SECONDS, "Lifetime of a lineage lock's lease without keep-alive."
    )
    timeout: float = setting(5.0, values.SECONDS, "Longest wait for one etcd request.")


@dataclass(frozen=True, slots=True)
class StoreSettings:
    """``[store]``: where accounts, lineages, health, the ledger and locks live."""

    backend: str = setting(
        "file", values.choice(BACKENDS, "store backend"), "file: state_dir only; etcd: a fleet."
    )
    host: str | None = setting(
        None, values.TEXT, "This host's name in the fleet; default: the system's host name."
    )
    tags: tuple[str, ...] = setting(
        (), values.TEXT_LIST, "Tags of this host; `[certificate.NAME] hosts` may name them."
    )
    etcd: EtcdSettings = field(default_factory=EtcdSettings)


@dataclass(frozen=True, slots=True)
class Settings:
    # As loaded, the first CA of the list; ``at_ca`` points it (and the account
    # options below) at another. The setting itself is the list (certv6.cas).
    server: str = setting(
        SERVER_SHORTCUTS["letsencrypt"],
        values.CA_LIST,
        "The CA: a shortcut, a `[ca.NAME]` table's name or an ACME directory URL; a list is "
        "tried in order by every order (docs/accounts.md).",
    )
    # Every CA of ``server``, in the order orders try them (certv6.cas).
    cas: tuple[CaSettings, ...] = ()
    email: str | None = setting(None, values.EMAIL, "Contact address for the ACME account.")
    agree_tos: bool = setting(
        False, values.BOOL, "You agree to the CA's terms of service (needed for a new account)."
    )
    state_dir: Path = setting(
        Path("/var/lib/certv6"), values.PATH, "Where accounts, certificates and the ledger live."
    )
    ca_bundle: Path | None = setting(
        None, values.CA_BUNDLE, "Extra CA certificates to trust for the CA's TLS (private CAs)."
    )
    resolvers: tuple[str, ...] = setting(
        (),
        values.TEXT_LIST,
        "Recursive resolvers, `[addr]:port`; default: resolv.conf's IPv6 ones.",
    )
    caa_identities: tuple[str, ...] = setting(
        (), values.TEXT_LIST, "The CA's CAA domain names (RFC 8659), when its directory has none."
    )
    allow_ipv4: bool = setting(
        False, values.BOOL, "Also use IPv4 (dual-stack hosts); by default only IPv6."
    )
    key_type: str = setting(
        "ec256", values.choice(KEY_TYPES, "key type"), "Key of new certificates (fresh each time)."
    )
    propagation_timeout: float | None = setting(
        None, values.SECONDS, "Longest wait for every nameserver; default: the provider's."
    )
    poll_interval: float | None = setting(
        None, values.SECONDS, "Longest pause between propagation rounds; default: the provider's."
    )
    propagation_policy: str = setting(
        "all-reachable",
        values.choice(POLICIES, "propagation_policy"),
        "strict: a nameserver certv6 cannot reach over IPv6 (or NAT64) is a failure.",
    )
    nat64_prefix: str | None = setting(
        None, values.NAT64_PREFIX, "NAT64 prefix for IPv4-only nameservers; default: RFC 7050."
    )
    discover_nat64: bool = setting(
        True,
        values.BOOL,
        "Find the NAT64 prefix by asking the resolver for ipv4only.arpa AAAA (RFC 7050).",
    )
    unverified_grace: float | None = setting(
        None,
        values.SECONDS_OR_ZERO,
        "Extra wait for nameservers nobody could ask (docs/propagation.md); default: 5 s.",
    )
    eab_kid: str | None = setting(
        None, values.TEXT, "External account binding key id (RFC 8555 7.3.4), from the CA."
    )
    eab_hmac_key_file: Path | None = setting(
        None, values.PATH, "File holding the EAB HMAC key (base64url), mode 0600."
    )
    account_key_type: str = setting(
        "ec256",
        values.choice(KEY_TYPES, "account_key_type"),
        "Key of a new ACME account (every CA's default; `[ca.NAME]` may set its own).",
    )
    preferred_chain: str | None = setting(
        None, values.TEXT, "Pick the alternate chain whose root has this common name."
    )
    insecure_secrets: bool = setting(
        False, values.BOOL, "Accept credential files other users can read (not recommended)."
    )
    staging_server: str | None = setting(
        None, values.STAGING_URL, "The CA's staging directory for `renew --dry-run`."
    )
    pre_hook: str | None = setting(
        None, values.TEXT, "Shell command run once before `renew` renews anything (certbot's)."
    )
    post_hook: str | None = setting(
        None, values.TEXT, "Shell command run once after `renew` (RENEWED_DOMAINS, FAILED_DOMAINS)."
    )
    deploy_hook: str | None = setting(
        None, values.TEXT, "Shell command run for each renewed certificate (RENEWED_LINEAGE)."
    )
    metrics_file: Path | None = setting(
        None,
        values.PATH,
        "Prometheus textfile-collector metrics, rewritten after every `renew`.",
    )
    log_file: Path | None = setting(
        None, values.PATH, "Also log (with time and level, certv6's debug lines too) to this file."
    )
    log_max_bytes: int = setting(
        1_048_576, values.BYTES, "The log file is rotated at this size; 5 old files are kept."
    )
    # `certv6 aaaa` (docs/aaaa.md): names whose AAAA records follow this host's address.
    aaaa_names: tuple[str, ...] = setting(
        (), values.TEXT_LIST, "Names whose AAAA records `certv6 aaaa` points at this host."
    )
    aaaa_interface: str | None = setting(
        None, values.TEXT, "`certv6 aaaa`: only addresses on this interface."
    )
    aaaa_token: str | None = setting(
        None,
        values.INTERFACE_ID,
        "`certv6 aaaa`: only addresses ending in this interface identifier (like `::53`).",
    )
    aaaa_provider: str | None = setting(
        None, values.TEXT, "Provider that writes the AAAA records; default: the certificate's."
    )
    aaaa_ttl: int = setting(300, values.TTL, "TTL of the AAAA records `certv6 aaaa` writes.")
    aaaa_min_interval: float = setting(
        30.0, values.SECONDS, "`certv6 aaaa --watch`: least time between two writes (doubling)."
    )
    # Which DNS challenge to answer, in order of preference (docs/challenges.md).
    challenge: tuple[str, ...] = setting(
        (DNS01,),
        values.CHALLENGES,
        "DNS challenges to answer, in order of preference: the first the CA offers is used "
        "(docs/challenges.md); `[certificate.NAME] challenge` and `--challenge` win.",
    )
    issuer_domain_name: str | None = setting(
        None,
        values.DOMAIN_NAME,
        "dns-persist-01: the CA's issuer domain name, when its challenges name none.",
    )
    renew_concurrency: int = setting(
        8,
        values.COUNT,
        "`renew`: certificates worked on at once; waiting (DNS, the CA) holds no slot.",
    )
    store: StoreSettings = field(default_factory=StoreSettings)
    providers: Mapping[str, ProviderSettings] = field(
        default_factory=lambda: types.MappingProxyType({})
    )
    certificates: Mapping[str, Mapping[str, Any]] = field(
        default_factory=lambda: types.MappingProxyType({})
    )
    config_path: Path | None = None

    def ca_urls(self) -> tuple[str, ...]:
        """The directory URLs an order tries, in order."""
        return tuple(ca.url for ca in self.cas) or (self.server,)

    def ca(self, url: str) -> CaSettings:
        """The options of the CA at ``url``; one outside the list gets the defaults only."""
        for ca in self.cas:
            if ca.url == url:
                return ca
        return CaSettings(url, url, account_key_type=self.account_key_type)

    def at_ca(self, url: str) -> Settings:
        """These settings for talking to the CA at ``url``, with its account's options."""
        ca = self.ca(url)
        return replace(
            self,
            server=ca.url,
            eab_kid=ca.eab_kid,
            eab_hmac_key_file=ca.eab_hmac_key_file,
            account_key_type=ca.account_key_type,
            caa_identities=ca.caa_identities,
            issuer_domain_name=ca.issuer_domain_name,
        )


@dataclass(frozen=True, slots=True)
class SettingInfo:
    """One top-level setting, as docs/settings.md and the loader see it."""

    name: str
    default: Any
    kind: Kind
    doc: str

    @property
    def env(self) -> str:
        return f"CERTV6_{self.name.upper()}"


@dataclass(frozen=True, slots=True)
class TableKey:
    """One key of a ``[certificate.NAME]`` table (checked by the use case that reads it)."""

    name: str
    kind: str
    default: str
    doc: str


def _info(item: Field[Any]) -> SettingInfo:
    kind, doc = item.metadata[_SETTING]
    return SettingInfo(item.name, item.default, kind, doc)


SETTINGS = tuple(_info(item) for item in fields(Settings) if _SETTING in item.metadata)
# ``[store]`` and ``[store.etcd]``: their keys, named in the environment CERTV6_STORE_<KEY>
# and CERTV6_STORE_ETCD_<KEY>.
STORE_SETTINGS = tuple(_info(item) for item in fields(StoreSettings) if _SETTING in item.metadata)
ETCD_SETTINGS = tuple(_info(item) for item in fields(EtcdSettings) if _SETTING in item.metadata)
SETTING_NAMES = tuple(info.name for info in SETTINGS)
_BY_NAME = {info.name: info for info in SETTINGS}
CERTIFICATE_KEYS = (
    TableKey("deploy_hook", "command", "none", "Run after this certificate is installed "
             "(string for /bin/sh -c, or an argv list); certbot's variables."),
    TableKey("deploy_hook_timeout", "seconds", "600", "Longest run of that deploy_hook."),
    TableKey("profile", "string", "the stored one", "ACME profile to ask for (RFC draft "
             "acme-profiles); checked against the CA's list."),
    TableKey("profile_policy", " | ".join(PROFILE_POLICIES), "preferred",
             "required: fail when the CA does not offer the profile."),
    TableKey("challenge", "list of " + " | ".join(CHALLENGE_TYPES), "the `challenge` setting",
             "DNS challenges for this certificate, in order of preference (docs/challenges.md)."),
    TableKey("aaaa", "true | list of names", "false", "`certv6 aaaa` keeps these names' AAAA "
             "records at this host's address (true: every name but wildcards)."),
    TableKey("install", "tables", "none", "`[[certificate.NAME.install]]`: servers to install "
             "into (see the install options below)."),
    TableKey("hosts", "list of strings", "every host", "Fleet hosts (names or tags) that serve "
             "it: `certv6 sync` there installs it (docs/fleet.md)."),
)  # fmt: skip
_TABLES = {"provider", "certificate", "ca", "store"}
# CERTV6_* variables that are not settings (the hooks and the config path).
_OTHER_ENV = {"CERTV6_CONFIG", "CERTV6_BIN", "CERTV6_HOOK_PROVIDER", "CERTV6_HOOK_VERBOSE"}


def load_settings(
    config_path: Path | None,
    env: Mapping[str, str],
    flags: Mapping[str, Any] | None = None,
    provider_names: Iterable[str] = (),
) -> Settings:
    """Merge file, environment and flags (later wins) into one frozen Settings.

    ``config_path`` None means /etc/certv6/certv6.toml if it exists. ``flags``
    holds only the options the user actually gave. ``provider_names`` (the
    installed providers) lets ``[provider.NAME]`` tables and their variables be
    checked; without it they are taken as they are.

    Raises:
        ConfigError: unreadable file, bad TOML, unknown or mistyped setting.
    """
    path = config_path or (DEFAULT_CONFIG if DEFAULT_CONFIG.exists() else None)
    raw = _read_toml(path) if path else {}
    base = path.parent if path else Path.cwd()
    origin = str(path)
    known_providers = list(provider_names)
    result = _from_mapping(raw, base, origin)
    providers = _providers(raw.get("provider", {}), base, origin, known_providers)
    ca_tables = _ca_tables(raw.get("ca", {}), base, origin)
    result.update(_from_env(env))
    _merge_provider_env(providers, env, [*providers, *known_providers])
    given = {k: v for k, v in (flags or {}).items() if v is not None}
    result.update({k: _convert(k, v, Path.cwd(), "flag") for k, v in given.items()})
    entries = result.pop("server", ("letsencrypt",))
    cas = resolve(entries, ca_tables, {key: result.get(key) for key in TABLE_KEYS}, origin="server")
    settings = replace(
        Settings(),
        **result,
        server=cas[0].url,
        cas=cas,
        providers=types.MappingProxyType(providers),
        certificates=types.MappingProxyType(_certificates(raw.get("certificate", {}), origin)),
        store=_store(raw.get("store", {}), env, base, origin),
        config_path=path,
    )
    _check_eab(settings)
    return settings


def read_secret_file(path: Path, *, allow_insecure: bool, what: str) -> bytes:
    """Read a credential file, refusing one that other users can read or write.

    Raises:
        ConfigError: missing, unreadable, or readable by others (unless allowed).
    """
    try:
        info = path.stat()
        data = path.read_bytes()
    except OSError as error:
        raise ConfigError(
            f"cannot read {what} {path}: {error.strerror}", hint=f"check the path of the {what}"
        ) from error
    if info.st_mode & (stat.S_IROTH | stat.S_IWOTH) and not allow_insecure:
        raise ConfigError(
            f"{what} {path} is readable by other users (mode {stat.S_IMODE(info.st_mode):o})",
            hint=f"chmod 600 {path}, or set insecure_secrets = true if you must",
        )
    return data


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except OSError as error:
        raise ConfigError(
            f"cannot read config {path}: {error.strerror}", hint="check --config / CERTV6_CONFIG"
        ) from error
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"config {path} is not valid TOML: {error}") from error


def _from_mapping(raw: Mapping[str, Any], base: Path, origin: str) -> dict[str, Any]:
    found = {}
    for key, value in raw.items():
        if key in _TABLES:
            continue
        refuse_unknown(key, SETTING_NAMES, f"unknown setting {key!r} in {origin}")
        found[key] = _convert(key, value, base, origin)
    return found


def _from_env(env: Mapping[str, str]) -> dict[str, Any]:
    found = {info.name: _convert(info.name, env[info.env], Path.cwd(), info.env)
             for info in SETTINGS if info.env in env}  # fmt: skip
    # Other programs set CERTV6_* variables too (the hooks' CERTV6_BIN), so an
    # unknown one is only warned about, and only when it looks like a typo.
    names = [info.env for info in SETTINGS]
    names += [f"CERTV6_STORE_{info.name.upper()}" for info in STORE_SETTINGS]
    names += [f"CERTV6_STORE_ETCD_{info.name.upper()}" for info in ETCD_SETTINGS]
    for key in env:
        if key.startswith("CERTV6_") and key not in names and key not in _OTHER_ENV:
            close = difflib.get_close_matches(key, names, n=1, cutoff=0.85)
            if close:
                log.warning("ignoring %s: did you mean %s?", key, close[0])
    return found


def _convert(key: str, value: Any, base: Path, origin: str) -> Any:
    try:
        return _BY_NAME[key].kind(value, base)
    except (TypeError, ValueError) as error:
        raise ConfigError(f"{origin}: setting {key!r}: {error}") from None


def _providers(raw: Any, base: Path, origin: str, known: list[str]) -> dict[str, ProviderSettings]:
    if not isinstance(raw, dict):
        raise ConfigError(f"{origin}: [provider] must be a table of tables")
    providers = {}
    for name, options in raw.items():
        if known:
            refuse_unknown(name, known, f"{origin}: unknown provider {name!r} ([provider.{name}])")
        if not isinstance(options, dict):
            raise ConfigError(f"{origin}: [provider.{name}] must be a table")
        resolved = {}
        for key, value in options.items():
            try:
                resolved[key] = values.path(value, base) if key.endswith("_file") else value
            except TypeError as error:
                raise ConfigError(f"{origin}: [provider.{name}] {key}: {error}") from None
        providers[name] = ProviderSettings(name, types.MappingProxyType(resolved))
    return providers


def _merge_provider_env(
    providers: dict[str, ProviderSettings], env: Mapping[str, str], names: list[str]
) -> None:
    # Longest names first so CERTV6_PROVIDER_ACME_DNS_SERVER means acme-dns, not acme.
    claimed: set[str] = set()
    for name in sorted(set(names), key=len, reverse=True):
        prefix = f"CERTV6_PROVIDER_{name.upper().replace('-', '_')}_"
        mine = [k for k in env if k.startswith(prefix) and k not in claimed]
        claimed.update(mine)
        found = {k[len(prefix) :].lower(): env[k] for k in mine}
        if not found:
            continue
        options = dict(providers[name].options) if name in providers else {}
        for key, value in found.items():
            options[key] = values.path(value, Path.cwd()) if key.endswith("_file") else value
        providers[name] = ProviderSettings(name, types.MappingProxyType(options))


def _ca_tables(raw: Any, base: Path, origin: str) -> dict[str, dict[str, Any]]:
    """The ``[ca.NAME]`` tables, each value converted like the top-level setting it mirrors."""
    if not isinstance(raw, dict) or not all(isinstance(v, dict) for v in raw.values()):
        raise ConfigError(f"{origin}: [ca.NAME] must be tables")
    tables = {}
    for name, table in raw.items():
        where = f"{origin}: [ca.{name}]"
        converted: dict[str, Any] = {}
        for key, value in table.items():
            refuse_unknown(key, TABLE_KEYS, f"unknown setting {key!r} in {where}")
            converted[key] = _table_value(name, key, value, base, where)
        tables[name] = converted
    return tables


def _table_value(name: str, key: str, value: Any, base: Path, where: str) -> Any:
    try:
        if key == "url":
            return values.text(value)
        return _convert(key, value, base, where)
    except TypeError as error:
        raise ConfigError(f"{where}: {key}: {error}") from None
    except ConfigError as error:
        if error.message.startswith(where):
            raise
        # A kind's own message ("unknown account_key_type 'dsa'") names no table.
        raise ConfigError(f"{error.message} for {name}", hint=error.hint) from None


def _certificates(raw: Any, origin: str) -> dict[str, Mapping[str, Any]]:
    if not isinstance(raw, dict) or not all(isinstance(v, dict) for v in raw.values()):
        raise ConfigError(f"{origin}: [certificate.NAME] must be tables")
    keys = [key.name for key in CERTIFICATE_KEYS]
    for name, table in raw.items():
        for key in table:
            refuse_unknown(key, keys, f"{origin}: unknown key {key!r} in [certificate.{name}]")
    return {name: types.MappingProxyType(dict(table)) for name, table in raw.items()}


def challenges_for(
    settings: Settings,
    name: str | None,
    given: tuple[str, ...] = (),
    *,
    stored: tuple[str, ...] = (),
) -> tuple[str, ...]:
    """The challenge types for certificate ``name``: --challenge (``given``), else its
    ``[certificate.NAME] challenge``, else what it was issued with (``stored``, for
    renewals), else the global ``challenge`` setting.

    Raises:
        ConfigError: the table's value is not a list of known challenge types.
    """
    if given:
        return given
    table = settings.certificates.get(name or "", {})
    if "challenge" not in table:
        return stored or settings.challenge
    try:
        return challenge_list(table["challenge"])
    except (TypeError, ValueError) as error:
        raise ConfigError(f"[certificate.{name}] challenge: {error}") from None


def _store(raw: Any, env: Mapping[str, str], base: Path, origin: str) -> StoreSettings:
    """``[store]`` and ``[store.etcd]`` from the file, then CERTV6_STORE_* variables."""
    if not isinstance(raw, dict) or not isinstance(raw.get("etcd", {}), dict):
        raise ConfigError(f"{origin}: [store] and [store.etcd] must be tables")
    found = _table(raw, STORE_SETTINGS, base, f"{origin}: [store]", skip="etcd")
    found.update(_table_env(env, STORE_SETTINGS, "CERTV6_STORE_"))
    etcd = _table(raw.get("etcd", {}), ETCD_SETTINGS, base, f"{origin}: [store.etcd]")
    etcd.update(_table_env(env, ETCD_SETTINGS, "CERTV6_STORE_ETCD_"))
    return StoreSettings(**found, etcd=EtcdSettings(**etcd))


def _table(
    raw: Mapping[str, Any], known: tuple[SettingInfo, ...], base: Path, where: str, skip: str = ""
) -> dict[str, Any]:
    by_name = {info.name: info for info in known}
    found = {}
    for key, value in raw.items():
        if key == skip:
            continue
        refuse_unknown(key, [*by_name, *([skip] if skip else [])], f"{where}: unknown key {key!r}")
        try:
            found[key] = by_name[key].kind(value, base)
        except (TypeError, ValueError) as error:
            raise ConfigError(f"{where}: {key!r}: {error}") from None
    return found


def _table_env(
    env: Mapping[str, str], known: tuple[SettingInfo, ...], prefix: str
) -> dict[str, Any]:
    found = {}
    for info in known:
        name = prefix + info.name.upper()
        if name in env:
            try:
                found[info.name] = info.kind(env[name], Path.cwd())
            except (TypeError, ValueError) as error:
                raise ConfigError(f"{name}: {error}") from None
    return found


def _check_eab(settings: Settings) -> None:
    # The pairs themselves are checked per CA (certv6.cas); the file's content where
    # an account needs it (service/account.py), so `list` never reads a secret.
    for ca in settings.cas:
        path = ca.eab_hmac_key_file
        if path is not None and not path.is_file():
            what = "missing" if not path.exists() else "not a regular file"
            raise ConfigError(
                f"cannot read EAB HMAC key file {path}: {what}",
                hint="check eab_hmac_key_file (the HMAC key from your CA's account page)",
            )


def check_email(email: str | None) -> None:
    """Raises ConfigError for a contact address that is not one."""
    if email is not None:
        values.email(email)


def refuse_unknown(key: str, known: Iterable[str], message: str) -> None:
    """Raise ConfigError(message) unless ``key`` is known; the hint is the closest known key.

    ``deploy-hook`` and ``deployHook`` are matched to ``deploy_hook`` too.
    """
    known = list(known)
    if key in known:
        return
    spelled = key.replace("-", "_").lower()
    close = [spelled] if spelled in known else difflib.get_close_matches(key, known, n=1)
    hint = f"did you mean {close[0]!r}?" if close else f"known: {', '.join(known)}"
    raise ConfigError(message, hint=hint)
