"""Ingest's side of the one definition of a valid event (`pipelines.schema`, "what a valid event is").

Every chunk a parser yields passes `check_events` before it reaches the lake, so whatever enters
`events` satisfies the critical data-quality checks by construction; a row that does not is
quarantined with the rule it breaks.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipelines.ingest.arrowtext import ip_text_ok
from pipelines.schema import (
    EVENT_NOT_NULL,
    PORT_COLUMNS,
    PORT_MAX,
    PORT_MIN,
    SOURCE_KINDS,
    TEXT_LIMIT,
    TS_MAX,
    TS_MIN,
    quarantine_row,
)

_PROTOS = pa.array(sorted({"tcp", "udp", "icmp", "icmpv6", *(str(n) for n in range(256))}))
_KINDS = pa.array(SOURCE_KINDS)
_DAY_US = 86_400_000_000
# Free text in events (much of it attacker-controlled): values longer than the limit are cut.
TEXT_COLUMNS = ("tcp_flags", "conn_state", "action", "http_method", "uri", "user_agent", "username")
TEXT_COLUMNS += ("payload_hex", "label", "attack_type", "sensor")

EVENT_RULES = [
    *(f"{c} is null" for c in EVENT_NOT_NULL),
    "src_ip is not an address in canonical text",
    "dst_ip is not an address in canonical text",
    *(f"{c} outside {PORT_MIN}..{PORT_MAX}" for c in PORT_COLUMNS),
    "proto is not tcp, udp, icmp, icmpv6 or a protocol number",
    f"source_kind not one of {', '.join(SOURCE_KINDS)}",
    f"ts outside {TS_MIN.date()}..{TS_MAX.date()} or not on event_date",
]
_RULE_COLUMNS = [*EVENT_NOT_NULL, "src_ip", "dst_ip", *PORT_COLUMNS, "proto", "source_kind", "ts"]


def event_problems(table: pa.Table, check_ips: bool = True) -> np.ndarray:
    """Per row, the number (1-based) of the first rule of `EVENT_RULES` it breaks; 0 for a valid event.

    `check_ips=False` trusts the address text (written by the canonical writers) and checks only that src_ip is set.
    """
    n = table.num_rows
    out = np.zeros(n, np.int8)

    def mark(rule: int, bad: np.ndarray) -> None:
        out[(out == 0) & bad] = rule

    if n == 0:
        return out
    for i, name in enumerate(EVENT_NOT_NULL):
        if table[name].null_count:
            mark(i + 1, np.asarray(table[name].is_null(), bool))
    k = len(EVENT_NOT_NULL)
    dst = table["dst_ip"].combine_chunks()
    if check_ips:
        mark(k + 1, ~ip_text_ok(table["src_ip"].combine_chunks()))
    if check_ips and dst.null_count < n:
        mark(k + 2, ~(ip_text_ok(dst) | np.asarray(dst.is_null(), bool)))
    for j, name in enumerate(PORT_COLUMNS):
        port = table[name]
        if port.null_count < n:
            low, high = pc.min_max(port).values()
            if low.as_py() < PORT_MIN or high.as_py() > PORT_MAX:
                bad = pc.or_(pc.less(port, PORT_MIN), pc.greater(port, PORT_MAX)).fill_null(False)
                mark(k + 3 + j, np.asarray(bad, bool))
    mark(k + 5, ~np.asarray(pc.is_in(table["proto"], value_set=_PROTOS), bool))
    mark(k + 6, ~np.asarray(pc.is_in(table["source_kind"], value_set=_KINDS), bool))
    us = table["ts"].combine_chunks().cast(pa.int64()).fill_null(0).to_numpy()
    day = table["event_date"].combine_chunks().cast(pa.int32()).fill_null(0).to_numpy()
    low, high = int(TS_MIN.timestamp()) * 1_000_000, int(TS_MAX.timestamp()) * 1_000_000
    mark(k + 7, (us < low) | (us >= high) | (us // _DAY_US != day))
    return out


def bound_text(table: pa.Table, limit: int = TEXT_LIMIT) -> pa.Table:
    """`table` with every value of the free-text columns cut to `limit` characters."""
    for name in TEXT_COLUMNS:
        col = table[name]
        if col.nbytes <= limit or col.null_count == len(col) or (pc.max(pc.binary_length(col)).as_py() or 0) <= limit:
            continue
        i = table.schema.get_field_index(name)
        table = table.set_column(i, name, pc.utf8_slice_codeunits(col, 0, limit))
    return table


def check_events(table: pa.Table, text_limit: int = TEXT_LIMIT, check_ips: bool = True) -> tuple[pa.Table, list[dict]]:
    """The valid events of `table` (free text bounded) and a quarantine row per other row, naming its rule."""
    problems = event_problems(table, check_ips)
    table = bound_text(table, text_limit)
    if not problems.any():
        return table, []
    bad = np.flatnonzero(problems)
    columns = list(dict.fromkeys(["source_file", "source_location", *_RULE_COLUMNS]))
    picked = table.take(pa.array(bad)).select(columns)
    # As text: a time or day beyond Python's datetime range (year 0, year 10000) must not raise here.
    rows = pa.table({c: _as_text(picked[c]) for c in columns}).to_pylist()
    out = []
    for row, rule in zip(rows, problems[bad].tolist(), strict=True):
        column = _RULE_COLUMNS[rule - 1]
        raw = f"{column}={row[column]!r}"  # the value breaking the rule, as text
        out.append(quarantine_row(row["source_file"] or "", row["source_location"] or "", EVENT_RULES[rule - 1], raw))
    return table.filter(pa.array(problems == 0)), out


def _as_text(col: pa.ChunkedArray) -> pa.ChunkedArray:
    """A column as text for a quarantine row (times as microseconds when Arrow cannot write them)."""
    if pa.types.is_string(col.type):
        return col
    try:
        return pc.cast(col, pa.string())
    except pa.ArrowException:
        return pc.cast(pc.cast(col, pa.int64()), pa.string())
