"""`renew` of many due lineages, certv6 beside certbot and lego, in one lab (issue #19).

    python bench/renew_many.py [--count 100] [--runs 3] [--lag 10] [--peer-count 10]
                               [--slow-count 2] [--tools certv6,certbot 1 s,...]

Every lineage holds one name. Each tool first gets its lineages by issuing them
(not timed), then a cold ``renew`` renews all of them at once, as a timer would:

  certv6        ``certv6 renew`` with its clock moved to when every lineage is due
                (tests/fakes/certv6_at.py; the system clock is never touched), defaults
                otherwise (renew_concurrency 8)
  certbot 1 s   ``certbot renew --force-renewal --no-random-sleep-on-renew`` with
                --dns-rfc2136-propagation-seconds 1 (one process for every lineage)
  certbot 60 s  the same with the plugin's default 60 s sleep
  lego          ``lego ... renew --days 100000`` once per lineage (lego renews one
                certificate per run), RFC2136_SEQUENCE_INTERVAL=0 as in peers.py

The peers renew one lineage after the other and wait for each: at 60 s a lineage,
100 of them take over an hour and a half. So they renew fewer lineages
(--peer-count, --slow-count for certbot 60 s) and the table shows their measured
time and, labelled "extrapolated", the per-lineage time times --count; certv6
always renews all --count. With --lag L the secondary applies every change L
seconds late and Pebble's resolver asks either nameserver, so only a tool that
waits for both passes; failed validations are counted from Pebble's log.

Targets (issue #19): --count 100 in < 5 s at lag 0 and < 16 s at lag 10, zero
failed validations, peak RSS < 100 MiB. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _lab import (
    CERTV6,
    ROOT,
    ZONE,
    Run,
    between_runs,
    invalid_authorizations,
    median,
    print_machine_standalone,
    print_table,
    secs,
    timed,
    unique_tag,
    verdict,
    workdir,
)
from peers import certbot, lego

from lab import Lab  # on the path once _lab is imported

CERTV6_AT = str(ROOT / "tests" / "fakes" / "certv6_at.py")
SETUP_PARALLEL = 8
TARGET_LAG0, TARGET_RSS_MIB = 5.0, 100.0


@dataclass
class Cell:
    """One tool at one lag: its timed renew runs."""

    count: int  # lineages renewed per run
    walls: list[float] = field(default_factory=list)
    failed_runs: int = 0
    failed_validations: int = 0
    peak_rss_kib: int = 0
    errors: list[str] = field(default_factory=list)

    def add(self, run: Run, ok: bool, invalid: int, error: str) -> None:
        self.failed_validations += invalid
        self.peak_rss_kib = max(self.peak_rss_kib, run.maxrss_kib)
        if ok:
            self.walls.append(run.wall)
        else:
            self.failed_runs += 1
            self.errors.append(error)

    @property
    def wall(self) -> float:
        return median(self.walls)


# --- certv6 -----------------------------------------------------------------------------------


@dataclass
class Certv6Fleet:
    """``count`` certv6 lineages of one name each, in one state directory."""

    lab: Lab
    directory: Path
    count: int
    config: Path = field(init=False)

    def __post_init__(self) -> None:
        self.config = self.lab.write_certv6_config(
            self.directory / "certv6.toml", state_dir=self.directory / "state"
        )

    def issue(self) -> None:
        tag = unique_tag("r")
        names = [f"l{i}.{tag}.{ZONE}" for i in range(self.count)]
        self._issue(names[0])  # the account first: the others find it
        with ThreadPoolExecutor(max_workers=SETUP_PARALLEL) as pool:
            for failure in pool.map(self._issue, names[1:]):
                if failure:
                    raise RuntimeError(failure)

    def _issue(self, name: str) -> str:
        argv = [CERTV6, "--config", str(self.config), "--quiet", "issue", "-d", name]
        done = self.lab.run_in_client(argv, timeout=300)
        return "" if done.returncode == 0 else f"issue {name}: {done.stderr[-800:]}"

    def due_moment(self) -> dt.datetime:
        """When every lineage's current certificate is due (70% of its lifetime)."""
        latest = dt.datetime.min.replace(tzinfo=dt.UTC)
        for meta in (self.directory / "state" / "certificates").glob("*/current/meta.json"):
            data = json.loads(meta.read_text())
            start = dt.datetime.fromisoformat(data["not_before"])
            end = dt.datetime.fromisoformat(data["not_after"])
            latest = max(latest, start + (end - start) * 0.7)
        return latest

    def renew(self, lab: Lab) -> tuple[Run, bool, str]:
        argv = [sys.executable, CERTV6_AT, self.due_moment().isoformat()]
        argv += ["--config", str(self.config), "renew", "--json"]
        run = timed(lab, argv, timeout=1800)
        try:
            counts = json.loads(run.stdout)["counts"]
        except (ValueError, KeyError):
            return run, False, f"exit {run.returncode}: {run.stderr.strip()[-300:]}"
        ok = run.ok and counts.get("renewed") == self.count
        return run, ok, f"exit {run.returncode}: {counts}; {run.stderr.strip()[-300:]}"


