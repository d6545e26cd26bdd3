"""Use case: ``certv6 renew`` -- every certificate that is due, each on its own.

    recipe.py       the whole run, top to bottom (start reading here)
    plan.py         what is due, from what is on disk alone (no network, no heavy imports)
    ca.py           the CA's side: sessions, renewal info (RFC 9773), one lineage's order
    run.py          steps 3-6: renewal info, pre hook, every due lineage, post hook
    shell_hooks.py  pre/deploy/post hooks: shell commands run the way certbot runs them
    report.py       what the run did, per certificate

Importing this package imports only the light modules (recipe, plan, report):
``certv6 renew`` with nothing due must not pay for acme, cryptography and dnspython.
"""

from certv6.service.renew.recipe import LOCK_WAIT, RenewRequest, renew

__all__ = ["LOCK_WAIT", "RenewRequest", "renew"]
