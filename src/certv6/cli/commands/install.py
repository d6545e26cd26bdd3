"""Subcommand: install (put a stored certificate into servers and prove it is served)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from certv6.cli.app import Options, cli, domain_option, json_option, pass_options, print_json

if TYPE_CHECKING:
    from certv6.service.install import InstallReport
    from certv6.service.install_snippet import SnippetHelp

# Spelled out so `certv6 --help` does not import the installer (ssl, socket);
# a unit test keeps this equal to certv6.install.TARGETS.
TARGET_NAMES = ("nginx", "apache", "haproxy", "postfix", "dovecot", "files")


@cli.command()
@click.option("--name", "-n", "--cert-name", required=True, help="Certificate name in the store.")
@click.option(
    "--print-snippet",
    type=click.Choice(TARGET_NAMES),
    metavar="TARGET",
    help=f"Show what to include in TARGET's config ({', '.join(TARGET_NAMES)}); install nothing.",
)
@domain_option("With --print-snippet before the first issue: the names for server_name.")
@click.option("--state-dir", help="Where accounts and certificates live.")
@json_option
@pass_options
def install(
    options: Options,
    /,
    *,
    name: str,
    print_snippet: str | None,
    domains: tuple[str, ...],
    state_dir: str | None,
    as_json: bool,
) -> None:
    """Install certificate NAME as its [[certificate.NAME.install]] tables say.

    Writes the files, runs the server's config test, reloads it and checks over
    IPv6 that it serves the new certificate; any failure puts the previous files
    back (exit 10). Then runs the certificate's deploy_hook.
    """
    from certv6.service.install import install_certificate
    from certv6.service.install_snippet import snippet_help

    settings = options.settings(state_dir=state_dir)
    if print_snippet:
        snippet = snippet_help(settings, name, print_snippet, domains)
        if as_json:
            print_json("install-snippet", snippet.to_json())
        else:
            _show_snippet(snippet)
        return
    report = install_certificate(settings, name, clock=options.clock)
    if as_json:
        print_json("install", report.to_json())
    elif not options.quiet:
        _show_report(report)


def _show_report(report: InstallReport) -> None:
    for target in report.targets:
        where = ", ".join(f"{v.endpoint} ({v.seconds:.2f} s)" for v in target.verified)
        click.echo(
            f"{report.name}: {target.target} uses {target.directory}/live -> {target.version}"
            + (f"; served at {where}" if where else "; not verified (no verify = ...)")
        )
    if report.deploy_hook_ran:
        click.echo(f"{report.name}: deploy hook ran")


def _show_snippet(help_: SnippetHelp) -> None:
    if help_.snippet and help_.snippet_text:
        click.echo(f"# {help_.snippet} (certv6 writes it at every install):")
        click.echo(help_.snippet_text)
    if help_.include_line:
        click.echo(f"# include it once:\n{help_.include_line}\n")
    click.echo(help_.example, nl=False)