# --- the peers --------------------------------------------------------------------------------


@dataclass
class PeerFleet:
    """``count`` lineages of a peer in one directory: issued once, renewed at every run."""

    lab: Lab
    tool: str
    directory: Path
    count: int
    names: list[str] = field(default_factory=list)

    def issue(self) -> None:
        tag = unique_tag("p")
        self.names = [f"l{i}.{tag}.{ZONE}" for i in range(self.count)]
        for name in self.names:  # one after the other: certbot's config dir is not shared safely
            argv, env = self._issue_command(name)
            done = self.lab.run_in_client(argv, env=env, timeout=900)
            if done.returncode != 0:
                raise RuntimeError(f"{self.tool} issue {name}: {done.stderr[-800:]}")

    def _issue_command(self, name: str) -> tuple[list[str], dict[str, str]]:
        if self.tool.startswith("certbot"):
            argv, env = certbot(1)(self.lab, self.directory, [name])
            return _certbot_name(argv, name), env
        argv, env = lego(0)(self.lab, self.directory, [name])
        return argv, env

    def renew(self, lab: Lab) -> tuple[Run, bool, str]:
        if self.tool.startswith("certbot"):
            return self._certbot_renew(lab)
        return self._lego_renew(lab)

    def _certbot_renew(self, lab: Lab) -> tuple[Run, bool, str]:
        seconds = "60" if self.tool == "certbot 60 s" else "1"
        argv, env = certbot(1)(self.lab, self.directory, [])
        # The directories, server and credentials of certonly; the sleep of this tool.
        common = argv[argv.index("--server") : argv.index("--dns-rfc2136-propagation-seconds")]
        renew = ["certbot", "renew", "-n", "--force-renewal", "--no-random-sleep-on-renew"]
        renew += [*common, "--dns-rfc2136-propagation-seconds", seconds]
        run = timed(lab, renew, env=env, timeout=7200)
        return run, run.ok, f"exit {run.returncode}: {_why(run)}"

    def _lego_renew(self, lab: Lab) -> tuple[Run, bool, str]:
        """lego renews one certificate per run: a loop over the lineages, as a cron script."""
        script = self.directory / "renew-all.sh"
        lines = ["#!/bin/sh", "failed=0"]
        for name in self.names:
            argv, _ = lego(0)(self.lab, self.directory, [name])
            argv = [*argv[:-1], "renew", "--days", "100000", "--no-random-sleep"]
            lines.append(" ".join(_quote(a) for a in argv) + " || failed=1")
        lines.append("exit $failed")
        script.write_text("\n".join(lines) + "\n")
        script.chmod(0o755)
        _, env = lego(0)(self.lab, self.directory, [])
        run = timed(lab, ["/bin/sh", str(script)], env=env, timeout=7200)
        return run, run.ok, f"exit {run.returncode}: {_why(run)}"


def _certbot_name(argv: list[str], name: str) -> list[str]:
    # peers.py names every lineage "bench"; here each needs its own.
    at = argv.index("--cert-name")
    return [*argv[: at + 1], name, *argv[at + 2 :]]


def _quote(word: str) -> str:
    return "'" + word.replace("'", "'\\''") + "'"


def _why(run: Run) -> str:
    lines = [line.strip() for line in (run.stderr + run.stdout).splitlines() if line.strip()]
    for marker in ("Detail:", "error", "Error", "failed"):
        found = [line for line in lines if marker in line]
        if found:
            return found[0][:240]
    return (lines or ["(no output)"])[-1][:240]


# --- measuring --------------------------------------------------------------------------------

Fleet = Certv6Fleet | PeerFleet


def measure(lab: Lab, fleet: Fleet, runs: int, lag: float) -> Cell:
    cell = Cell(fleet.count)
    for _ in range(runs):
        between_runs(lab)
        before = invalid_authorizations(lab)
        with lab.lagging(lag):
            run, ok, error = fleet.renew(lab)
        invalid = invalid_authorizations(lab) - before
        cell.add(run, ok, invalid, error)
        label = fleet.tool if isinstance(fleet, PeerFleet) else "certv6"
        state = "ok " if ok else "FAILED"
        print(
            f"  {label:13} lag {lag:4g} {state} {run.wall:8.2f} s (CPU {run.cpu:.2f} s)",
            file=sys.stderr,
            flush=True,
        )
    return cell


