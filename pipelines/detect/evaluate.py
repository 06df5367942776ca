"""Evaluation of the detectors against labels: paper 002's Table 2 on CIDDS-style flows (flow level),
and source-level precision/recall per detector and scan kind on generated landings."""

from __future__ import annotations

import csv
from collections import defaultdict
from dataclasses import replace
from datetime import date
from pathlib import Path

import duckdb
import pyarrow as pa

from pipelines.detect import distributed, ensure_probes, fast, port_ratio, slow, trw
from pipelines.layout import landing_layout
from pipelines.schema import EVENTS_SCHEMA
from pipelines.settings import Settings

# Scan kinds of truth.csv grouped the way the issue reports recall.
KIND_GROUPS = {
    "fast": ("fast_vertical", "fast_horizontal"),
    "slow": ("slow_vertical", "slow_horizontal"),
    "horizontal": ("fast_horizontal", "slow_horizontal"),
    "vertical": ("fast_vertical", "slow_vertical"),
    "distributed": ("distributed",),
    "udp": ("udp",),
    "research": ("research",),
}

# Truth from the labels in the data (`eval sources --truth labels`), one source at a time: malicious
# when any of its records carries a malicious label, benign when every labelled record is benign,
# unscored when none is labelled either way. Benign: IoT-23/Stratosphere `Benign`, CIC `BENIGN`,
# CIDDS `normal`, and CIDDS `victim` (a victim's replies to an attack: the host attacks no one).
# No verdict: Stratosphere/CTU `Background` and CIDDS `suspicious`/`unknown` (traffic nobody
# labelled). Any other label is malicious (IoT-23 `Malicious`, CIC attack names, CIDDS `attacker`).
BENIGN_LABELS = ("benign", "normal", "victim")
UNLABELLED = ("", "-", "background", "unknown", "suspicious")
LABEL_TRUTH = """
    SELECT src_ip,
           bool_or(verdict = 'malicious') AS malicious,
           bool_or(verdict = 'benign') AS benign,
           -- a scan by its label or attack type: IoT-23 PartOfAHorizontalPortScan, CIC PortScan, CIDDS portScan
           bool_or(verdict = 'malicious' AND (contains(lower(coalesce(label, '')), 'scan')
                   OR contains(lower(coalesce(attack_type, '')), 'scan'))) AS scan
    FROM (
        SELECT src_ip, label, attack_type,
               CASE WHEN label IS NULL OR list_contains($unlabelled, lower(trim(label))) THEN NULL
                    WHEN list_contains($benign, lower(trim(label))) THEN 'benign'
                    ELSE 'malicious' END AS verdict
        FROM events
    )
    GROUP BY src_ip
"""
# Kinds of label truth: labelled scans, and the other malicious sources (C&C, DDoS, brute force...).
LABEL_GROUPS = {"scan": ("scan",), "other_malicious": ("other_malicious",)}


def label_verdicts(con: duckdb.DuckDBPyConnection) -> dict[str, tuple[bool, bool, bool]]:
    """Per source of `events`: (has a malicious label, has a benign label, has a label naming a scan)."""
    params = {"benign": list(BENIGN_LABELS), "unlabelled": list(UNLABELLED)}
    return {src: (bool(m), bool(b), bool(sc)) for src, m, b, sc in con.execute(LABEL_TRUTH, params).fetchall()}


def read_labelled_flows(flows: Path, settings: Settings) -> pa.Table:
    """Parse a labelled flow file (CIDDS `class` -> label, `attackType` -> attack_type) with ingest's parser."""
    from pipelines.ingest import iter_file

    tables = [chunk.events for chunk in iter_file(Path(flows), settings) if chunk.events is not None]
    return pa.concat_tables(tables) if tables else EVENTS_SCHEMA.empty_table()


