"""Render synthetic records into the input formats ScanSense reads: CIDDS-001 flow CSV, UFW
firewall log (both built column-wise with Polars), sensor JSONL and honeypot JSON lines. The pcap
writer lives in `pcap.py`. Every writer takes records already in time order and returns the count."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

CIDDS_HEADER = (
    "Date first seen,Duration,Proto,Src IP Addr,Src Pt,Dst IP Addr,Dst Pt,Packets,Bytes,Flows,Flags,Tos,"
    "class,attackType,attackID,attackDescription"
)
TRUTH_FIELDS = ["src_ip", "label", "kind", "org", "start", "end"]
UFW_MAC = "52:54:00:7c:d8:0f:fe:54:00:7c:d8:0f:08:00"
UPTIME_AT_EPOCH = 1_700_000_000  # the firewall host booted at this epoch: kernel uptime = ts - boot


def _utc_text(fmt: str) -> pl.Expr:
    return pl.from_epoch((pl.col("ts") * 1_000_000).round().cast(pl.Int64), time_unit="us").dt.strftime(fmt)


def cidds_table(df: pl.DataFrame) -> pl.DataFrame:
    """Flows in CIDDS-001's columns: flags as six positions UAPRSF, big byte counts as '1.2 M', Proto padded."""
    flags = pl.concat_str(
        [
            pl.when(pl.col("flags").str.contains(c, literal=True)).then(pl.lit(c)).otherwise(pl.lit("."))
            for c in "UAPRSF"
        ]
    )
    is_icmp = pl.col("proto") == "icmp"
    return df.select(
        _utc_text("%Y-%m-%d %H:%M:%S%.3f").alias("Date first seen"),
        pl.col("duration").fill_null(0.0).alias("Duration"),
        pl.col("proto").str.to_uppercase().str.pad_end(5).alias("Proto"),
        pl.col("src").alias("Src IP Addr"),
        pl.when(is_icmp).then(pl.lit("0")).otherwise(pl.col("sport").cast(pl.Utf8)).alias("Src Pt"),
        pl.col("dst").alias("Dst IP Addr"),
        # CIDDS writes ICMP type.code in the destination port column (e.g. 3.3, 8.0)
        pl.when(is_icmp)
        .then(pl.format("{}.{}", pl.col("dport"), pl.col("code").fill_null(0)))
        .otherwise(pl.col("dport").cast(pl.Utf8))
        .alias("Dst Pt"),
        pl.col("packets").fill_null(1).alias("Packets"),
        pl.when(pl.col("bytes") >= 1_000_000)
        .then(pl.format("{} M", (pl.col("bytes") / 1_000_000).round(1)))
        .otherwise(pl.col("bytes").fill_null(60).cast(pl.Utf8))
        .alias("Bytes"),
        pl.lit(1).alias("Flows"),
        pl.when(pl.col("proto") == "tcp").then(flags).otherwise(pl.lit("......")).alias("Flags"),
        pl.lit(0).alias("Tos"),
        pl.col("cls").fill_null("normal").alias("class"),
        pl.col("attack_type").fill_null("---").alias("attackType"),
        pl.col("attack_id").fill_null("---").alias("attackID"),
        pl.col("attack_desc").fill_null("---").alias("attackDescription"),
    )


def write_cidds(path: Path, df: pl.DataFrame) -> int:
    """Write flows as a CIDDS-001 CSV (header exactly CIDDS's, durations with 3 decimals)."""
    table = cidds_table(df)
    assert ",".join(table.columns) == CIDDS_HEADER
    table.write_csv(path, float_precision=3)
    return table.height


