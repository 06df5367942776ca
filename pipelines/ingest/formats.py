"""Every input format ingest reads, registered in one place: its name, kind, content signature, reader,
and what one of its records shows of the answer (`directions`: who judges a contact's outcome).

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

# What one record of a format shows of the responder's side, which says who judges how a contact
# went (events.outcome, resp_packets, resp_bytes; DESIGN.md 5.2a). No SQL names a format for it.
TWO_WAY, ONE_WAY, MIXED, NO_ANSWER = "two_way", "one_way", "mixed", "no_answer"
DIRECTIONS = {
    TWO_WAY: "a record holds both directions: its parser judges the outcome and fills the responder's counts",
    ONE_WAY: "a record holds one direction, its reverse may be in the same capture: outcome null, the detection "
    "SQL judges it from the reverse records",
    MIXED: "two_way where a record carries the reverse direction's counters (nfdump biflows: opkt > 0), else one_way",
    NO_ANSWER: "the source cannot see an answer (firewall drops; decoys and sensors answer everyone): outcome unknown",
}


@dataclass(frozen=True)
class InputFormat:
    """One input format: what detection recognises it by, and the reader that parses it into chunks."""

    name: str  # ingest_files.format and events.source_format
    kind: str  # events.source_kind: pcap, flow, firewall, honeypot or sensor
    stage: str  # the look at the content that recognises it (a key of STAGES)
    signature: Callable[[Any], bool]  # on what the stage looks at: bytes, lines, a JSON object, header columns, text
    recognises: str  # the signature in words
    read: Reader  # (path, meta columns, year for syslog lines, limits) -> chunks
    directions: str  # a key of DIRECTIONS: what a record shows of the answer


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
        "pcap",
        "pcap",
        "magic",
        sig.is_pcap,
        "pcap file header (magic a1b2c3d4 or a1b23c4d, either byte order)",
        _pcap,
        directions=ONE_WAY,
    ),
    InputFormat(
        "pcapng",
        "pcap",
        "magic",
        sig.is_pcapng,
        "pcapng section header block (0a0d0d0a) with its byte-order magic",
        _pcapng,
        directions=ONE_WAY,
    ),
    InputFormat(
        "zeek_tsv",
        "flow",
        "log_header",
        sig.is_zeek_tsv,
        "Zeek conn.log TSV: a #fields line in the header",
        _zeek_tsv,
        directions=TWO_WAY,
    ),
    InputFormat(
        "cowrie",
        "honeypot",
        "json_keys",
        sig.is_cowrie,
        "Cowrie JSON: eventid with src_ip, or eventid cowrie.*",
        _json_lines("cowrie"),
        directions=NO_ANSWER,
    ),
    InputFormat(
        "zeek_json",
        "flow",
        "json_keys",
        sig.is_zeek_json,
        "Zeek conn.log JSON: id.orig_h and id.resp_p",
        _zeek_json,
        directions=TWO_WAY,
    ),
    InputFormat(
        "sensor_jsonl",
        "sensor",
        "json_keys",
        sig.is_sensor_jsonl,
        "ScanSense sensor JSON: transport, src_ip, dst_port",
        _json_lines("sensor_jsonl"),
        directions=NO_ANSWER,
    ),
    InputFormat(
        "honeypot_json",
        "honeypot",
        "json_keys",
        sig.is_honeypot_json,
        "honeypot JSON: ip and utc",
        _json_lines("honeypot_json"),
        directions=NO_ANSWER,
    ),
    InputFormat(
        "cidds",
        "flow",
        "csv_header",
        sig.is_cidds,
        "CIDDS-001/002 CSV: Date first seen, Src IP Addr",
        _cidds,
        directions=ONE_WAY,
    ),
    InputFormat(
        "cicflowmeter",
        "flow",
        "csv_header",
        sig.is_cicflowmeter,
        "CICFlowMeter CSV: Src IP (or Source IP), Timestamp, and Flow Duration or Dst IP",
        _cicflowmeter,
        directions=TWO_WAY,
    ),
    InputFormat(
        "nfdump", "flow", "csv_header", sig.is_nfdump, "nfdump CSV: ts, sa, da, and te or pr", _nfdump, directions=MIXED
    ),
    InputFormat(
        "ufw",
        "firewall",
        "log_lines",
        sig.is_netfilter,
        "netfilter/UFW kernel log lines: SRC=<address> DST=<address>",
        _firewall,
        directions=NO_ANSWER,
    ),
)
BY_NAME = {f.name: f for f in FORMATS}
FORMAT_KIND = {f.name: f.kind for f in FORMATS}


def of_stage(stage: str) -> list[InputFormat]:
    """The formats a stage of detection tries, in order."""
    return [f for f in FORMATS if f.stage == stage]


def listing() -> list[dict[str, str]]:
    """One row a format (name, kind, directions, what it recognises), in detection order: `scansense ingest --formats`."""
    order = list(STAGES)
    ranked = sorted(FORMATS, key=lambda f: order.index(f.stage))
    return [{"name": f.name, "kind": f.kind, "directions": f.directions, "recognises": f.recognises} for f in ranked]