def shown(cell: Cell | None, count: int) -> str:
    if cell is None:
        return "not run"
    failed = f", {cell.failed_runs} failed" if cell.failed_runs else ""
    measured = (
        f"{secs(cell.wall)} for {cell.count} (n={len(cell.walls) + cell.failed_runs}{failed})"
    )
    if cell.count == count or not cell.walls:
        return measured
    return f"{measured}; extrapolated to {count}: {secs(cell.wall / cell.count * count)}"


def report(results: dict[float, dict[str, Cell]], count: int, lag: float) -> None:
    tools = list(dict.fromkeys(tool for cells in results.values() for tool in cells))
    for at, cells in results.items():
        title = "at lag 0" if not at else f"with the secondary {at:g} s behind"
        print(f"\n### renew {count} due lineages of one name each, {title}\n")
        rows = [["tool", "wall time of the renew run", "failed validations", "peak RSS"]]
        for tool in tools:
            cell = cells.get(tool)
            if cell is None:
                continue
            rows.append(
                [
                    tool,
                    shown(cell, count),
                    f"{cell.failed_validations}",
                    f"{cell.peak_rss_kib / 1024:.0f} MiB",
                ]
            )
        print_table(rows)
        for tool, cell in cells.items():
            for error in cell.errors[:2]:
                print(f"  {tool}: {error}")
    certv6 = {at: cells.get("certv6") for at, cells in results.items()}
    print("\ntargets:")
    for at, cell in certv6.items():
        if cell is None:
            continue
        limit = TARGET_LAG0 if not at else at + 6.0
        worst = max(cell.walls, default=float("nan"))
        met = bool(cell.walls) and worst < limit and not cell.failed_validations
        print(
            f"  renew {count} due lineages, lag {at:g} s: < {limit:g} s and no failed validation: "
            f"median {secs(cell.wall)}, worst {secs(worst)}, {cell.failed_validations} failed "
            f"validation(s) — {verdict(met)}"
        )
    peak = max((c.peak_rss_kib for c in certv6.values() if c is not None), default=0) / 1024
    print(
        f"  renew {count} due lineages, peak RSS < {TARGET_RSS_MIB:g} MiB: {peak:.0f} MiB — "
        f"{verdict(0 < peak < TARGET_RSS_MIB)}"
    )


TOOLS = ("certv6", "certbot 1 s", "certbot 60 s", "lego")


def fleets(
    lab: Lab, root: Path, tools: Sequence[str], args: argparse.Namespace
) -> dict[str, Fleet]:
    made: dict[str, Fleet] = {}
    for tool in tools:
        directory = root / tool.replace(" ", "-")
        directory.mkdir()
        if tool == "certv6":
            made[tool] = Certv6Fleet(lab, directory, args.count)
        else:
            count = args.slow_count if tool == "certbot 60 s" else args.peer_count
            made[tool] = PeerFleet(lab, tool, directory, min(count, args.count))
    for tool, fleet in made.items():
        print(f"  {tool}: issuing {fleet.count} lineages (not timed)", file=sys.stderr, flush=True)
        fleet.issue()
    return made


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--runs", type=int, default=3, help="timed renew runs per tool and lag")
    parser.add_argument("--lag", type=float, default=10.0, help="0 skips the lagging runs")
    parser.add_argument("--peer-count", type=int, default=10)
    parser.add_argument("--slow-count", type=int, default=2)
    parser.add_argument("--peer-runs", type=int, default=1)
    parser.add_argument("--tools", default=",".join(TOOLS))
    args = parser.parse_args(argv)
    tools = [t for t in TOOLS if t in {name.strip() for name in args.tools.split(",")}]
    lags = [0.0, args.lag] if args.lag else [0.0]
    with Lab.start() as lab, workdir("renew-many") as root:
        print(f"## renew {args.count} due lineages, certv6 and its peers (bench/renew_many.py)\n")
        print_machine_standalone()
        made = fleets(lab, root, tools, args)
        results: dict[float, dict[str, Cell]] = {}
        for lag in lags:
            for tool, fleet in made.items():
                runs = args.runs if tool == "certv6" else args.peer_runs
                results.setdefault(lag, {})[tool] = measure(lab, fleet, runs, lag)
        peers = {tool: fleet.count for tool, fleet in made.items() if tool != "certv6"}
        print(
            f"\ncertv6 renews all {args.count}. The peers renew one lineage after the other: "
            + ", ".join(f"{tool} {count}" for tool, count in peers.items())
            + f"; their time per lineage times {args.count} is shown as extrapolated."
            if peers
            else f"\ncertv6 renews all {args.count}."
        )
        report(results, args.count, args.lag)


if __name__ == "__main__":
    main()
