"""Group a day's input files into ingest tasks by size (`[airflow] ingest_batch_mb`).

One Airflow task per input file paid ~1.2-1.7 s of task start-up for each (48 hourly files of a
200,000-event day: 44-46 s of ingest tasks for 1.4 s of work, issue 27). Files are grouped, in
the order given, into batches of at most `batch_mb` MB; a file larger than that is a batch of its
own, so large days keep one task per large file and their parallelism. The function takes the
files with their sizes and returns paths, so it composes with however the day's files are found.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence

MB = 1024 * 1024


def sizes(paths: Iterable[str]) -> list[tuple[str, int]]:
    """(path, size in bytes) of each path; 0 for one that cannot be read (ingest records why)."""
    out = []
    for path in paths:
        try:
            out.append((str(path), os.lstat(path).st_size))
        except OSError:
            out.append((str(path), 0))
    return out


def ingest_batches(files: Sequence[tuple[str, int]], batch_mb: float) -> list[list[str]]:
    """Group (path, size) pairs, in order, into batches of at most `batch_mb` MB (a larger file alone).

    `batch_mb` <= 0 keeps one file per batch (the DAG's former one task per file).
    """
    limit = batch_mb * MB
    batches: list[list[str]] = []
    current: list[str] = []
    total = 0
    for path, size in files:
        if current and (limit <= 0 or total + size > limit):
            batches.append(current)
            current, total = [], 0
        current.append(path)
        total += size
    if current:
        batches.append(current)
    return batches
