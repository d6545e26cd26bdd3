"""Machine output: one JSON document on stdout per run, each kind with a versioned schema.

Every command that takes ``--json`` prints exactly one document: its result, or
(when it failed before printing one) ``{"version": 1, "error": {...}}`` with the
same exit code as without ``--json``. Each kind of document has a JSON Schema
in ``certv6/cli/schemas/<kind>.json`` (shipped in the package; docs/json.md).

Adding a command's output: a row in ``KINDS`` (kind -> schema version), a
schema file of that name whose ``version`` is that number, ``json_option`` on
the command and ``print_json(KIND, document)`` in it. A test walks every
command and fails when one of these is missing. A change that removes or
renames a key, or changes a type, raises the version; adding a key does not.
"""

from __future__ import annotations

import json
import re
from typing import Any

import click

from certv6.errors import CertV6Error

KINDS = {
    "issue": 1,
    "list": 1,
    "list-check": 1,
    "cleanup": 1,
    "renew": 1,
    "revoke": 1,
    "install": 1,
    "install-snippet": 1,
    "doctor": 1,
    "check-txt": 1,
    "delegate": 1,
    "timer-install": 1,
    "timer-show": 1,
    "timer-remove": 1,
    "import-certbot": 1,
    "delete": 1,
    "check-store": 1,
    "aaaa": 1,
    "persist": 1,
    "account": 1,
    "account-show": 1,
    "sync": 1,
    "store-migrate": 1,
    "error": 1,
}
# Commands that speak another program's protocol or print a script, not a result.
WITHOUT_JSON = {
    "hook certbot-auth": "certbot reads only the exit code and stderr",
    "hook certbot-cleanup": "certbot reads only the exit code and stderr",
    "hook lego": "lego's exec provider reads only the exit code",
    "hook dehydrated": "dehydrated reads the hook's stdout for some handlers",
    "hook uacme": "uacme reads only the exit code",
    "completion": "prints a shell script",
}


def document(kind: str, body: dict[str, Any]) -> dict[str, Any]:
    """``body`` with the schema ``version`` of ``kind`` first."""
    version = KINDS[kind]
    if body.get("version", version) != version:
        raise ValueError(f"{kind}: body has version {body['version']}, the schema {version}")
    return {"version": version, **{k: v for k, v in body.items() if k != "version"}}


def dumps(kind: str, body: dict[str, Any], *, one_line: bool = False) -> str:
    return json.dumps(document(kind, body), indent=None if one_line else 2, default=str)


def error_body(
    error: CertV6Error | None, *, code: str, exit_code: int, message: str
) -> dict[str, Any]:
    """The error document; ``error`` adds its hint and the attributes that locate it."""
    details: dict[str, Any] = {}
    hint = ""
    if error is not None:
        hint = error.hint
        for attribute in ("code", "identifier", "qname", "nameserver", "provider", "operation",
                          "record", "step", "failed"):  # fmt: skip
            value = getattr(error, attribute, None)
            if value:
                details["acme_code" if attribute == "code" else attribute] = (
                    list(value) if isinstance(value, tuple) else value
                )
        report = getattr(error, "report", None)
        if report is not None and hasattr(report, "to_json"):
            details["report"] = report.to_json()
    return {
        "error": {
            "code": code,
            "exit": exit_code,
            "message": message,
            "hint": hint or None,
            "details": details,
        }
    }


def error_code(error: CertV6Error) -> str:
    """``ConfigError`` -> ``config``, ``ValidationFailed`` -> ``validation-failed``."""
    name = type(error).__name__.removesuffix("Error") or "certv6"
    return re.sub(r"(?<!^)(?=[A-Z])", "-", name).lower()


def schema(kind: str) -> dict[str, Any]:
    """The JSON Schema of ``kind``, as shipped."""
    from importlib import resources

    text = resources.files("certv6.cli").joinpath("schemas", f"{kind}.json").read_text()
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def json_option(function: Any) -> Any:
    """``--json``: this command's result (or its error) as one JSON document on stdout."""
    return click.option(
        "--json",
        "as_json",
        is_flag=True,
        callback=_wants_json,
        help="Print the result (or the error) as one JSON document on stdout; see docs/json.md.",
    )(function)


class Output:
    """What main() must know to answer an error: was JSON asked for, is a document out,
    and are documents printed one per line (a long-running command, ``aaaa --watch``)."""

    def __init__(self) -> None:
        self.json = False
        self.printed = False
        self.lines = False


def print_json(kind: str, body: dict[str, Any]) -> None:
    """Print the one document of this run (``kind``'s schema version added)."""
    click.echo(dumps(kind, body))
    output = _output(click.get_current_context(silent=True))
    if output is not None:
        output.printed = True


def print_json_line(kind: str, body: dict[str, Any]) -> None:
    """Print one of many documents, on a line of its own (JSON Lines), for a command that
    keeps running; the error that ends it, if any, follows on a line too."""
    click.echo(dumps(kind, body, one_line=True))
    output = _output(click.get_current_context(silent=True))
    if output is not None:
        output.lines = True


def error_document(error: CertV6Error) -> dict[str, Any]:
    """The body of the ``error`` document for ``error``."""
    return error_body(
        error, code=error_code(error), exit_code=error.exit_code, message=error.message
    )


def _wants_json(context: click.Context, param: click.Parameter, value: bool) -> bool:
    output = _output(context)
    if value and output is not None:
        output.json = True
    return value


def _output(context: click.Context | None) -> Output | None:
    found = getattr(context.find_root().obj, "output", None) if context else None
    return found if isinstance(found, Output) else None
