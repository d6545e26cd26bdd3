"""certv6 side by side with certbot (rfc2136 plugin) and lego (rfc2136 provider) in one lab.

    python bench/peers.py [--runs 5] [--slow-runs 1] [--lag 10] [--cases one,ten,...]

Every tool runs as a cold process in the lab's IPv6-only client namespace, with a
new state directory (so a new ACME account) and new names per run, against the
same Pebble, the same BIND primary (TSIG key certv6-key) and the same resolvers.
Between runs ns2 is brought in step with ns1.

The tools, as their users would run them:
  certv6            defaults (waits until every authoritative server serves every value)
  certbot 1 s       --dns-rfc2136-propagation-seconds 1 (a user who shortened the sleep)
  certbot 60 s      the plugin's default: a fixed 60 s sleep, whatever the DNS does
  lego              defaults (checks the zone's authoritative servers, polls every 2 s),
                    except RFC2136_SEQUENCE_INTERVAL=0: lego solves rfc2136 challenges
                    one authorization at a time and by default sleeps 60 s between them
  lego default      lego with its default 60 s sequence interval (fewer cases, --slow-runs)

Failed validations are counted from Pebble's log ("authz ... set INVALID"), the
same way for every tool. Runs that are slow by design (certbot 60 s, lego with
ten or more names, whose authorizations are solved one by one) are repeated
--slow-runs times instead of --runs; the table says how many runs a median is of.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _lab import (
    CASES,
    CERTV6,
    Run,
    between_runs,
    invalid_authorizations,
    median,
    print_machine_standalone,
    print_table,
    secs,
    timed,
    tsig_secret,
    unique_tag,
    workdir,
)

from lab import Lab  # on the path once _lab is imported

Command = tuple[list[str], dict[str, str]]


def certv6(lab: Lab, directory: Path, domains: Sequence[str]) -> Command:
    config = lab.write_certv6_config(directory / "certv6.toml", state_dir=directory / "state")
    argv = [CERTV6, "--config", str(config), "issue", "--name", "bench"]
    for domain in domains:
        argv += ["-d", domain]
    return argv, {}


def certbot(seconds: int) -> Callable[[Lab, Path, Sequence[str]], Command]:
    def command(lab: Lab, directory: Path, domains: Sequence[str]) -> Command:
        credentials = directory / "rfc2136.ini"
        credentials.write_text(
            f"dns_rfc2136_server = {lab.primary_addr}\n"
            "dns_rfc2136_port = 53\n"
            f"dns_rfc2136_name = {lab.tsig_key_name}\n"
            f"dns_rfc2136_secret = {tsig_secret(lab)}\n"
            "dns_rfc2136_algorithm = HMAC-SHA256\n"
        )
        credentials.chmod(0o600)
        argv = [
            "certbot",
            "certonly",
            "-n",
            "--agree-tos",
            "--register-unsafely-without-email",
            "--server",
            lab.ca_directory,
            "--config-dir",
            str(directory / "config"),
            "--work-dir",
            str(directory / "work"),
            "--logs-dir",
            str(directory / "logs"),
            "--authenticator",
            "dns-rfc2136",
            "--dns-rfc2136-credentials",
            str(credentials),
            "--dns-rfc2136-propagation-seconds",
            str(seconds),
            "--cert-name",
            "bench",
        ]
        for domain in domains:
            argv += ["-d", domain]
        return argv, {"REQUESTS_CA_BUNDLE": str(lab.ca_bundle)}

    return command


def lego(sequence_interval: int | None) -> Callable[[Lab, Path, Sequence[str]], Command]:
    def command(lab: Lab, directory: Path, domains: Sequence[str]) -> Command:
        env = {
            "RFC2136_NAMESERVER": f"[{lab.primary_addr}]:53",
            "RFC2136_TSIG_KEY": lab.tsig_key_name,
            "RFC2136_TSIG_SECRET": tsig_secret(lab),
            "RFC2136_TSIG_ALGORITHM": "hmac-sha256.",
            "LEGO_CA_CERTIFICATES": str(lab.ca_bundle),
        }
        if sequence_interval is not None:
            env["RFC2136_SEQUENCE_INTERVAL"] = str(sequence_interval)
        argv = [
            "lego",
            "--server",
            lab.ca_directory,
            "--accept-tos",
            "--email",
            "bench@certv6.test",
            "--dns",
            "rfc2136",
            "--dns.resolvers",
            f"[{lab.client_resolver}]:53",
            "--path",
            str(directory),
        ]
        for domain in domains:
            argv += ["-d", domain]
        return [*argv, "run"], env

    return command


@dataclass(frozen=True)
class Tool:
    name: str
    command: Callable[[Lab, Path, Sequence[str]], Command]
    slow_cases: frozenset[str] = frozenset()  # repeated --slow-runs times
    cases: frozenset[str] | None = None  # None: every case
    lagged: bool = True  # also run with the secondary lagging


ALL = frozenset(CASES)
TOOLS = (
    Tool("certv6", certv6),
    Tool("certbot 1 s", certbot(1)),
    Tool("certbot 60 s", certbot(60), slow_cases=ALL),
    Tool("lego", lego(0), slow_cases=frozenset({"ten", "hundred"})),
    Tool(
        "lego default",
        lego(None),
        slow_cases=ALL,
        cases=frozenset({"one", "wildcard"}),
        lagged=False,
    ),
)


@dataclass
class Cell:
    walls: list[float] = field(default_factory=list)
    runs: int = 0
    failed_runs: int = 0
    failed_validations: int = 0
    peak_rss_kib: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def wall(self) -> float:
        return median(self.walls)


def run_once(lab: Lab, tool: Tool, domains: Sequence[str]) -> Run:
    with workdir(tool.name.replace(" ", "-")) as directory:
        argv, env = tool.command(lab, directory, domains)
        return timed(lab, argv, env=env, timeout=3600)


def why(run: Run) -> str:
    """The line of a failed run's output that says most about the failure."""
    lines = [line.strip() for line in (run.stderr + run.stdout).splitlines() if line.strip()]
    for marker in ("Detail:", "error:", "Error", "failed"):
        found = [line for line in lines if marker in line]
        if found:
            return found[0][:240]
    return (lines or ["(no output)"])[-1][:240]


