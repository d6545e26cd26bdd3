"""``certv6 hook ...``: the commands the scripts in hooks/ hand each ACME client's calls to.

    certbot-auth / certbot-cleanup   certbot --manual-auth-hook / --manual-cleanup-hook
    lego ACTION ...                  lego's exec provider (EXEC_PATH), plain or EXEC_MODE=RAW
    dehydrated HANDLER ...           dehydrated's HOOK, with or without HOOK_CHAIN=yes
    uacme METHOD TYPE IDENT TOKEN AUTH   uacme -h

Start-up time matters: certbot starts the auth hook once per challenge. So this
module imports click, the settings and the hook journal only; the use cases
(dnspython, providers, propagation) are imported when a call publishes or
removes something. An early certbot call only records its value and returns.

Exit codes are certv6's (README, "Exit codes"); uacme's begin for a challenge
type other than dns-01 exits 1, which uacme reads as "declined".
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import click

from certv6 import hookrun, syntax
from certv6.cli.app import Group, Options, cli, open_log_file
from certv6.cli.logs import set_stderr_level
from certv6.errors import ConfigError
from certv6.hookrun import Pair
from certv6.settings import Settings, load_settings

if TYPE_CHECKING:
    from certv6.service.client_hook import Published

log = logging.getLogger("certv6")

_NAME = re.compile(r"[A-Za-z0-9_.*-]{1,253}")
# The startup probe dehydrated sends (and every other handler we ignore) must not
# print anything: dehydrated reads generate_csr's stdout as a CSR.
DEHYDRATED_DEPLOY, DEHYDRATED_CLEAN = "deploy_challenge", "clean_challenge"


@dataclass(frozen=True, slots=True)
class HookOptions:
    options: Options
    provider: str | None

    def settings(self, *, providers: bool) -> Settings:
        """Settings; ``providers`` also merges CERTV6_PROVIDER_* of installed providers."""
        names: Sequence[str] = ()
        if providers:
            from certv6.providers import available

            names = tuple(available())
        settings = load_settings(self.options.config, os.environ, {}, provider_names=names)
        if settings.log_file is not None:
            open_log_file(settings.log_file, settings.log_max_bytes)
        return settings


pass_hook = click.make_pass_decorator(HookOptions)


class PassThrough(click.Command):
    """A hook command that hands its client's arguments through unparsed.

    A challenge token or value may begin with "-" (base64url), so only the
    exact words ``-h`` and ``--help`` ask for help, and no global option is
    accepted after the subcommand.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["context_settings"] = {"ignore_unknown_options": True, "help_option_names": []}
        super().__init__(*args, **kwargs)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        before = args[: args.index("--")] if "--" in args else args
        if "-h" in before or "--help" in before:
            click.echo(self.get_help(ctx))
            ctx.exit(0)
        return super().parse_args(ctx, args)


@click.group(name="hook", cls=Group)
@click.option(
    "--provider",
    "-p",
    envvar="CERTV6_HOOK_PROVIDER",
    show_envvar=True,
    help="DNS provider (default: the only one configured).",
)
@click.option(
    "--verbose",
    "-v",
    is_flag=True,
    envvar="CERTV6_HOOK_VERBOSE",
    show_envvar=True,
    help="Also log what was published and the propagation summary (stderr).",
)
@click.pass_context
def hook_group(context: click.Context, provider: str | None, verbose: bool) -> None:
    """dns-01 hooks for certbot, lego, dehydrated and uacme (see docs/hooks.md)."""
    options = context.find_object(Options) or Options(None, False, False)
    # Quiet by default: certbot reports any stderr output of a hook as an error.
    if not verbose and not options.verbosity:
        set_stderr_level(logging.WARNING)
    context.obj = HookOptions(options, provider)


@hook_group.command("certbot-auth")
@pass_hook
def certbot_auth(hook: HookOptions) -> None:
    """certbot --manual-auth-hook: record the value; at the last one publish all and wait."""
    pair = _certbot_pair(os.environ)
    remaining = _remaining(os.environ.get("CERTBOT_REMAINING_CHALLENGES", ""))
    if remaining:
        # certbot answers the challenges only after the last call: publish then, in one batch.
        # Checked now all the same (cheaply), so a bad value fails at its own call.
        _light_check(*pair)
        _check_provider_name(hook.provider)
        settings = hook.settings(providers=False)
        owner = hookrun.find_owner(os.environ)
        hookrun.RunJournal(settings.state_dir, owner).plan([pair])
        return
    published = _publish(hook, [pair])
    _warn_missing(published, os.environ.get("CERTBOT_ALL_DOMAINS", ""))


@hook_group.command("certbot-cleanup")
@pass_hook
def certbot_cleanup(hook: HookOptions) -> None:
    """certbot --manual-cleanup-hook: remove exactly this challenge's value."""
    _remove(hook, [_certbot_pair(os.environ)])


@hook_group.command("lego", cls=PassThrough)
@click.argument("action", type=click.Choice(["present", "cleanup"]))
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@pass_hook
def lego(hook: HookOptions, action: str, args: tuple[str, ...]) -> None:
    """lego exec provider: present|cleanup FQDN VALUE, or (RAW) DOMAIN TOKEN KEY_AUTH.

    present returns once the value is visible on every authoritative nameserver.
    """
    pair = lego_pair(args[1:] if args[:1] == ("--",) else args)
    if action == "present":
        _publish(hook, [pair])
    else:
        _remove(hook, [pair])


