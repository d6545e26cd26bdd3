"""certv6 issuance in the lab: wall time, and where it goes (root; prints, asserts nothing).

    python bench/issue.py [--runs 5] [--lag 10] [--cases one,ten,wildcard,hundred]

Each run is a cold `certv6 issue --json` process in the IPv6-only client namespace,
with new names and a new state directory (so it also creates its ACME account).
Figures are medians over --runs. CPU is the process's user + system time: a run
that uses about as much CPU as wall time waits for nothing but itself. The step
timings certv6 prints split the run into:
  propagation  waiting until every authoritative nameserver serves every value
  CA           account + order + validation (answer, poll) + finalize
  DNS          UPDATEs: publish + cleanup
  startup      wall - certv6's own total: interpreter start and imports

With --lag L the secondary nameserver applies every change L seconds late; Pebble's
resolver asks either nameserver, so only a client that waits for both passes.
Targets (issue #9): one name < 1 s; ten names < 1.5 s; 100 names < 2 x one name;
at lag L, < L + 1.5 s whatever the number of names, with no failed validation.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _lab import (
    CA_STEPS,
    CASES,
    DNS_STEPS,
    between_runs,
    certv6_issue,
    invalid_authorizations,
    median,
    ms,
    print_machine_standalone,
    print_table,
    secs,
    unique_tag,
    verdict,
)

from lab import Lab  # on the path once _lab is imported


@dataclass
class CaseFigures:
    walls: list[float] = field(default_factory=list)
    cpus: list[float] = field(default_factory=list)  # the process's user + system seconds
    steps: dict[str, list[float]] = field(default_factory=dict)
    failed_runs: int = 0
    failed_validations: int = 0
    errors: list[str] = field(default_factory=list)

    def step(self, *names: str) -> float:
        per_run = [sum(values) for values in zip(*(self.steps[n] for n in names), strict=True)]
        return median(per_run) if all(n in self.steps for n in names) else float("nan")


def measure(lab: Lab, case: str, runs: int) -> CaseFigures:
    figures = CaseFigures()
    for _ in range(runs):
        between_runs(lab)
        before = invalid_authorizations(lab)
        run = certv6_issue(lab, CASES[case][1](unique_tag()))
        figures.failed_validations += invalid_authorizations(lab) - before
        if not run.ok:
            figures.failed_runs += 1
            figures.errors.append(f"exit {run.returncode}: {run.stderr.strip()[-300:]}")
            continue
        figures.walls.append(run.wall)
        figures.cpus.append(run.cpu)
        timings = run.json()["timings"]
        for key, value in timings.items():
            figures.steps.setdefault(key, []).append(value)
        figures.steps.setdefault("startup", []).append(run.wall - timings["total"])
    return figures


def report(results: dict[str, CaseFigures], runs: int, lag: float) -> None:
    header = ["case", "wall", "CPU", "propagation", "CA", "DNS updates", "startup", "failed runs"]
    if lag:
        header[2:2] = ["wall - lag"]
    rows = [header]
    for case, f in results.items():
        wall = median(f.walls)
        row = [
            CASES[case][0],
            secs(wall),
            secs(median(f.cpus)),
            ms(f.step("propagation")),
            ms(f.step(*CA_STEPS)),
            ms(f.step(*DNS_STEPS)),
            ms(f.step("startup")),
            f"{f.failed_runs}/{runs}",
        ]
        if lag:
            row[2:2] = [secs(wall - lag)]
        rows.append(row)
    print_table(rows)
    for case, f in results.items():
        for error in f.errors:
            print(f"  {case}: {error}")


def shares(results: dict[str, CaseFigures]) -> None:
    print("\nshare of certv6's own time (median run): propagation / CA / DNS updates / rest")
    for case, f in results.items():
        total = f.step("total")
        parts = [f.step("propagation"), f.step(*CA_STEPS), f.step(*DNS_STEPS)]
        rest = total - sum(parts)
        text = " / ".join(f"{100 * p / total:.0f}%" for p in [*parts, rest])
        startup = ms(f.step("startup"))
        print(f"  {CASES[case][0]:28} {text}  (of {secs(total)}; startup adds {startup})")


def targets(plain: dict[str, CaseFigures], lagged: dict[str, CaseFigures], lag: float) -> None:
    print("\ntargets:")

    def wall(results: dict[str, CaseFigures], case: str) -> float | None:
        return median(results[case].walls) if case in results and results[case].walls else None

    one, ten, hundred = wall(plain, "one"), wall(plain, "ten"), wall(plain, "hundred")
    if one is not None:
        print(f"  one name < 1 s: {secs(one)} — {verdict(one < 1.0)}")
    if ten is not None:
        print(f"  ten names < 1.5 s: {secs(ten)} — {verdict(ten < 1.5)}")
    if one is not None and hundred is not None:
        ratio = hundred / one
        print(f"  100 names < 2 x one name: {ratio:.2f} x — {verdict(ratio < 2.0)}")
    for case, f in lagged.items():
        worst = max(f.walls, default=float("nan"))
        met = bool(f.walls) and worst < lag + 1.5 and f.failed_validations == 0
        print(
            f"  lag {lag:g} s, {CASES[case][0]}: < {lag + 1.5:g} s and no failed validation: "
            f"median {secs(median(f.walls))}, worst {secs(worst)}, "
            f"{f.failed_validations} failed validation(s) — {verdict(met)}"
        )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--lag", type=float, default=10.0, help="0 skips the lagging runs")
    parser.add_argument("--cases", default=",".join(CASES))
    args = parser.parse_args(argv)
    cases = [case for case in args.cases.split(",") if case]
    with Lab.start() as lab:
        print(f"## certv6 issue, median of {args.runs} cold runs\n")
        print_machine_standalone()
        plain = {case: measure(lab, case, args.runs) for case in cases}
        report(plain, args.runs, 0)
        shares(plain)
        lagged: dict[str, CaseFigures] = {}
        if args.lag:
            print(f"\n### secondary lagging {args.lag:g} s\n")
            with lab.lagging(args.lag):
                lagged = {case: measure(lab, case, args.runs) for case in cases}
            report(lagged, args.runs, args.lag)
        targets(plain, lagged, args.lag)


if __name__ == "__main__":
    main()
