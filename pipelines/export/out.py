"""Where `scansense export --out` may write: a new regular file in a folder the user owns, or stdout.

Whatever is at the path decides nothing by accident: a symlink (`/dev/stdout` included), a folder,
a FIFO, a device or a socket is refused, as is a folder owned by someone else or one that refuses a
new file, in one line before any work. The file is written under a temporary name created beside it
(`O_EXCL`, which also proves the folder writable) and renamed over the path at the end; refused or
failed, nothing is left behind (folders created for it included).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

STDOUT = "-"  # `--out -`: standard output


class OutRefused(Exception):
    """An `--out` that is not written; the message is one line naming the path and why."""


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISLNK, "a symlink"),
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
    ):
        if test(mode):
            return name
    return "not a regular file"


def _existing_folder(folder: Path) -> Path:
    """The nearest folder of `folder` or its parents that exists (the one a new file lands under)."""
    while not os.path.lexists(folder) and folder != folder.parent:
        folder = folder.parent
    return folder


def check_out(out: str) -> Path | None:
    """The absolute path `out` names, or None for standard output; OutRefused when it may not be written."""
    if out == STDOUT:
        return None
    path = Path(os.path.abspath(out))
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        mode = None
    except OSError as exc:
        raise OutRefused(f"--out {out}: cannot look at it: {exc.strerror or exc}") from None
    if mode is not None and not stat.S_ISREG(mode):
        raise OutRefused(
            f"--out {out}: is {_kind(mode)}, not replaced: name a new file in a folder of yours, "
            "or `--out -` for standard output"
        )
    folder = _existing_folder(path.parent)
    try:
        info = os.stat(folder)
    except OSError as exc:
        raise OutRefused(f"--out {out}: cannot look at folder {folder}: {exc.strerror or exc}") from None
    if not stat.S_ISDIR(info.st_mode):
        raise OutRefused(f"--out {out}: {folder} is {_kind(info.st_mode)}, not a folder")
    if info.st_uid != os.geteuid():
        raise OutRefused(f"--out {out}: folder {folder} is not owned by this user (uid {os.geteuid()})")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutRefused(f"--out {out}: folder {folder} is not writable")
    return path


class OutFile:
    """A claimed `--out`: folders made and a temporary file created beside the path, renamed over it by `commit`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        self.made: list[Path] = []
        self.fd: int | None = None
        try:
            for folder in reversed([p for p in path.parents if not os.path.lexists(p)]):
                folder.mkdir()
                self.made.append(folder)
            self.fd = os.open(self.tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        except OSError as exc:
            self.close()
            raise OutRefused(f"--out {path}: cannot create a file there: {exc.strerror or exc}") from None

    def commit(self, text: str) -> None:
        """Write `text` (UTF-8) and rename the file over the path."""
        assert self.fd is not None
        with os.fdopen(self.fd, "w", encoding="utf-8") as fh:
            self.fd = None
            fh.write(text)
        os.replace(self.tmp, self.path)
        self.made.clear()

    def close(self) -> None:
        """Remove what was made for the path unless it was committed (idempotent)."""
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
        self.tmp.unlink(missing_ok=True)  # after commit it was renamed: nothing to remove
        for folder in reversed(self.made):
            try:
                folder.rmdir()
            except OSError:
                break
        self.made.clear()


def claim_out(out: str) -> OutFile | None:
    """Check `out` and claim it (`OutFile`), or None for standard output; OutRefused (one line) when refused."""
    path = check_out(out)
    return None if path is None else OutFile(path)
