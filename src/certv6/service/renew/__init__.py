"""Use case: ``certv6 renew`` -- every certificate that is due, each on its own.

    recipe.py       the whole run, top to bottom (start reading here)
    plan.py         what is due, from what is on disk alone (no network, no heavy imports)
    ca.py           the CA's side: sessions, renewal info (RFC 9773), one lineage's order
    run.py          steps 3-6: renewal info, pre hook, every due lineage, post hook
    together.py     the due lineages side by side: work slots, the shared session,
                    resolver and propagation check, interrupts (issue #19)
    batch.py        one provider call for every lineage publishing at that moment
    installs.py     after the renewals: installs (one reload per server), deploy hooks
    shell_hooks.py  pre/deploy/post hooks: shell commands run the way certbot runs them
    report.py       what the run did, per certificate

Importing this package imports only the light modules (recipe, plan, report):
``certv6 renew`` with nothing due must not pay for acme, cryptography and dnspython.
"""

from certv6.service.renew.recipe import LOCK_WAIT, RenewRequest, renew

__all__ = ["LOCK_WAIT", "RenewRequest", "renew"]
