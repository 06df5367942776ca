"""Scan detectors: the dynamic threshold (paper 000), entropy windows and the persistent incremental
model (paper 002), the port-ratio baseline and coordinated (distributed) scans (Gates 2009). Each takes a DuckDB connection holding `events`
(the day's events) and returns a pyarrow table; the probe definition they share is `sql/detect/probes.sql`.
Each output table is documented by its file in `sql/detect/` (see `pipelines.catalog`).
"""

from __future__ import annotations

import duckdb

from pipelines.sqlfiles import read_sql


def install_group_macro(con: duckdb.DuckDBPyConnection) -> None:
    """Define (temporary) the macro `sent_to_group(dst_ip, proto)`: a record sent to a multicast or broadcast group.

    Its one definition is `sql/detect/group_macros.sql`; contacts.sql and a shard's events filter both use it.
    """
    con.execute(read_sql("detect/group_macros"))


# The day's stored rows a step reads in place of judging its events (sql/detect/contacts_day.sql).
STORED_CONTACTS = "contacts_day"


def install_probe_rules(con: duckdb.DuckDBPyConnection, marks: str = "") -> None:
    """Create the `service_hosts`, `used_services`, `service_marks`, `probe_candidates` and `probes` views.

    The one statement of which services a source uses and which records they leave out, over `contacts`
    and `host_outcomes`: the day's (`ensure_probes`) or the span model's stored day rows
    (pipelines/detect/slow.py). `marks`, when given, is the SQL of already marked rows (a day's stored
    `contacts_day`), which then stand for `service_marks`.
    """
    con.execute(f"CREATE OR REPLACE TEMP VIEW service_hosts AS {read_sql('detect/service_hosts')}")
    con.execute(f"CREATE OR REPLACE TEMP VIEW used_services AS {read_sql('detect/used_services')}")
    con.execute(f"CREATE OR REPLACE TEMP VIEW service_marks AS {marks or read_sql('detect/service_marks')}")
    con.execute(f"CREATE OR REPLACE TEMP VIEW probe_candidates AS {read_sql('detect/probe_candidates')}")
    con.execute(f"CREATE OR REPLACE TEMP VIEW probes AS {read_sql('detect/probes')}")


def has_relation(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    """True when `con` holds table or view `name` of its own (not temporary): a stored day table a step loaded."""
    sql = """SELECT count(*) FROM (SELECT table_name AS n FROM duckdb_tables() WHERE NOT temporary
             UNION ALL SELECT view_name FROM duckdb_views() WHERE NOT temporary) WHERE n = $n"""
    return con.execute(sql, {"n": name}).fetchone()[0] > 0


def ensure_probes(con: duckdb.DuckDBPyConnection) -> None:
    """Create the views of the one definition of a probe and its outcome (`contacts` ... `probes`) in `con`.

    Over the day's stored `contacts_day` when `con` holds it (every step of a day after that table's
    own), so the day's events are judged once; over `events` otherwise (the builder of `contacts_day`,
    the evaluation of labelled data, a missing day computed on a connection of its own).
    """
    install_group_macro(con)
    if has_relation(con, STORED_CONTACTS):
        stored = f'SELECT * FROM "{STORED_CONTACTS}"'
        con.execute(f"CREATE OR REPLACE TEMP VIEW contacts AS {stored}")
        con.execute(f"CREATE OR REPLACE TEMP VIEW host_outcomes AS {read_sql('detect/host_outcomes')}")
        install_probe_rules(con, marks=stored)
        return
    con.execute(f"CREATE OR REPLACE TEMP VIEW contacts AS {read_sql('detect/contacts')}")
    con.execute(f"CREATE OR REPLACE TEMP VIEW host_outcomes AS {read_sql('detect/host_outcomes')}")
    install_probe_rules(con)