def _rates(con: duckdb.DuckDBPyConnection, alarms: str) -> dict:
    """Flow-level rates of the flows in table `alarms` (flow_id): scan flows against benign ones.

    Positives are the scanners' flows (CIDDS class `attacker` with attackType portScan, or any
    attacker flow when the file carries no attack types); negatives are class `normal`. Alarms on
    other flows (victims' replies, other attacks) are counted apart and in neither rate.
    """
    tp, fp, pos, neg, other = con.execute(
        f"""
        SELECT count(*) FILTER (WHERE f.is_scan_flow AND a.flow_id IS NOT NULL),
               count(*) FILTER (WHERE f.label = 'normal' AND a.flow_id IS NOT NULL),
               count(*) FILTER (WHERE f.is_scan_flow),
               count(*) FILTER (WHERE f.label = 'normal'),
               count(*) FILTER (WHERE NOT f.is_scan_flow AND f.label IS DISTINCT FROM 'normal' AND a.flow_id IS NOT NULL)
        FROM _eval_flows AS f LEFT JOIN "{alarms}" AS a USING (flow_id)
        """
    ).fetchone()
    flagged = tp + fp
    return {
        "detection_rate": tp / pos if pos else 0.0,
        "paper_fpr": fp / flagged if flagged else 0.0,  # paper 002's "false-positive rate": false alarms / all alarms
        "fpr": fp / neg if neg else 0.0,  # the ordinary false-positive rate: false alarms / benign flows
        "alarms": flagged,
        "other_alarms": other,
        "attack_flows": pos,
        "benign_flows": neg,
    }


def _dated(table: pa.Table, day: date) -> pa.Table:
    """Add the day as column event_date (detector outputs leave it to the caller)."""
    return table.append_column("event_date", pa.array([day] * table.num_rows, pa.date32()))


def eval_slow(flows: Path, settings: Settings, thresholds: list[float]) -> dict:
    """Paper 002's Table 2: per threshold, the persistent model's and the port-ratio baseline's rates.

    A flow is alarmed by the persistent model when it is a probe inside a growth period judged a
    scan of its own combination, and by the port ratio when it is a probe of a source judged a scan.
    Each detector runs once; a threshold only changes the judgment (cond_entropy >= t, ratio > t).
    """
    con = duckdb.connect()
    events = read_labelled_flows(flows, settings)
    con.register("_eval_events", events)
    con.execute(
        """
        CREATE TABLE _eval_flows AS
        SELECT row_number() OVER () AS flow_id, *,
               label = 'attacker' AND (attack_type IS NULL OR attack_type IN ('---', '') OR lower(attack_type) = 'portscan')
                   AS is_scan_flow
        FROM _eval_events
        """
    )
    con.unregister("_eval_events")
    # the detectors read `events`; the extra flow_id / is_scan_flow columns pass through `probes`
    con.execute("CREATE VIEW events AS SELECT * FROM _eval_flows")
    ensure_probes(con)
    days = [r[0] for r in con.execute("SELECT DISTINCT event_date FROM events ORDER BY 1").fetchall()]
    base = replace(settings.slow, threshold=min(thresholds, default=0.0))
    periods = pa.concat_tables([slow.scan_slow(con, d, base) for d in days]) if days else None
    ratios = pa.concat_tables([_dated(port_ratio.port_ratio(con, d, settings.slow), d) for d in days]) if days else None
    con.register(
        "_eval_periods", periods if periods is not None else pa.table({"cond_entropy": pa.array([], pa.float64())})
    )
    con.register("_eval_ratios", ratios if ratios is not None else pa.table({"ratio": pa.array([], pa.float64())}))
    out: dict[str, list] = {"persistent": [], "port_ratio": []}
    for threshold in thresholds:
        params = {"t": threshold}
        if days:
            con.execute(
                """
                CREATE OR REPLACE TEMP TABLE _alarm_persistent AS
                SELECT DISTINCT p.flow_id
                FROM probes AS p
                JOIN _eval_periods AS s
                  ON s.src_ip = p.src_ip AND p.ts >= s.period_start AND p.ts < s.period_end
                 AND s.fixed_value = CASE s.kind WHEN 'horizontal' THEN CAST(p.dst_port AS VARCHAR) ELSE p.dst_ip END
                WHERE s.cond_entropy >= $t
                """,
                params,
            )
            con.execute(
                """
                CREATE OR REPLACE TEMP TABLE _alarm_ratio AS
                SELECT DISTINCT p.flow_id
                FROM probes AS p
                JOIN _eval_ratios AS r ON r.src_ip = p.src_ip AND r.event_date = p.event_date
                WHERE r.ratio > $t AND r.distinct_pairs >= r.min_pairs
                """,
                params,
            )
        else:
            con.execute("CREATE OR REPLACE TEMP TABLE _alarm_persistent AS SELECT NULL::BIGINT AS flow_id LIMIT 0")
            con.execute("CREATE OR REPLACE TEMP TABLE _alarm_ratio AS SELECT NULL::BIGINT AS flow_id LIMIT 0")
        out["persistent"].append({"threshold": threshold, **_rates(con, "_alarm_persistent")})
        out["port_ratio"].append({"threshold": threshold, **_rates(con, "_alarm_ratio")})
    con.close()
    return out


