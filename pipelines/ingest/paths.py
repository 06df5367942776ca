"""Which paths ingest reads: the one walk of a landing day, shared by `run`, `ingest` and the DAG.

`find_inputs` expands the paths it is given (real folders recursively, sorted) into `Input`s: a
regular file to read, or a path that is recorded and not read, with its status and reason:
refused (a symlink, to a file or a folder; a FIFO, a device, a socket; anything reached through a
symlinked folder), skipped (a hidden name starting with `.`, or a partial `.part` / `.tmp` file
still being written), error (a folder that cannot be listed) or missing. A linked folder is never
descended. With `[ingest] follow_links = true`, a symlink is read when its target is a regular
file inside the landing root (`paths.landing`, or the folder walked when the path is outside it).

`run` and the DAG list a day with `find_inputs([day folder])` and hand each path found back one by
one with `walked=True`: each is judged again exactly as the walk judged it (the folder may have
changed in between), so a link or a folder put there later is refused, never followed.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from pipelines.ingest.streams import file_kind
from pipelines.settings import Settings

# Files still being written (the sensor's open dump, other tools' temporary names): the DAG waits
# for the sensor's `.part` dumps to close; in a landing day they are recorded as skipped.
SKIP_SUFFIXES = (".part", ".tmp")


@dataclass
class Input:
    """One path found: `read` is the regular file to read, or None with `problem` saying why not."""

    path: Path  # absolute, as found (a link's own path), not resolved
    read: Path | None
    problem: str | None = None
    status: str = "refused"  # when not read: refused, skipped (hidden or partial), error (unlistable), missing
    argument: bool = False  # named on the command line (rather than found in a folder)


def skip_reason(name: str) -> str | None:
    """Why a name found in a folder is skipped (hidden or partial), or None when it is read."""
    if name.startswith("."):
        return "skipped: hidden file (its name starts with '.', as rsync's and editors' temporary files do): not read"
    if name.endswith(SKIP_SUFFIXES):
        return "skipped: partial file (.part or .tmp: still being written): not read"
    return None


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def _through_link(path: str, root: str | None) -> bool:
    """True when `path`, lexically under `root`, really lies elsewhere: a folder between them is a link."""
    if root is None:
        return False
    lexical = os.path.normpath(os.path.join(os.path.realpath(root), os.path.relpath(path, root)))
    return os.path.realpath(path) != lexical


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
    if _through_link(path, root or os.path.dirname(path)):
        return _link(p, root, settings, argument, via_folder=True)
    return Input(p, p, argument=argument)


def _link(p: Path, root: str | None, settings: Settings, argument: bool, via_folder: bool = False) -> Input:
    what = "reached through a symlinked folder" if via_folder else "a symlink"
    if not via_folder and os.path.isdir(p):
        return Input(p, None, "a symlink to a folder: never descended", "refused", argument)
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
    """Append the inputs under `folder`, sorted; hidden and partial names recorded as skipped, links never descended."""
    try:
        with os.scandir(folder) as it:
            entries = sorted(it, key=lambda e: e.name)
    except OSError as exc:
        out.append(Input(Path(folder), None, f"cannot list folder: {exc.strerror or exc}", "error"))
        return
    for e in entries:
        if reason := skip_reason(e.name):
            out.append(Input(Path(e.path), None, reason, "skipped"))
        elif e.is_dir(follow_symlinks=False):
            _walk(e.path, root, settings, out)
        else:
            out.append(_check(e.path, root, settings))


def find_inputs(paths: list[Path], settings: Settings, walked: bool = False) -> list[Input]:
    """Every input under the paths given, each judged (module doc); a real folder is walked, a linked one never.

    `walked`: the paths are ones a walk found (the DAG's mapped tasks), judged as the walk judges
    them (hidden and partial names skipped), not as names a person typed.
    """
    out: list[Input] = []
    landing = os.path.abspath(settings.paths.landing)
    for arg in paths:
        path = os.path.abspath(arg)
        root = landing if _inside(path, landing) else None
        if walked and (reason := skip_reason(os.path.basename(path))):
            out.append(Input(Path(path), None, reason, "skipped"))
            continue
        try:
            is_folder = stat.S_ISDIR(os.lstat(path).st_mode)  # lstat: a link to a folder is judged as a link
        except OSError:
            is_folder = False
        if is_folder and _through_link(path, root):
            problem = "a folder reached through a symlinked folder: never descended"
            out.append(Input(Path(path), None, problem, "refused", not walked))
        elif is_folder:
            _walk(path, path, settings, out)
        else:
            out.append(_check(path, root, settings, argument=not walked))
    return out
