"""``python tests/fakes/certv6_at.py ISO-TIME ARGS...``: certv6 with its clock at ISO-TIME.

The renewal tests move certv6's idea of "now" (never the system's) to make
certificates due. Shipped code reads no switch for that: this wrapper hands the
CLI a shifted clock through ``main(clock=...)``, the same seam unit tests use.
"""

from __future__ import annotations

import datetime
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from certv6.cli import main
from fakes.clock import ShiftedClock

SCRIPT = str(Path(__file__).resolve())


def command(python: str, moment: datetime.datetime) -> list[str]:
    """The argv prefix that runs certv6 at ``moment`` (append certv6's own arguments)."""
    return [python, SCRIPT, moment.isoformat()]


if __name__ == "__main__":
    main(sys.argv[2:], clock=ShiftedClock(datetime.datetime.fromisoformat(sys.argv[1])))