@hook_group.command("dehydrated", cls=PassThrough)
@click.argument("handler")
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@pass_hook
def dehydrated(hook: HookOptions, handler: str, args: tuple[str, ...]) -> None:
    """dehydrated HOOK: deploy_challenge / clean_challenge (DOMAIN TOKEN VALUE, repeated
    with HOOK_CHAIN=yes); every other handler is ignored, as dehydrated requires."""
    if handler not in (DEHYDRATED_DEPLOY, DEHYDRATED_CLEAN):
        return
    if not args or len(args) % 3:
        raise click.UsageError(f"{handler} takes DOMAIN TOKEN VALUE, repeated")
    pairs = [_pair(args[i], args[i + 2]) for i in range(0, len(args), 3)]
    if handler == DEHYDRATED_DEPLOY:
        _publish(hook, pairs)
    else:
        _remove(hook, pairs)


@hook_group.command("uacme", cls=PassThrough)
@click.argument("method", type=click.Choice(["begin", "done", "failed"]))
@click.argument("challenge_type", metavar="TYPE")
@click.argument("ident")
@click.argument("token")
@click.argument("auth")
@pass_hook
def uacme(
    hook: HookOptions, /, *, method: str, challenge_type: str, ident: str, token: str, auth: str
) -> None:
    """uacme -h: begin|done|failed TYPE IDENT TOKEN AUTH; declines all but dns-01 (exit 1)."""
    if challenge_type != "dns-01":
        # SystemExit, not click's Exit: in the root's non-standalone mode click
        # returns an Exit's code instead of raising it, and certv6's main drops it.
        raise SystemExit(1 if method == "begin" else 0)
    pair = _pair(ident, auth)  # for dns-01 uacme's AUTH already is the TXT value
    if method == "begin":
        _publish(hook, [pair])
    else:
        _remove(hook, [pair])


def _publish(hook: HookOptions, pairs: Sequence[Pair]) -> Published:
    from certv6.service import client_hook as use_case

    run = use_case.HookRun(
        hook.settings(providers=True), hookrun.find_owner(os.environ), hook.provider
    )
    return use_case.publish_and_wait(run, pairs)


def _remove(hook: HookOptions, pairs: Sequence[Pair]) -> None:
    from certv6.service import client_hook as use_case

    run = use_case.HookRun(
        hook.settings(providers=True), hookrun.find_owner(os.environ), hook.provider
    )
    use_case.remove(run, pairs)


def _certbot_pair(env: Mapping[str, str]) -> Pair:
    if env.get("CERTBOT_TOKEN"):
        raise ConfigError(
            "certbot handed over an http-01 challenge; certv6 does dns-01 only",
            hint="add --preferred-challenges dns to the certbot command",
        )
    domain, value = env.get("CERTBOT_DOMAIN", ""), env.get("CERTBOT_VALIDATION", "")
    if not domain or not value:
        raise ConfigError(
            "CERTBOT_DOMAIN and CERTBOT_VALIDATION are not set",
            hint="this runs as certbot's --manual-auth-hook / --manual-cleanup-hook",
        )
    return _pair(domain, value)


def _remaining(text: str) -> int:
    # Without the variable (old certbot) every call publishes and waits.
    if not text.strip():
        return 0
    if not text.strip().isdigit():
        raise ConfigError(f"CERTBOT_REMAINING_CHALLENGES={text!r} is not a number")
    return int(text)


def lego_pair(args: Sequence[str]) -> Pair:
    if len(args) == 2:  # FQDN VALUE: lego already followed any CNAME
        return _checked(hookrun.normalize_owner(args[0]), args[1])
    if len(args) == 3:  # EXEC_MODE=RAW: DOMAIN TOKEN KEY_AUTH
        import base64
        import hashlib  # here, not at the top: the certbot path needs neither

        digest = hashlib.sha256(args[2].encode()).digest()
        value = base64.urlsafe_b64encode(digest).decode().rstrip("=")  # RFC 8555 8.4
        return _pair(args[0], value)
    raise click.UsageError("expected FQDN VALUE, or DOMAIN TOKEN KEY_AUTH (EXEC_MODE=RAW)")


def _pair(domain: str, value: str) -> Pair:
    return _checked(hookrun.challenge_owner(domain), value)


def _checked(owner: str, value: str) -> Pair:
    # A cheap check here; the full one (IDNA, label rules) runs before publishing.
    if not _NAME.fullmatch(owner.rstrip(".")) or not value or not value.isprintable():
        raise ConfigError(f"not a dns-01 challenge: {owner!r} {value!r}")
    return owner, value


def _light_check(owner: str, value: str) -> None:
    """The full owner/value check of service.client_hook, without importing dnspython.

    ASCII names are checked here by the LDH rules; anything else (IDNA) takes
    the full, slower path, which is rare.
    """
    name = owner.rstrip(".").removeprefix("_acme-challenge.")
    if not name.isascii() or "xn--" in name.lower():
        from certv6.service.client_hook import challenge_record

        challenge_record(owner, value)
        return
    syntax.refuse_ip_literal(name, name)
    syntax.check_labels(name, name.lower())
    syntax.check_dns01_value(value)


def _check_provider_name(name: str | None) -> None:
    """An unknown --provider fails at the first call, not only at the last one."""
    if name is None:
        return
    from importlib import metadata

    # The built-ins are entry points too; without package metadata (a bare source
    # tree) there is nothing cheap to compare with, and the last call checks fully.
    installed = {entry.name for entry in metadata.entry_points(group="certv6.providers")}
    if installed and name not in installed:
        known = ", ".join(sorted(installed))
        raise ConfigError(f"unknown provider {name!r}", hint=f"installed providers: {known}")


def _warn_missing(published: Published, all_domains: str) -> None:
    owners = {record.owner for record in published.records}
    for domain in filter(None, all_domains.split(",")):
        if hookrun.challenge_owner(domain) not in owners:
            log.warning("no value was recorded for %s: did an earlier hook call fail?", domain)


cli.add_command(hook_group)
