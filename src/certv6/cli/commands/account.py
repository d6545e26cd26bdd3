"""`certv6 account show|register|update|rollover|deactivate` (docs/accounts.md)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import click

from certv6.cli.app import Options, cli, json_option, pass_options, print_json
from certv6.settings import KEY_TYPES

if TYPE_CHECKING:
    from certv6.service.accounts import AccountView

SERVER_HELP = "The CA: a shortcut, a [ca.NAME] name or a directory URL (default: the first CA)."


def _common(command: Any) -> Any:
    for option in reversed(
        [
            click.option("--server", help=SERVER_HELP),
            click.option("--state-dir", help="Where accounts and certificates live."),
            click.option("--ca-bundle", help="Extra CA certificates to trust for the CA's TLS."),
            json_option,
        ]
    ):
        command = option(command)
    return command


@cli.group()
def account() -> None:
    """The ACME account with each CA: show, register, update, rollover, deactivate."""


@account.command()
@click.option("--local", is_flag=True, help="Only what the state directory knows: no network.")
@_common
@pass_options
def show(options: Options, /, *, local: bool, as_json: bool, **flags: Any) -> None:
    """Show the account with each configured CA (or with --server): URL, status, key."""
    from certv6.service.accounts import show as show_accounts

    settings = options.settings(**flags)
    only = settings.server if flags.get("server") else None
    views = show_accounts(settings, clock=options.clock, only=only, local=local)
    if as_json:
        print_json("account-show", {"accounts": [view.to_json() for view in views]})
    else:
        for view in views:
            _print(view)
    errors = [view.error for view in views if view.error]
    if errors:
        raise click.exceptions.Exit(max(error.exit_code for error in errors))


@account.command()
@click.option("--email", "emails", multiple=True, help="Contact address; repeat for more.")
@click.option("--agree-tos", is_flag=True, help="Agree to the CA's terms of service.")
@click.option("--eab-kid", help="External account binding: the key id from the CA.")
@click.option(
    "--eab-hmac-key-file", help="External account binding: file holding the HMAC key (0600)."
)
@click.option(
    "--key-type",
    "account_key_type",
    type=click.Choice(KEY_TYPES),
    help="The account key (default: account_key_type, else ec256).",
)
@_common
@pass_options
def register(
    options: Options,
    /,
    *,
    emails: tuple[str, ...],
    account_key_type: str | None,
    as_json: bool,
    **flags: Any,
) -> None:
    """Create the account with the CA (explicitly; the first issue would too)."""
    from certv6.service.accounts import register_account

    settings = options.settings(**flags)
    view = register_account(settings, clock=options.clock, emails=emails, key_type=account_key_type)
    _done(options, view, as_json)


@account.command()
@click.option("--email", "emails", multiple=True, help="New contact address; repeat for more.")
@click.option("--no-email", is_flag=True, help="Remove every contact address.")
@_common
@pass_options
def update(
    options: Options,
    /,
    *,
    emails: tuple[str, ...],
    no_email: bool,
    as_json: bool,
    **flags: Any,
) -> None:
    """Replace the account's contact addresses at the CA (RFC 8555 7.3.2)."""
    from certv6.service.accounts import update_contact

    if bool(emails) == no_email:
        raise click.UsageError("give --email ADDRESS (repeatable) or --no-email")
    settings = options.settings(**flags)
    _done(options, update_contact(settings, clock=options.clock, emails=emails), as_json)


@account.command()
@click.option(
    "--key-type",
    "account_key_type",
    type=click.Choice(KEY_TYPES),
    help="The new key (default: account_key_type, else ec256).",
)
@_common
@pass_options
def rollover(
    options: Options, /, *, account_key_type: str | None, as_json: bool, **flags: Any
) -> None:
    """Give the account a new key (RFC 8555 7.3.5); the old one stays until the CA confirms."""
    from certv6.service.accounts import rollover as roll

    settings = options.settings(**flags)
    _done(options, roll(settings, clock=options.clock, key_type=account_key_type), as_json)


@account.command()
@click.option("--yes", "-y", is_flag=True, help="Do not ask (needed when not on a terminal).")
@_common
@pass_options
def deactivate(options: Options, /, *, yes: bool, as_json: bool, **flags: Any) -> None:
    """Deactivate the account at the CA (RFC 8555 7.3.6); certv6 never uses it again."""
    from certv6.service.accounts import deactivate_account, local_view
    from certv6.store import Store

    settings = options.settings(**flags)
    if not yes:
        if not sys.stdin.isatty():
            raise click.UsageError("not on a terminal: add --yes to deactivate without asking")
        url = local_view(settings, Store(settings.state_dir)).url or "(none stored)"
        question = (
            f"Deactivate the account {url} with {settings.server}? The CA then accepts "
            "nothing signed for it, and this cannot be undone"
        )
        if not click.confirm(question):
            click.echo("nothing deactivated")
            return
    _done(options, deactivate_account(settings, clock=options.clock), as_json)


def _done(options: Options, view: AccountView, as_json: bool) -> None:
    if as_json:
        print_json("account", {"account": view.to_json()})
    elif not options.quiet:
        _print(view)


def _print(view: AccountView) -> None:
    name = view.ca if view.ca_name == view.ca else f"{view.ca_name} ({view.ca})"
    click.echo(f"{name}:{' ' + view.note if view.note else ''}")
    if view.url is None and view.error is None:
        click.echo("  no account yet (certv6 account register, or the first certv6 issue)")
    rows = [
        ("account", view.url),
        ("status", _status(view)),
        ("contact", ", ".join(view.contact) or "none"),
        ("key", f"{view.key_type}, thumbprint {view.thumbprint}" if view.key_type else None),
        ("created", view.created),
        ("key changed", view.key_changed),
        ("deactivated", view.deactivated),
        ("directory", str(view.directory)),
    ]
    for label, value in rows:
        if value and (view.url or label == "directory"):
            click.echo(f"  {label:<12}{value}")
    if view.pending_rollover:
        click.echo("  a key rollover was interrupted: the next certv6 run finishes it")
    if view.error is not None:
        click.echo(f"  error: {view.error}", err=True)
        if view.error.hint:
            click.echo(f"  hint: {view.error.hint}", err=True)


def _status(view: AccountView) -> str:
    if view.status is None:
        return f"{view.local_status} (as stored; the CA was not asked)"
    if view.status == view.local_status:
        return view.status
    return f"{view.status} at the CA ({view.local_status} as stored)"
