"""Network namespaces: running ``ip``, and running Python code inside a namespace.

Code that must talk to lab servers (probes, ``txt_at``) runs on threads that have entered a
lab namespace with setns(2).  Sockets belong to the namespace of the thread that created
them, so those probes cost no subprocess and never touch the root namespace's network.
"""

from __future__ import annotations

import ctypes
import os
import subprocess
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import ParamSpec, TypeVar

from .errors import LabError

NETNS_RUN_DIR = Path("/run/netns")
NETNS_ETC_DIR = Path("/etc/netns")
_CLONE_NEWNET = 0x40000000

P = ParamSpec("P")
T = TypeVar("T")

_libc = ctypes.CDLL(None, use_errno=True)


def _enter(fd: int) -> None:
    # os.setns only exists from Python 3.12; the project supports 3.11.
    if _libc.setns(fd, _CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns: {os.strerror(err)}")


class NamespaceThreads:
    """A small thread pool whose threads live in one network namespace."""

    def __init__(self, netns: str, workers: int = 8) -> None:
        self.netns = netns
        try:
            self._fd = os.open(NETNS_RUN_DIR / netns, os.O_RDONLY | os.O_CLOEXEC)
        except OSError as exc:
            raise LabError(f"network namespace {netns} is not available: {exc}") from exc
        self._pool = ThreadPoolExecutor(
            max_workers=workers,
            thread_name_prefix=f"netns-{netns}",
            initializer=_enter,
            initargs=(self._fd,),
        )

    def submit(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        return self._pool.submit(fn, *args, **kwargs)

    def call(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        return self._pool.submit(fn, *args, **kwargs).result()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        os.close(self._fd)


def run_ip(args: Sequence[str], *, ip: str = "ip", input: str | None = None) -> str:
    """Run one ``ip`` command (or a ``-batch -``); raise LabError with its stderr on failure."""
    argv = [ip, *args]
    try:
        done = subprocess.run(
            argv, input=input, capture_output=True, text=True, timeout=30, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise LabError(f"{' '.join(argv)} hung for 30 s") from exc
    if done.returncode != 0:
        detail = done.stderr.strip() or done.stdout.strip()
        raise LabError(f"{' '.join(argv)} failed ({done.returncode}): {detail}")
    return done.stdout


def existing_namespaces() -> set[str]:
    try:
        return {p.name for p in NETNS_RUN_DIR.iterdir()}
    except FileNotFoundError:
        return set()


def namespace_pids(netns: str, *, ip: str = "ip") -> list[int]:
    """Pids of every process whose network namespace is ``netns``."""
    try:
        out = run_ip(["netns", "pids", netns], ip=ip)
    except LabError:
        return []
    return [int(tok) for tok in out.split() if tok.isdigit()]
