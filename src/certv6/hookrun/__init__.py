"""Hook runs: what a dns-01 hook remembers between the calls of one ACME client run.

A hook process exits after every call, so it cannot hold the ledger's flock for
the whole run the way ``certv6 issue`` does. Instead each run of an ACME client
(certbot, lego, dehydrated, uacme) gets a journal in the ledger directory,
named after the client process: ``<comm>-<pid>-<start>.hookrun``, where
``start`` is the process start time from /proc/<pid>/stat, so a reused pid is
never mistaken for the same run. The journal is alive while that process is;
once it is gone (or the machine rebooted), the journal is stale and
``Ledger.stale_entries`` hands its published values to the ordinary stale
cleanup. docs/hooks.md has the long form.

    owner.py    which client process a hook call belongs to (/proc), and is it alive
    state.py    the journal's events folded into a state (pure)
    journal.py  the journal file: append under flock, read, claim when stale

This package is on the hook's start-up path (certbot starts the hook once per
challenge), so it imports nothing but the standard library and certv6.errors.
"""

from certv6.hookrun.journal import (
    SUFFIX,
    DeadRun,
    RunJournal,
    claim_if_dead,
    ledger_directory,
)
from certv6.hookrun.owner import OWNER_ENV, RunOwner, boot_id, find_owner
from certv6.hookrun.state import Pair, RunState, challenge_owner, normalize_owner

__all__ = [
    "OWNER_ENV",
    "SUFFIX",
    "DeadRun",
    "Pair",
    "RunJournal",
    "RunOwner",
    "RunState",
    "boot_id",
    "challenge_owner",
    "claim_if_dead",
    "find_owner",
    "ledger_directory",
    "normalize_owner",
]
