"""The command line: the only package that imports click."""

from certv6.cli.main import main

__all__ = ["main"]
