"""The day's contacts judged once (`contacts_day`): what every detector of the day reads its probes from."""

from __future__ import annotations

from datetime import date

import duckdb

from pipelines import catalog
from pipelines.detect import STORED_CONTACTS, install_group_macro, install_probe_rules
from pipelines.duck import STAGED
from pipelines.settings import Settings
from pipelines.sqlfiles import read_sql

# The staged rows of the builder, temporary tables of its connection (DuckDB spills them past its limit);
# the step drops them once the rows are stored (pipelines.duck.drop_staged).
JUDGED = f"{STAGED}contacts_judged"
USED = f"{STAGED}contacts_used"


def contacts_day(con: duckdb.DuckDBPyConnection, day: date, settings: Settings) -> duckdb.DuckDBPyRelation:
    """The day's opened records of `events` in `con`, judged and marked (sql/detect/contacts_day.sql), as a relation.

    The judgement and the used services are staged in temporary tables: as views, the marks would judge
    every conversation three times over (the records, then the used services of each kind), and a
    10 M-event day under a 500 MB limit ran out of memory. A relation, not a table: the step writes it
    to the lake as DuckDB streams it, so a 50 M-event day is never held whole in memory.
    """
    install_group_macro(con)
    columns = ", ".join(
        f'"{c}"' for c in catalog.table(STORED_CONTACTS).schema.names if c not in ("to_used_port", "to_used_host")
    )
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {JUDGED} AS SELECT {columns} FROM ({read_sql('detect/contacts')}) WHERE opened"
    )
    con.execute(f"CREATE OR REPLACE TEMP VIEW contacts AS SELECT * FROM {JUDGED}")
    con.execute(f"CREATE OR REPLACE TEMP VIEW host_outcomes AS {read_sql('detect/host_outcomes')}")
    install_probe_rules(con)
    con.execute(f"CREATE OR REPLACE TEMP TABLE {USED} AS SELECT * FROM used_services")
    con.execute(f"CREATE OR REPLACE TEMP VIEW used_services AS SELECT * FROM {USED}")
    return con.sql(catalog.table(STORED_CONTACTS).sql)
