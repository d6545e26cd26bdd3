"""Use cases, one linear function each. Only the CLI and the hooks call these.

The names below are imported on first use, not with the package: importing
any use case imports this package first, and ``certv6 renew`` with nothing due
(twice a day, from the timer) must not pay for acme, cryptography and
dnspython (about 0.25 s). Import use cases from their modules
(``from certv6.service.issue import issue``): ``service.issue`` is also the
name of a module, which the import system may put in this attribute instead.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from certv6.service.cleanup import StaleCleanup, cleanup_stale
    from certv6.service.issue import IssueRequest, IssueResult, issue

_MODULE_OF = {
    "IssueRequest": "issue",
    "IssueResult": "issue",
    "issue": "issue",
    "StaleCleanup": "cleanup",
    "cleanup_stale": "cleanup",
}
__all__ = ["IssueRequest", "IssueResult", "StaleCleanup", "cleanup_stale", "issue"]


def __getattr__(name: str) -> Any:
    module_name = _MODULE_OF.get(name)
    if module_name is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = importlib.import_module(f"{__name__}.{module_name}")
    # Bind every name of that module at once, so ``issue`` ends up the function,
    # not the submodule the import just bound to the same attribute.
    for exported, where in _MODULE_OF.items():
        if where == module_name:
            globals()[exported] = getattr(module, exported)
    return globals()[name]
