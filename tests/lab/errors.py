"""Exceptions raised by the lab."""

from __future__ import annotations


class LabError(RuntimeError):
    """The lab could not do what was asked (start, probe, update, ...)."""


class LabUnavailable(LabError):
    """This machine cannot run the lab (not root, a binary is missing, ...).

    Test fixtures turn this into a skip, unless the environment insists on the lab.
    """


class NsupdateError(LabError):
    """nsupdate failed; ``stderr`` holds its diagnostics (e.g. ``update failed: REFUSED``)."""

    def __init__(self, message: str, *, returncode: int, stderr: str) -> None:
        super().__init__(message)
        self.returncode = returncode
        self.stderr = stderr