def measure(lab: Lab, tool: Tool, case: str, runs: int) -> Cell:
    cell = Cell()
    for _ in range(runs):
        between_runs(lab)
        before = invalid_authorizations(lab)
        run = run_once(lab, tool, CASES[case][1](unique_tag()))
        cell.failed_validations += invalid_authorizations(lab) - before
        cell.runs += 1
        cell.peak_rss_kib = max(cell.peak_rss_kib, run.maxrss_kib)
        if run.ok:
            cell.walls.append(run.wall)
        else:
            cell.failed_runs += 1
            cell.errors.append(f"exit {run.returncode}: {why(run)}")
        print(
            f"  {tool.name:13} {case:9} {'ok ' if run.ok else 'FAILED'} {run.wall:7.2f} s",
            file=sys.stderr,
            flush=True,
        )
    return cell


Results = dict[str, dict[str, Cell]]  # tool -> case -> cell


def measure_all(
    lab: Lab,
    tools: Sequence[Tool],
    cases: Sequence[str],
    *,
    runs: int,
    slow_runs: int,
    lagged: bool,
) -> Results:
    results: Results = {}
    for tool in tools:
        if lagged and not tool.lagged:
            continue
        for case in cases:
            if tool.cases is not None and case not in tool.cases:
                continue
            count = slow_runs if case in tool.slow_cases else runs
            results.setdefault(tool.name, {})[case] = measure(lab, tool, case, count)
    return results


