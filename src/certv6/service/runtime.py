"""Build the pieces a use case needs from Settings: resolver and DNS provider.

Kept free of acme/josepy/cryptography imports: the hooks publish through this
path once per challenge and must start fast (the ACME account is in account.py).
"""

from __future__ import annotations

import dataclasses
import logging

from certv6.clock import Clock
from certv6.dnsquery import Dns, DnsSettings
from certv6.errors import ConfigError
from certv6.model import ProviderHints
from certv6.propagation import PropagationSettings
from certv6.providers import Provider, ProviderContext, load_provider
from certv6.settings import Settings

log = logging.getLogger("certv6")


def build_dns(settings: Settings) -> Dns:
    return Dns(DnsSettings(resolvers=settings.resolvers, allow_ipv4=settings.allow_ipv4))


def choose_provider(settings: Settings, wanted: str | None) -> str:
    """The provider named by --provider, else the only one configured."""
    if wanted:
        return wanted
    if len(settings.providers) == 1:
        return next(iter(settings.providers))
    if not settings.providers:
        raise ConfigError(
            "no DNS provider is configured",
            hint="add a [provider.rfc2136] table (or another provider) to the config",
        )
    raise ConfigError(
        f"several providers are configured ({', '.join(settings.providers)})",
        hint="pick one with --provider NAME",
    )


def build_provider(settings: Settings, name: str, dns: Dns, clock: Clock) -> Provider:
    configured = settings.providers.get(name)
    context = ProviderContext(
        name=name,
        options=configured.options if configured else {},
        dns=dns,
        state_dir=settings.state_dir,
        clock=clock,
        allow_insecure_secrets=settings.insecure_secrets,
        allow_ipv4=settings.allow_ipv4,
    )
    return load_provider(context)


def propagation_settings(settings: Settings, provider: Provider | None) -> PropagationSettings:
    """How long and how often to look: the config wins, else the provider's hints
    (the defaults without a provider: dns-persist-01 publishes nothing)."""
    hints = provider.hints() if provider is not None else ProviderHints()
    checker = PropagationSettings(
        timeout=settings.propagation_timeout or hints.propagation_timeout,
        poll_interval=settings.poll_interval or hints.poll_interval,
        policy=settings.propagation_policy,
        nat64_prefix=settings.nat64_prefix,
        discover_nat64=settings.discover_nat64,
    )
    if settings.unverified_grace is None:
        return checker
    return dataclasses.replace(checker, unverified_grace=settings.unverified_grace)