def _scores(flagged: set[str], scanners: set[str]) -> dict:
    """Precision, recall and F1 of one detector's flagged sources."""
    tp, fp, fn = len(flagged & scanners), len(flagged - scanners), len(scanners - flagged)
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return {
        "precision": p,
        "recall": r,
        "f1": 2 * p * r / (p + r) if p + r else 0.0,
        "flagged": len(flagged),
        "true_positives": tp,
    }


def _kind_scores(flagged: set[str], kind: set[str], benign: set[str]) -> dict:
    """Recall of one kind, and precision as if that kind were the only scanners.

    Precision per kind counts the detector's hits of the kind against its false alarms (flagged
    sources that are no scanner at all); scanners of other kinds count in neither, so a detector
    that finds only horizontal scans is not charged for them on the vertical row.
    """
    hits, false = len(flagged & kind), len(flagged & benign)
    return {
        "recall": hits / len(kind) if kind else None,
        "precision": hits / (hits + false) if hits + false else None,
    }


def _steps(rows: list[dict], scanners: set[str]) -> dict:
    """TRW's first contacts to a scanner decision (the walk's step count) over the true scanners it called."""
    steps = sorted(r["steps"] for r in rows if r["is_scan"] and r["src_ip"] in scanners)
    if not steps:
        return {"decided": 0, "median": None, "mean": None, "min": None, "max": None}
    mid = len(steps) // 2
    median = steps[mid] if len(steps) % 2 else (steps[mid - 1] + steps[mid]) / 2
    return {"decided": len(steps), "median": median, "mean": sum(steps) / len(steps), "min": steps[0], "max": steps[-1]}


