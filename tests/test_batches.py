"""Ingest batches: a day's input files grouped by size into Airflow ingest tasks (`[airflow] ingest_batch_mb`)."""

from __future__ import annotations

from pathlib import Path

from pipelines.batches import MB, ingest_batches, sizes


def test_small_files_share_a_batch_and_a_large_one_is_alone() -> None:
    files = [("a", MB), ("b", 2 * MB), ("c", 10 * MB), ("d", MB // 2), ("e", MB // 2)]
    assert ingest_batches(files, 4) == [["a", "b"], ["c"], ["d", "e"]]
    assert ingest_batches(files, 100) == [["a", "b", "c", "d", "e"]]
    assert ingest_batches(files, 0) == [["a"], ["b"], ["c"], ["d"], ["e"]]  # one task per file, as before
    assert ingest_batches([], 64) == []


def test_every_file_is_in_exactly_one_batch_in_order(tmp_path: Path) -> None:
    paths = []
    for i, n in enumerate([5, 0, 300, 7, 120]):
        p = tmp_path / f"f{i}.log"
        p.write_bytes(b"x" * n)
        paths.append(str(p))
    paths.append(str(tmp_path / "gone.log"))  # vanished: size 0, ingest records why
    found = sizes(paths)
    assert [s for _, s in found] == [5, 0, 300, 7, 120, 0]
    batches = ingest_batches(found, 300 / MB)
    assert [p for b in batches for p in b] == paths
    assert all(sum(dict(found)[p] for p in b) <= 300 or len(b) == 1 for b in batches)
