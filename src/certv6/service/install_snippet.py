"""Use case: what ``certv6 install --print-snippet TARGET`` shows, with this config's paths."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from certv6 import install
from certv6.errors import ConfigError, StoreError
from certv6.install import InstallSpec
from certv6.service.install import install_config
from certv6.settings import Settings
from certv6.store import Store

log = logging.getLogger("certv6")


@dataclass(frozen=True, slots=True)
class SnippetHelp:
    """What ``certv6 install --print-snippet TARGET`` shows."""

    target: str
    live: Path
    snippet: Path | None
    include_line: str | None
    snippet_text: str | None
    example: str

    def to_json(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "live": str(self.live),
            "snippet": str(self.snippet) if self.snippet else None,
            "include_line": self.include_line,
            "snippet_text": self.snippet_text,
            "example": self.example,
        }


def snippet_help(
    settings: Settings, name: str, target: str, domains: Sequence[str] = ()
) -> SnippetHelp:
    """The include line and an IPv6-only server block for ``target``, with this config's paths.

    Raises:
        ConfigError: unknown target, or a bad install table.
    """
    if target not in install.TARGETS:
        raise ConfigError(
            f"unknown target {target!r}", hint=f"choose one of {', '.join(install.TARGETS)}"
        )
    configured = [s for s in install_config(settings, name).specs if s.target == target]
    base = settings.config_path.parent if settings.config_path else Path.cwd()
    spec = configured[0] if configured else _default_spec(name, target, base)
    kind = install.TARGETS[target]
    live = spec.directory / "live"
    path = install.snippet_path(spec)
    return SnippetHelp(
        target=target,
        live=live,
        snippet=path,
        include_line=kind.include_line(path) if kind.include_line and path else None,
        snippet_text=install.snippet_text(kind, live, name),
        example=kind.example(live, path, _names(settings, name, domains)),
    )


def _default_spec(name: str, target: str, base: Path) -> InstallSpec:
    # The files target needs paths; show its layout with a placeholder one.
    table: dict[str, Any] = {"target": target}
    if target == "files":
        table["fullchain"] = "/path/you/choose/fullchain.pem"
    return install.parse_install_tables(name, [table], base)[0]


def _names(settings: Settings, name: str, given: Sequence[str]) -> list[str]:
    """The stored certificate's names, else the ones given, else the name (with a warning)."""
    lineage = Store(settings.state_dir).lineages.get(name)
    try:
        domains = lineage.config().get("domains") if lineage.exists() else None
    except StoreError:
        domains = None
    if domains:
        return [str(d) for d in domains]
    if given:
        return list(given)
    log.warning(
        "certificate %r is not issued yet, so server_name shows its name: "
        "add -d NAME for each of its domains",
        name,
    )
    return [name]
