"""Run one command, then write its wall time, exit code and peak RSS as JSON to a file.

    python bench/_timed.py RESULT.json -- certv6 issue ...

Started inside a lab namespace (``ip netns exec`` execs into this script, so the
command is this process's only child): the clock starts right before the fork and
stops when the child is reaped, so ``ip netns exec`` itself is not counted.
``maxrss_kib`` is the child's peak resident set (getrusage RUSAGE_CHILDREN, KiB),
``cpu`` its user + system CPU seconds.
The child's stdout and stderr pass through untouched.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time


def main() -> int:
    out_path, argv = sys.argv[1], sys.argv[2:]
    if argv[:1] == ["--"]:
        argv = argv[1:]
    started = time.perf_counter()
    # The argv comes from the benchmark scripts themselves, never from a user.
    returncode = subprocess.call(argv)
    wall = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = {
        "wall": wall,
        "returncode": returncode,
        "maxrss_kib": usage.ru_maxrss,
        "cpu": usage.ru_utime + usage.ru_stime,
    }
    with open(out_path, "w") as out:
        out.write(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