def write_ufw(path: Path, df: pl.DataFrame) -> int:
    """Write blocked probes as UFW kernel log lines (syslog without the year, clock in UTC)."""
    uptime_us = ((pl.col("ts") - UPTIME_AT_EPOCH) * 1_000_000).round().cast(pl.Int64)
    ip_len = pl.col("plen").fill_null(0) + pl.when(pl.col("proto") == "tcp").then(
        20 + 20 + pl.col("opts").fill_null(0).replace_strict({0: 0, 1: 4, 2: 20, 3: 12}, return_dtype=pl.Int32)
    ).otherwise(20 + 8)
    tail = (
        pl.when(pl.col("proto") == "tcp")
        .then(pl.format("PROTO=TCP SPT={} DPT={} WINDOW={} RES=0x00 SYN URGP=0 ", "sport", "dport", "window"))
        .when(pl.col("proto") == "udp")
        .then(pl.format("PROTO=UDP SPT={} DPT={} LEN={} ", "sport", "dport", pl.col("plen").fill_null(0) + 8))
        .otherwise(pl.format("PROTO=ICMP TYPE={} CODE={} ID={} SEQ=1 ", "dport", pl.col("code").fill_null(0), "sport"))
    )
    lines = df.select(
        pl.format(
            "{} vps kernel: [{}.{}] [UFW BLOCK] IN=eth0 OUT= MAC={} SRC={} DST={} LEN={} TOS=0x00 PREC=0x00 TTL={} ID={}{} {}",
            _utc_text("%b %e %H:%M:%S"),
            uptime_us // 1_000_000,
            (uptime_us % 1_000_000).cast(pl.Utf8).str.zfill(6),
            pl.lit(UFW_MAC),
            "src",
            "dst",
            ip_len,
            "ttl",
            pl.col("ip_id").fill_null(0),
            pl.when(pl.col("df").fill_null(False)).then(pl.lit(" DF")).otherwise(pl.lit("")),
            tail,
        ).alias("line")
    )["line"]
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        for line in lines:
            fh.write(line + "\n")
    return len(lines)


def _utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def write_sensor(path: Path, df: pl.DataFrame, sensor: str) -> int:
    """Write connections and datagrams as the sensor's JSON lines dump (payload prefix bounded to 64 bytes)."""
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        for r in df.select("ts", "src", "sport", "dst", "dport", "proto", "payload", "duration").iter_rows(named=True):
            payload = r["payload"] or b""
            fh.write(
                json.dumps(
                    {
                        "ts": _utc(r["ts"]).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                        "event": "connect" if r["proto"] == "tcp" else "datagram",
                        "transport": r["proto"],
                        "src_ip": r["src"],
                        "src_port": r["sport"],
                        "dst_ip": r["dst"],
                        "dst_port": r["dport"],
                        "sent_data": bool(payload),
                        "payload_hex": payload[:64].hex(),
                        "bytes": len(payload),
                        "duration_s": round(r["duration"] or 0.0, 3),
                        "sensor": sensor,
                    }
                )
                + "\n"
            )
    return df.height


def write_honeypot(path: Path, df: pl.DataFrame) -> int:
    """Write honeypot hits in the organization paper's JSON shape (its Table 1); absent fields are left out."""
    cols = (
        "ts",
        "src",
        "sport",
        "dst",
        "dport",
        "proto",
        "app",
        "method",
        "uri",
        "ua",
        "action",
        "payload",
        "asn",
        "as_org",
    )
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        for r in df.select(cols).iter_rows(named=True):
            rec: dict = {
                "ip": r["src"],
                "port": r["sport"],
                "dst_ip": r["dst"],
                "dst_port": r["dport"],
                "utc": _utc(r["ts"]).strftime("%Y-%m-%d %H:%M:%S"),
                "transport_protocol": r["proto"],
                "proto": r["app"] or "http",
                "action": r["action"] or "request",
            }
            if r["asn"] is not None:
                rec |= {"asn": f"AS{r['asn']}", "org": r["as_org"] or ""}
            if (r["app"] or "http") == "http":
                rec |= {"method": r["method"] or "GET", "uri": r["uri"] or "/", "headers": {"Host": r["dst"]}}
                if r["ua"] is not None:
                    rec["headers"]["User-Agent"] = r["ua"]
            if r["payload"]:
                rec |= {"pack_datagram": r["payload"].hex(), "data_length": len(r["payload"])}
            fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
    return df.height
