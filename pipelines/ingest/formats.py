"""Every input format ingest reads, registered in one place: its name, kind, content signature and reader.

Format detection (`detect.detect_format`) tries the signatures stage by stage, in `STAGES` order,
and the formats of one stage in the order listed here; `scansense ingest --formats` prints this
list. A new format is one entry here, its parser module and its test (docs/HOWTO.md). Readers
import their parser when called, so detection and the listing load no parsing library.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipelines.ingest import signatures as sig
from pipelines.ingest.records import Chunk
from pipelines.ingest.streams import Limits

# What each stage of detection looks at, in the order detection runs them.
STAGES = {
    "magic": "the first bytes",
    "log_header": "the first lines' header comments",
    "json_keys": "the keys of the first JSON objects",
    "csv_header": "the CSV header's column names",
    "log_lines": "the first lines' text",
}
Reader = Callable[[Path, dict[str, str], int | None, Limits], Iterator[Chunk]]


@dataclass(frozen=True)
class InputFormat:
    """One input format: what detection recognises it by, and the reader that parses it into chunks."""

    name: str  # ingest_files.format and events.source_format
    kind: str  # events.source_kind: pcap, flow, firewall, honeypot or sensor
    stage: str  # the look at the content that recognises it (a key of STAGES)
    signature: Callable[[Any], bool]  # on what the stage looks at: bytes, lines, a JSON object, header columns, text
    recognises: str  # the signature in words
    read: Reader  # (path, meta columns, year for syslog lines, limits) -> chunks


def _pcap(path: Path, meta: dict[str, str], _year: int | None, limits: Limits) -> Iterator[Chunk]:
    from pipelines.ingest.captures import iter_pcap

    return iter_pcap(path, meta, limits)


def _pcapng(path: Path, meta: dict[str, str], _year: int | None, limits: Limits) -> Iterator[Chunk]:
    from pipelines.ingest.captures import iter_pcapng

    return iter_pcapng(path, meta, limits)


def _cidds(path: Path, meta: dict[str, str], _year: int | None, limits: Limits) -> Iterator[Chunk]:
    from pipelines.ingest.flows.cidds import CIDDS
    from pipelines.ingest.flows.common import iter_csv

    return iter_csv(path, CIDDS, meta, limits)


def _cicflowmeter(path: Path, meta: dict[str, str], _year: int | None, limits: Limits) -> Iterator[Chunk]:
    from pipelines.ingest.flows.cicflowmeter import CICFLOWMETER
    from pipelines.ingest.flows.common import iter_csv

    return iter_csv(path, CICFLOWMETER, meta, limits)


def _nfdump(path: Path, meta: dict[str, str], _year: int | None, limits: Limits) -> Iterator[Chunk]:
    from pipelines.ingest.flows.common import iter_csv
    from pipelines.ingest.flows.nfdump import NFDUMP

    return iter_csv(path, NFDUMP, meta, limits)


def _zeek_tsv(path: Path, meta: dict[str, str], _year: int | None, limits: Limits) -> Iterator[Chunk]:
    from pipelines.ingest.flows.zeek import iter_zeek_tsv

    return iter_zeek_tsv(path, meta, limits)


def _zeek_json(path: Path, meta: dict[str, str], _year: int | None, limits: Limits) -> Iterator[Chunk]:
    from pipelines.ingest.flows.zeek import iter_zeek_json

    return iter_zeek_json(path, meta, limits)


def _firewall(path: Path, meta: dict[str, str], year: int | None, limits: Limits) -> Iterator[Chunk]:
    from pipelines.ingest.firewall import iter_firewall

    return iter_firewall(path, meta, year, limits)


def _json_lines(fmt: str) -> Reader:
    """The reader of the JSON-lines format `fmt` (`pipelines.ingest.jsonlogs`)."""

    def read(path: Path, meta: dict[str, str], _year: int | None, limits: Limits) -> Iterator[Chunk]:
        from pipelines.ingest.jsonlogs import iter_jsonl

        return iter_jsonl(path, fmt, meta, limits)

    return read


FORMATS: tuple[InputFormat, ...] = (
    InputFormat(
        "pcap", "pcap", "magic", sig.is_pcap, "pcap file header (magic a1b2c3d4 or a1b23c4d, either byte order)", _pcap
    ),
    InputFormat(
        "pcapng",
        "pcap",
        "magic",
        sig.is_pcapng,
        "pcapng section header block (0a0d0d0a) with its byte-order magic",
        _pcapng,
    ),
    InputFormat(
        "zeek_tsv", "flow", "log_header", sig.is_zeek_tsv, "Zeek conn.log TSV: a #fields line in the header", _zeek_tsv
    ),
    InputFormat(
        "cowrie",
        "honeypot",
        "json_keys",
        sig.is_cowrie,
        "Cowrie JSON: eventid with src_ip, or eventid cowrie.*",
        _json_lines("cowrie"),
    ),
    InputFormat(
        "zeek_json", "flow", "json_keys", sig.is_zeek_json, "Zeek conn.log JSON: id.orig_h and id.resp_p", _zeek_json
    ),
    InputFormat(
        "sensor_jsonl",
        "sensor",
        "json_keys",
        sig.is_sensor_jsonl,
        "ScanSense sensor JSON: transport, src_ip, dst_port",
        _json_lines("sensor_jsonl"),
    ),
    InputFormat(
        "honeypot_json",
        "honeypot",
        "json_keys",
        sig.is_honeypot_json,
        "honeypot JSON: ip and utc",
        _json_lines("honeypot_json"),
    ),
    InputFormat("cidds", "flow", "csv_header", sig.is_cidds, "CIDDS-001/002 CSV: Date first seen, Src IP Addr", _cidds),
    InputFormat(
        "cicflowmeter",
        "flow",
        "csv_header",
        sig.is_cicflowmeter,
        "CICFlowMeter CSV: Src IP (or Source IP), Timestamp, and Flow Duration or Dst IP",
        _cicflowmeter,
    ),
    InputFormat("nfdump", "flow", "csv_header", sig.is_nfdump, "nfdump CSV: ts, sa, da, and te or pr", _nfdump),
    InputFormat(
        "ufw",
        "firewall",
        "log_lines",
        sig.is_netfilter,
        "netfilter/UFW kernel log lines: SRC=<address> DST=<address>",
        _firewall,
    ),
)
BY_NAME = {f.name: f for f in FORMATS}
FORMAT_KIND = {f.name: f.kind for f in FORMATS}


def of_stage(stage: str) -> list[InputFormat]:
    """The formats a stage of detection tries, in order."""
    return [f for f in FORMATS if f.stage == stage]


def listing() -> list[dict[str, str]]:
    """One row a format (name, kind, what it recognises), in detection order: `scansense ingest --formats`."""
    order = list(STAGES)
    ranked = sorted(FORMATS, key=lambda f: order.index(f.stage))
    return [{"name": f.name, "kind": f.kind, "recognises": f.recognises} for f in ranked]
