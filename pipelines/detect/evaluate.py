"""Evaluation of the detectors against labels: paper 002's Table 2 on CIDDS-style flows (flow level),
and source-level precision/recall per detector and scan kind on generated landings."""

from __future__ import annotations

import csv
from collections import defaultdict
from dataclasses import replace
from datetime import date
from pathlib import Path

import duckdb

from pipelines.detect import fast, port_ratio, slow
from pipelines.schema import EVENTS_SCHEMA
from pipelines.settings import Settings

KIND_GROUPS = {
    "fast": ("fast_vertical", "fast_horizontal"),
    "slow": ("slow_vertical", "slow_horizontal"),
    "horizontal": ("fast_horizontal", "slow_horizontal"),
    "vertical": ("fast_vertical", "slow_vertical"),
    "distributed": ("distributed",),
    "udp": ("udp",),
    "research": ("research",),
}


def _load_flows(con: duckdb.DuckDBPyConnection, flows: Path, settings: Settings) -> list[date]:
    """Parse a labelled flow CSV into table `events` with the project's own parser."""
    import pyarrow as pa

    from pipelines.ingest import iter_file

    tables = [chunk.events for chunk in iter_file(Path(flows), settings)]
    events = pa.concat_tables(tables) if tables else EVENTS_SCHEMA.empty_table()  # noqa: F841 (scanned by DuckDB)
    con.execute("CREATE OR REPLACE TABLE events AS SELECT * FROM events")
    return [r[0] for r in con.execute("SELECT DISTINCT event_date FROM events ORDER BY 1").fetchall()]


def _rates(con: duckdb.DuckDBPyConnection, alarm_sql: str) -> dict:
    """Flow-level rates: attack flows = CIDDS class 'attacker'; negatives = class 'normal'."""
    tp, fp, pos, neg = con.execute(
        f"""
        WITH a AS ({alarm_sql})
        SELECT count(*) FILTER (WHERE e.label = 'attacker' AND a.flow_id IS NOT NULL),
               count(*) FILTER (WHERE e.label = 'normal' AND a.flow_id IS NOT NULL),
               count(*) FILTER (WHERE e.label = 'attacker'),
               count(*) FILTER (WHERE e.label = 'normal')
        FROM flows AS e LEFT JOIN a USING (flow_id)
        """
    ).fetchone()
    alarms = tp + fp
    return {
        "detection_rate": tp / pos if pos else 0.0,
        "paper_fpr": fp / alarms if alarms else 0.0,  # paper 002's "false-positive rate": false alarms / all alarms
        "fpr": fp / neg if neg else 0.0,  # the ordinary false-positive rate: false alarms / benign flows
        "alarms": alarms,
        "attack_flows": pos,
        "benign_flows": neg,
    }


def eval_slow(flows: Path, settings: Settings, thresholds: list[float]) -> dict:
    """Paper 002's Table 2: per threshold, the persistent model's and the port-ratio baseline's rates."""
    con = duckdb.connect()
    days = _load_flows(con, flows, settings)
    con.execute("CREATE OR REPLACE TABLE flows AS SELECT row_number() OVER () AS flow_id, * FROM events")
    out: dict[str, list] = {"persistent": [], "port_ratio": []}
    for threshold in thresholds:
        params = replace(settings.slow, threshold=threshold, port_ratio_threshold=threshold)
        periods = [slow.scan_slow(con, d, params) for d in days]
        ratios = [port_ratio.port_ratio(con, d, params) for d in days]
        import pyarrow as pa

        periods_t = pa.concat_tables(periods)  # noqa: F841
        ratios_t = pa.concat_tables(ratios)  # noqa: F841
        con.execute("CREATE OR REPLACE TABLE periods AS SELECT * FROM periods_t WHERE is_scan")
        con.execute("CREATE OR REPLACE TABLE ratio_scans AS SELECT * FROM ratios_t WHERE is_scan")
        # A flow is alarmed by the persistent model when it is a probe inside a flagged growth period of its combination.
        persistent_alarms = """
            SELECT DISTINCT f.flow_id FROM flows AS f
            JOIN periods AS p ON p.src_ip = f.src_ip AND f.ts >= p.period_start AND f.ts < p.period_end
             AND ((p.kind = 'horizontal' AND p.fixed_value = CAST(f.dst_port AS VARCHAR))
               OR (p.kind = 'vertical' AND p.fixed_value = f.dst_ip))
            WHERE f.flow_id IN (SELECT flow_id FROM flows WHERE proto <> 'tcp' OR position('A' IN coalesce(tcp_flags, '')) = 0)
        """
        ratio_alarms = """
            SELECT f.flow_id FROM flows AS f JOIN ratio_scans AS r USING (src_ip)
            WHERE f.proto <> 'tcp' OR position('A' IN coalesce(f.tcp_flags, '')) = 0
        """
        out["persistent"].append({"threshold": threshold, **_rates(con, persistent_alarms)})
        out["port_ratio"].append({"threshold": threshold, **_rates(con, ratio_alarms)})
    return out


def eval_sources(landing: Path, truth: Path, settings: Settings) -> dict:
    """Source-level precision, recall and F1 of the fast threshold, the slow model and both, per kind."""
    from pipelines.ingest import ingest_paths
    from pipelines.warehouse import load_lake_table

    days = sorted(p.name for p in Path(landing).iterdir() if p.is_dir() and len(p.name) == 10)
    found: dict[str, set] = {"fast": set(), "slow": set()}
    sources: set[str] = set()
    for day_text in days:
        day = date.fromisoformat(day_text)
        ingest_paths([Path(landing) / day_text], settings, year=day.year)
        con = duckdb.connect()
        load_lake_table(con, settings.warehouse, "events", EVENTS_SCHEMA, day=day)
        sources |= {r[0] for r in con.execute("SELECT DISTINCT src_ip FROM events").fetchall()}
        found["fast"] |= set(fast.scan_fast(con, day, settings.fast)["src_ip"].to_pylist())
        slow_rows = slow.scan_slow(con, day, settings.slow).to_pylist()
        found["slow"] |= {r["src_ip"] for r in slow_rows if r["is_scan"]}
        con.close()
    found["combined"] = found["fast"] | found["slow"]
    kinds: dict[str, set] = defaultdict(set)
    scanners: set[str] = set()
    with open(truth, newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            if row["label"] == "scan":
                kinds[row["kind"]].add(row["src_ip"])
                scanners.add(row["src_ip"])
    scanners &= sources
    detectors = {}
    for name, flagged in found.items():
        tp, fp, fn = len(flagged & scanners), len(flagged - scanners), len(scanners - flagged)
        p = tp / (tp + fp) if tp + fp else 0.0
        r = tp / (tp + fn) if tp + fn else 0.0
        detectors[name] = {
            "precision": p,
            "recall": r,
            "f1": 2 * p * r / (p + r) if p + r else 0.0,
            "flagged": len(flagged),
            "true_positives": tp,
        }
    by_kind = {}
    for group, members in KIND_GROUPS.items():
        truth_set = set().union(*(kinds.get(k, set()) for k in members)) & sources
        by_kind[group] = {"sources": len(truth_set)} | {
            f"recall_{name}": (len(flagged & truth_set) / len(truth_set) if truth_set else None)
            for name, flagged in found.items()
        }
    return {"detectors": detectors, "kinds": by_kind, "scanners": len(scanners), "sources": len(sources)}
