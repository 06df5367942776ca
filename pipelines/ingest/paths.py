"""Which paths ingest reads: regular files only, never through a symlink unless settings allow it.

`find_inputs` expands the paths it is given (folders recursively, sorted; hidden and still-open
files left out) into `Input`s: a regular file to read, or a path that is reported and not read (a
symlink, a FIFO, a device, a socket, a folder that cannot be listed, a path that does not exist).
With `[ingest] follow_links = true`, a symlink is read when its target is a regular file inside
the landing root (`paths.landing`, or the folder being walked when the path is not under it).
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from pipelines.ingest.streams import file_kind
from pipelines.settings import Settings

SKIP_SUFFIXES = (".part", ".tmp")  # files still being written (the sensor's open dump)


@dataclass
class Input:
    """One path found: `read` is the regular file to read, or None with `problem` saying why not."""

    path: Path  # absolute, as found (a link's own path), not resolved
    read: Path | None
    problem: str | None = None
    status: str = "refused"  # when not read: refused (not a regular file), error (unlistable), missing
    argument: bool = False  # named on the command line (rather than found in a folder)


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def _check(path: str, root: str | None, settings: Settings, argument: bool = False) -> Input:
    """Judge one absolute path found under the lexical `root` (None: only its last component is judged)."""
    p = Path(path)
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return Input(p, None, "no such file or folder", "missing", argument)
    except OSError as exc:
        return Input(p, None, f"cannot read: {exc.strerror or exc}", "error", argument)
    if stat.S_ISLNK(mode):
        return _link(p, root, settings, argument)
    if not stat.S_ISREG(mode):
        return Input(p, None, f"not a regular file but a {file_kind(mode)}: not read", "refused", argument)
    base = root or os.path.dirname(path)
    real = os.path.realpath(path)
    if real != os.path.join(os.path.realpath(base), os.path.relpath(path, base)):
        return _link(p, root, settings, argument, via_folder=True)
    return Input(p, p, argument=argument)


def _link(p: Path, root: str | None, settings: Settings, argument: bool, via_folder: bool = False) -> Input:
    what = "reached through a symlinked folder" if via_folder else "a symlink"
    landing = os.path.abspath(settings.paths.landing)
    base = landing if _inside(str(p), landing) else root
    if settings.ingest.follow_links and base is not None:
        real, real_base = os.path.realpath(p), os.path.realpath(base)
        try:
            regular = stat.S_ISREG(os.stat(real).st_mode)
        except OSError:
            regular = False
        if regular and _inside(real, real_base):
            return Input(p, Path(real), argument=argument)
        why = "its target is not a regular file inside the landing root"
    else:
        why = "links are not followed ([ingest] follow_links)"
    return Input(p, None, f"{what}: not read, {why}", "refused", argument)


def _walk(folder: str, root: str, settings: Settings, out: list[Input]) -> None:
    """Append the inputs under `folder` (sorted, hidden and open files left out); symlinks are not descended."""
    try:
        with os.scandir(folder) as it:
            entries = sorted(it, key=lambda e: e.name)
    except OSError as exc:
        out.append(Input(Path(folder), None, f"cannot list folder: {exc.strerror or exc}", "error"))
        return
    for e in entries:
        if e.name.startswith(".") or e.name.endswith(SKIP_SUFFIXES):
            continue
        if e.is_dir(follow_symlinks=False):
            _walk(e.path, root, settings, out)
        else:
            out.append(_check(e.path, root, settings))


def find_inputs(paths: list[Path], settings: Settings) -> list[Input]:
    """Every input under the paths given: folders walked recursively; each path judged (see module doc)."""
    out: list[Input] = []
    landing = os.path.abspath(settings.paths.landing)
    for arg in paths:
        path = os.path.abspath(arg)
        if os.path.isdir(path):  # a folder named on the command line is a root, even through a link
            _walk(path, path, settings, out)
            continue
        root = landing if _inside(path, landing) else None
        out.append(_check(path, root, settings, argument=True))
    return out
