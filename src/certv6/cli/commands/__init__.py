"""Subcommands, one module per group of commands.

Every module in this package is imported at start-up (cheaply: heavy imports
happen inside the command functions), so adding a command is adding a file.
"""

import importlib
import pkgutil

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")
