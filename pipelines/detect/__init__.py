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


def install_probe_rules(con: duckdb.DuckDBPyConnection) -> None:
    """Create the `service_hosts`, `used_services` and `probes` views over `host_outcomes` and `probe_candidates`.

    The one statement of which services a source uses and which candidates they leave out: over the day's
    contacts (`ensure_probes`) or over the stored day rows of the span model (pipelines/detect/slow.py).
    """
    con.execute(f"CREATE OR REPLACE TEMP VIEW service_hosts AS {read_sql('detect/service_hosts')}")
    con.execute(f"CREATE OR REPLACE TEMP VIEW used_services AS {read_sql('detect/used_services')}")
    con.execute(f"CREATE OR REPLACE TEMP VIEW probes AS {read_sql('detect/probes')}")


def ensure_probes(con: duckdb.DuckDBPyConnection) -> None:
    """Create the `contacts`, `used_services` and `probes` views (the one definition of a probe and its outcome) over `events`."""
    install_group_macro(con)
    con.execute(f"CREATE OR REPLACE TEMP VIEW contacts AS {read_sql('detect/contacts')}")
    con.execute(f"CREATE OR REPLACE TEMP VIEW host_outcomes AS {read_sql('detect/host_outcomes')}")
    con.execute(f"CREATE OR REPLACE TEMP VIEW probe_candidates AS {read_sql('detect/probe_candidates')}")
    install_probe_rules(con)