def eval_sources(landing: Path, truth: Path | str, settings: Settings) -> dict:
    """Source-level precision and recall of every detector and of the combined verdict, overall and per kind.

    Ingests every `<landing>/<YYYY-MM-DD>/` folder into `settings.warehouse` (pass a scratch one),
    runs the detectors per day and compares the flagged sources with truth: the generator's
    truth.csv, or `"labels"`: the labels the data carries (`LABEL_TRUTH`; sources with no verdict
    are left out of every score and counted in `unlabelled`). A source counts as
    detected by `combined` when a detector that raises the risk score's traffic indicator flagged it
    (every detector but those of `risk.baseline_detectors`, the port ratio by default). `fast_modes`
    compares the threshold's mean and robust modes; `trw` gives the sources TRW could judge (those
    with outcome-bearing input) and the first contacts it needed to call each scanner.
    """
    from pipelines.ingest import ingest_paths
    from pipelines.warehouse import load_lake_table

    where = landing_layout(landing)
    found: dict[str, set] = {name: set() for name in ("fast", "slow", "port_ratio", "distributed", "trw")}
    other_mode = "robust" if settings.fast.mode == "mean" else "mean"
    by_mode: dict[str, set] = {settings.fast.mode: found["fast"], other_mode: set()}
    sources: set[str] = set()
    trw_rows: list[dict] = []
    from_labels = str(truth) == "labels"
    verdicts: dict[str, tuple[bool, bool, bool]] = {}
    for day in where.folder_days():
        ingest_paths([where.day_dir(day)], settings, year=day.year)
        con = duckdb.connect()
        load_lake_table(con, settings.warehouse, "events", EVENTS_SCHEMA, day=day)
        sources |= {r[0] for r in con.execute("SELECT DISTINCT src_ip FROM events").fetchall()}
        if from_labels:
            for src, seen in label_verdicts(con).items():
                before = verdicts.get(src, (False, False, False))
                verdicts[src] = tuple(a or b for a, b in zip(before, seen, strict=True))
        found["fast"] |= set(fast.scan_fast(con, day, settings.fast)["src_ip"].to_pylist())
        other = replace(settings.fast, mode=other_mode)
        by_mode[other_mode] |= set(fast.scan_fast(con, day, other)["src_ip"].to_pylist())
        slow_rows = slow.scan_slow(con, day, settings.slow).to_pylist()
        found["slow"] |= {r["src_ip"] for r in slow_rows if r["is_scan"]}
        found["port_ratio"] |= {
            r["src_ip"] for r in port_ratio.port_ratio(con, day, settings.slow).to_pylist() if r["is_scan"]
        }
        found["distributed"] |= set(distributed.scan_distributed(con, day, settings.distributed)["src_ip"].to_pylist())
        rows = trw.scan_trw(con, day, settings.trw).to_pylist()
        trw_rows += rows
        found["trw"] |= {r["src_ip"] for r in rows if r["is_scan"]}
        con.close()
    baseline = {name.removeprefix("scan_") for name in settings.risk.baseline_detectors}
    found["combined"] = set().union(*(flagged for name, flagged in found.items() if name not in baseline))
    unlabelled = 0
    behaviours: dict[str, set] = {}
    if from_labels:
        kinds, scanners, benign = _label_truth(verdicts)
        unlabelled = len(sources - scanners - benign)
        sources = scanners | benign  # only sources with a verdict are scored
        found = {name: flagged & sources for name, flagged in found.items()}
        by_mode = {mode: flagged & sources for mode, flagged in by_mode.items()}
        groups = LABEL_GROUPS
    else:
        kinds, scanners = _file_truth(Path(truth))
        behaviours = _benign_behaviours(Path(truth))
        scanners &= sources  # a scanner with no event in the landing cannot be found
        benign = sources - scanners
        groups = KIND_GROUPS
    judged = {r["src_ip"] for r in trw_rows} & sources
    by_kind = {}
    for group, members in groups.items():
        truth_set = set().union(*(kinds.get(k, set()) for k in members)) & sources
        scores = {name: _kind_scores(flagged, truth_set, benign) for name, flagged in found.items()}
        by_kind[group] = (
            {"sources": len(truth_set), "trw_judged": len(truth_set & judged)}
            | {f"recall_{name}": v["recall"] for name, v in scores.items()}
            | {f"precision_{name}": v["precision"] for name, v in scores.items()}
        )
    return {
        "detectors": {name: _scores(flagged, scanners) for name, flagged in found.items()},
        "kinds": by_kind,
        "fast_modes": {mode: _scores(flagged, scanners) for mode, flagged in sorted(by_mode.items())},
        "trw": {
            "judged_sources": len(judged),
            "judged_scanners": len(judged & scanners),
            "pending": sum(r["decision"] == "pending" for r in trw_rows),
            "steps_to_scanner": _steps(trw_rows, scanners),
        },
        "combined_of": sorted(name for name in found if name != "combined" and name not in baseline),
        "scanners": len(scanners),
        "sources": len(sources),
        "truth": "labels" if from_labels else "file",
        "unlabelled": unlabelled,
        # benign behaviours of the truth file (ntp_client, browser, ...): how many of each every detector flagged
        "false_alarms": {
            kind: {"sources": len(members & sources)}
            | {name: len(flagged & members) for name, flagged in found.items()}
            for kind, members in sorted(behaviours.items())
        },
    }


def _file_truth(truth: Path) -> tuple[dict[str, set], set[str]]:
    """Scan kinds and scanners of the generator's truth.csv."""
    kinds: dict[str, set] = defaultdict(set)
    scanners: set[str] = set()
    with open(truth, newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            if row["label"] == "scan":
                kinds[row["kind"]].add(row["src_ip"])
                scanners.add(row["src_ip"])
    return kinds, scanners


def _benign_behaviours(truth: Path) -> dict[str, set]:
    """Benign sources of the generator's truth.csv by behaviour (its kind: ntp_client, browser, ...)."""
    kinds: dict[str, set] = defaultdict(set)
    with open(truth, newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            if row["label"] != "scan":
                kinds[row["kind"] or "benign"].add(row["src_ip"])
    return kinds


def _label_truth(verdicts: dict[str, tuple[bool, bool, bool]]) -> tuple[dict[str, set], set[str], set[str]]:
    """Kinds (labelled scans, other malicious), malicious and benign sources from the per-source label verdicts."""
    malicious = {src for src, (bad, _, _) in verdicts.items() if bad}
    benign = {src for src, (bad, good, _) in verdicts.items() if good and not bad}
    scans = {src for src, (bad, _, scan) in verdicts.items() if bad and scan}
    return {"scan": scans, "other_malicious": malicious - scans}, malicious, benign
