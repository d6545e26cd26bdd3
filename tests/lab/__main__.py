"""Command line: ``python tests/lab up`` | ``python tests/lab down-stale``.

``up`` prints the lab's facts as JSON and keeps it running until Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from pathlib import Path

if not __package__:
    # Run as "python tests/lab": make "lab" importable as a package from tests/, and drop
    # tests/lab itself from the path so its modules cannot shadow anything.
    _here = Path(__file__).resolve().parent
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _here]
    sys.path.insert(0, str(_here.parent))

from lab import Lab, LabError, prereq, state


def _up(args: argparse.Namespace) -> int:
    env = dict(kv.split("=", 1) for kv in args.pebble_env)
    lab = Lab.start(lag=args.lag, pebble_env=env, keep_workdir=args.keep)
    stop = False

    def on_signal(signum: int, _frame: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        print(json.dumps(lab.facts(), indent=2), flush=True)
        print(f"lab {lab.id} is up; Ctrl-C or SIGTERM to stop", file=sys.stderr, flush=True)
        while not stop:
            signal.pause()
    finally:
        lab.stop()
        print(f"lab {lab.id} stopped", file=sys.stderr)
    return 0


def _down_stale(_args: argparse.Namespace) -> int:
    removed = state.remove_stale(ip=str(prereq.check()["ip"]))
    print(json.dumps({"removed": removed}))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python tests/lab", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start a lab, print its facts as JSON, run until stopped")
    up.add_argument("--lag", type=float, default=0.0, help="secondary lag in seconds")
    up.add_argument(
        "--pebble-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="Pebble env override",
    )
    up.add_argument("--keep", action="store_true", help="keep the work directory after stopping")
    up.set_defaults(func=_up)
    down = sub.add_parser("down-stale", help="remove labs whose owner process is gone")
    down.set_defaults(func=_down_stale)
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except LabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