def side_by_side(results: Results, cases: Sequence[str]) -> None:
    """Median wall time of the runs that succeeded; n runs, of which some failed."""
    tools = list(results)
    rows = [["case", *tools]]
    for case in cases:
        row = [CASES[case][0]]
        for tool in tools:
            cell = results[tool].get(case)
            if cell is None:
                row.append("not run")
                continue
            failed = f", {cell.failed_runs} failed" if cell.failed_runs else ""
            row.append(f"{secs(cell.wall)} (n={cell.runs}{failed})")
        rows.append(row)
    print_table(rows)


def ratios(results: Results, cases: Sequence[str], minus: float = 0.0) -> None:
    """certv6 / peer (each minus ``minus``), only where every run of both succeeded.

    With a lagging secondary a peer's successful run may have skipped the wait and
    got lucky with the CA's resolver; comparing its time would reward that.
    """
    peers = [tool for tool in results if tool != "certv6"]
    rows = [["case", *(f"certv6 / {peer}" for peer in peers)]]
    for case in cases:
        mine = results["certv6"][case]
        row = [CASES[case][0]]
        for peer in peers:
            theirs = results[peer].get(case)
            if theirs is None or not theirs.walls or math.isnan(mine.wall):
                row.append("-")
            elif theirs.failed_runs or mine.failed_runs:
                failed = theirs.failed_runs or mine.failed_runs
                row.append(f"- ({failed} of {theirs.runs} failed)")
            else:
                row.append(f"{(mine.wall - minus) / (theirs.wall - minus):.2g}")
        rows.append(row)
    print_table(rows)


def failures(results: Results, cases: Sequence[str]) -> None:
    tools = list(results)
    rows = [["case", *tools]]
    for case in cases:
        row = [CASES[case][0]]
        for tool in tools:
            cell = results[tool].get(case)
            row.append(
                "not run"
                if cell is None
                else f"{cell.failed_validations} in {cell.runs} run(s), "
                f"{cell.failed_runs} run(s) failed"
            )
        rows.append(row)
    print_table(rows)


def memory(results: Results, cases: Sequence[str]) -> None:
    rows = [["case", *results]]
    for case in cases:
        row = [CASES[case][0]]
        for tool in results:
            cell = results[tool].get(case)
            row.append(f"{cell.peak_rss_kib / 1024:.0f} MiB" if cell else "not run")
        rows.append(row)
    print_table(rows)


def errors(results: Results) -> None:
    for tool, cells in results.items():
        for case, cell in cells.items():
            for error in cell.errors[:3]:
                print(f"  {tool}, {case}: {error}")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--slow-runs", type=int, default=1)
    parser.add_argument("--lag", type=float, default=10.0, help="0 skips the lagging runs")
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--tools", default=",".join(t.name for t in TOOLS))
    args = parser.parse_args(argv)
    cases = [case for case in args.cases.split(",") if case]
    wanted = {name.strip() for name in args.tools.split(",")}
    tools = [tool for tool in TOOLS if tool.name in wanted or tool.name == "certv6"]
    with Lab.start() as lab:
        print("## certv6 and its peers, median wall time of cold runs (n = runs)\n")
        print_machine_standalone()
        plain = measure_all(
            lab, tools, cases, runs=args.runs, slow_runs=args.slow_runs, lagged=False
        )
        side_by_side(plain, cases)
        print("\nratios (certv6 / peer; below 1: certv6 is faster)\n")
        ratios(plain, cases)
        print("\npeak RSS (largest of the runs)\n")
        memory(plain, cases)
        errors(plain)
        if not args.lag:
            return
        print(f"\n### secondary lagging {args.lag:g} s: wall time (the lag included)\n")
        with lab.lagging(args.lag):
            lagged = measure_all(
                lab, tools, cases, runs=args.runs, slow_runs=args.slow_runs, lagged=True
            )
        side_by_side(lagged, cases)
        print(
            f"\nratios of the time beyond the lag, (certv6 - {args.lag:g} s) / (peer - "
            f"{args.lag:g} s), where no run failed\n"
        )
        ratios(lagged, cases, minus=args.lag)
        print("\nfailed validations (Pebble: authorizations set INVALID) with the lag\n")
        failures(lagged, cases)
        errors(lagged)


if __name__ == "__main__":
    main()
