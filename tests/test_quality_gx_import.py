"""Great Expectations is imported without SQLAlchemy by a process that has not loaded it (the
`scansense` command), and as usual by one that has (an Airflow task); either way SQLAlchemy stays
importable. Fresh interpreters: the test session has imported both already."""

from __future__ import annotations

import subprocess
import sys

import pytest

PROBE = """
import sys
{before}
from pipelines import quality
quality.import_gx()
from great_expectations.compatibility.sqlalchemy import sqlalchemy as sa
seen = bool(sa)
import sqlalchemy
print(seen, sqlalchemy.__name__)
"""


@pytest.mark.parametrize(
    ("before", "gx_sees_sqlalchemy"),
    [("", False), ("import sqlalchemy", True)],
    ids=["sqlalchemy not loaded", "sqlalchemy already loaded"],
)
def test_gx_is_imported_without_sqlalchemy_only_when_nothing_loaded_it(before: str, gx_sees_sqlalchemy: bool) -> None:
    out = subprocess.run(
        [sys.executable, "-c", PROBE.format(before=before)], capture_output=True, text=True, check=True, timeout=300
    )
    assert out.stdout.split() == [str(gx_sees_sqlalchemy), "sqlalchemy"]
