"""Installed files: versioned directories and one ``live`` link that switches them together.

    <directory>/versions/0001/   privkey.pem cert.pem chain.pem fullchain.pem combined.pem
    <directory>/versions/0002/
    <directory>/live -> versions/0002
    <directory>/nginx.conf       the include file; names only live/... paths

Servers (through the snippet) and the files target's own paths (symlinks to
``live/<file>``) reach every file through ``live``, so one rename switches key
and certificate together: a crash at any moment leaves the old pair or the new
pair, never a key that does not match its certificate. The previous version
stays until pruned, so a rollback is one rename too.

``checkpoint(step)`` is called after each durable step; production passes a
no-op, the crash tests pass one that SIGKILLs the process there.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from certv6 import fsatomic
from certv6.errors import InstallError
from certv6.install import fsops
from certv6.install.targets import LINKABLE, MARKER, SECRET_FILES, VERSION_FILES
from certv6.syntax import VERSION_DIR

Checkpoint = Callable[[str], None]
ADOPTED = "versions/0000"  # files that were at the user's paths before certv6's first install


def _no_checkpoint(step: str) -> None:
    return None


class Deployment:
    def __init__(
        self,
        directory: Path,
        *,
        uid: int = -1,
        gid: int = -1,
        key_mode: int = 0o600,
        cert_mode: int = 0o644,
        checkpoint: Checkpoint | None = None,
    ) -> None:
        self.directory = directory
        self.live = directory / "live"
        self.versions = directory / "versions"
        self._owner = (uid, gid)
        self._modes = {"key": key_mode, "cert": cert_mode}
        self._checkpoint = checkpoint or _no_checkpoint

    def live_version(self) -> str | None:
        """``versions/NNNN`` that ``live`` points at, None before the first install."""
        return fsops.read_link(self.live)

    def stage(self, files: Mapping[str, bytes]) -> str:
        """Write a complete new version directory (under a dot-name, then renamed)."""
        fsops.make_dir(self.versions)
        self._remove_leftovers()
        numbers = [int(p.name) for p in self._numbered()]
        name = f"{max([0, *numbers]) + 1:04d}"
        incoming = fsops.make_dir(self.versions / f".incoming-{name}")
        for filename in VERSION_FILES:
            self._write(incoming / filename, files[filename])
            self._checkpoint(f"stage:{filename}")
        fsops.fsync_dir(incoming)
        fsops.rename(incoming, self.versions / name)
        self._checkpoint("stage:done")
        return f"versions/{name}"

    def switch(self, version: str) -> None:
        """Point ``live`` at ``version``: every file changes in this one rename."""
        fsops.point_link(self.live, version)
        self._checkpoint(f"switch:{version}")

    def adopt(self, links: Mapping[str, Path]) -> None:
        """Before the first install, copy what the user's paths hold into ``versions/0000``.

        The paths then become links that show the same bytes as before, so
        turning them into links one by one never mixes an old key with a new
        certificate; the later switch of ``live`` changes them all at once.
        """
        if self.live_version() is not None:
            return
        found = {LINKABLE[key]: path for key, path in links.items() if _is_file(path)}
        if not found:
            return
        fsops.make_dir(self.versions)
        self._remove_leftovers()
        if (self.directory / ADOPTED).exists():
            # An adoption killed before ``live`` existed; the user's paths were not
            # touched yet (they change only after the switch), so copy them afresh.
            self.discard(ADOPTED)
        incoming = fsops.make_dir(self.versions / ".incoming-0000")
        for filename, path in found.items():
            _copy_with_owner(path, incoming / filename)
        fsops.fsync_dir(incoming)
        fsops.rename(incoming, self.directory / ADOPTED)
        self._checkpoint("adopt")
        self.switch(ADOPTED)

    def link_paths(self, links: Mapping[str, Path]) -> None:
        """Make each of the user's paths a symlink to ``live/<file>`` (once; then it stays)."""
        self.sweep({path.parent for path in links.values()})
        for key, path in links.items():
            target = self.live / LINKABLE[key]
            if not (path.is_symlink() and fsops.read_link(path) == str(target)):
                fsops.make_dir(path.parent)
                fsops.point_link(path, target)
                self._checkpoint(f"link:{key}")

    def write_snippet(self, path: Path, text: str) -> bool:
        """Write the include file if it differs; refuse to overwrite a file certv6 did not write.

        Returns True when the file changed.
        """
        try:
            old = path.read_text() if path.exists() else None
        except OSError as error:
            raise InstallError(f"cannot read {path}: {error.strerror}", step="write") from error
        if old == text:
            return False
        if old is not None and not old.startswith(MARKER):
            raise InstallError(
                f"{path} exists and was not written by certv6; not overwriting it",
                step="write",
                hint="choose another snippet = ... path, or move your file away",
            )
        fsops.make_dir(path.parent)
        fsops.write_file(path, text.encode(), mode=0o644, uid=self._owner[0], gid=self._owner[1])
        fsops.fsync_dir(path.parent)
        self._checkpoint("snippet")
        return True

    def discard(self, version: str) -> None:
        """Remove a version that failed; hidden by one rename first, so never seen half-gone."""
        doomed = self.versions / f".discard-{Path(version).name}"
        fsops.rename(self.directory / version, doomed)
        shutil.rmtree(doomed, ignore_errors=True)
        self._checkpoint("discard")

    def prune(self, keep: int) -> list[str]:
        """Remove the oldest versions beyond ``keep``; never the one ``live`` points at."""
        live = self.live_version()
        removable = [p for p in self._numbered() if f"versions/{p.name}" != live]
        doomed = removable[: max(0, len(removable) - (keep - 1))]
        for path in doomed:
            self.discard(f"versions/{path.name}")
        return [path.name for path in doomed]

    def _write(self, path: Path, data: bytes) -> None:
        mode = self._modes["key" if path.name in SECRET_FILES else "cert"]
        fsops.write_file(path, data, mode=mode, uid=self._owner[0], gid=self._owner[1])

    def _numbered(self) -> list[Path]:
        if not self.versions.is_dir():
            return []
        return sorted(p for p in self.versions.iterdir() if VERSION_DIR.fullmatch(p.name))

    def _remove_leftovers(self) -> None:
        # Dot-directories are what a killed run left mid-write; nothing points at them.
        for leftover in self.versions.glob(".incoming-*"):
            shutil.rmtree(leftover, ignore_errors=True)
        for leftover in self.versions.glob(".discard-*"):
            shutil.rmtree(leftover, ignore_errors=True)
        self.sweep([self.directory])

    def sweep(self, directories: Iterable[Path]) -> None:
        """Temp files and links of dead certv6 writers (``.x.certv6-PID...tmp``) in each."""
        for directory in directories:
            try:
                fsatomic.sweep(directory)
            except OSError as error:
                raise InstallError(
                    f"cannot clean up {directory}: {error.strerror}", step="write"
                ) from error


def _copy_with_owner(source: Path, destination: Path) -> None:
    try:
        shutil.copy2(source, destination)
        info = source.stat()
        with contextlib.suppress(PermissionError):
            os.chown(destination, info.st_uid, info.st_gid)
    except OSError as error:
        raise InstallError(
            f"cannot keep a copy of {source}: {error.strerror}", step="write"
        ) from error


def _is_file(path: Path) -> bool:
    return path.is_file()  # follows links: a certbot live/ link is adopted by content
