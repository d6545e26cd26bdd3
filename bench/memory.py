"""Peak memory of certv6 issuance in the lab (root; prints, asserts nothing).

    python bench/memory.py [--runs 3]

Peak resident set size of a cold `certv6 issue` process (getrusage RUSAGE_CHILDREN
of the process that waited for it), for one name and for 100 names in one
certificate; the largest of --runs runs. The interpreter alone is the floor.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _lab import CASES, between_runs, certv6_issue, print_table, timed, unique_tag

from lab import Lab  # on the path once _lab is imported


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    print(f"## peak memory (RSS), largest of {args.runs} cold runs\n")
    rows = [["process", "peak RSS", "exit"]]
    with Lab.start() as lab:
        floor = timed(lab, [sys.executable, "-c", "pass"])
        rows.append(["python -c pass (floor)", f"{floor.maxrss_kib / 1024:.1f} MiB", "0"])
        for case in ("one", "hundred"):
            peaks, codes = [], set()
            for _ in range(args.runs):
                between_runs(lab)
                run = certv6_issue(lab, CASES[case][1](unique_tag()))
                peaks.append(run.maxrss_kib)
                codes.add(run.returncode)
            label = f"certv6 issue, {CASES[case][0]}"
            rows.append([label, f"{max(peaks) / 1024:.1f} MiB", ",".join(map(str, sorted(codes)))])
    print_table(rows)


if __name__ == "__main__":
    main()
