"""The compiled flow-CSV path (`csvfast`) gives exactly what the careful polars path gives.

Random CIDDS, nfdump and CICFlowMeter files mixing plain rows with awkward values (padded,
out-of-range, non-ISO times, IPv6, abbreviated byte counts), damaged lines, quotes, CRLF and the
nfdump trailer are read twice, with the fast path on and off: same events, same quarantine,
same skipped counts.
"""

from __future__ import annotations

import random
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from pipelines.ingest import iter_file
from pipelines.ingest.flows import common as flows
from pipelines.settings import load_settings

TS = [
    "2017-03-15 00:00:00.063", "2017-03-15 00:00:00", "2017-03-15 23:59:59.999999", "2017-03-15 00:00:00.1234567",
    "2016-02-29 12:00:00.5", "2017-02-29 12:00:00", "2017-03-15T00:00:00", "15/03/2017 00:00", "2017-03-15 24:00:00",
    "2017-03-15 00:00:60", " 2017-03-15 00:00:00", "2017/03/15 00:00:00.1", "0999-03-15 00:00:00", "", "x",
    "2017-3-15 00:00:00", "2017-03-15 00:00:00.", "1970-01-01 00:00:00", "1969-12-31 23:59:59.9",
    "2100-02-29 00:00:00", "2000-02-29 00:00:00.000001",
]  # fmt: skip
PORT = ["80", "0", "65535", "65536", "3.3", " 80", "80 ", "", "-1", "0080", "8.0", "1e2", "99999999999999999999", "+5"]
IP = [
    "192.168.1.2", "10.0.0.255", "0.0.0.0", "255.255.255.255", "01.2.3.4", "256.1.1.1", "::1", "fe80::1",
    " 1.2.3.4", "1.2.3.4 ", "1.2.3", "1.2.3.4.5", "", "1..2.3", "\u0661.2.3.4", "100.200.250.249", "1.2.3.04",
]  # fmt: skip
FLOAT = [
    "0.751", "0", "12", ".5", "5.", "1e3", "nan", "-0.5", "123456789012345678", "0.12345678901234567",
    "9007199254740993", "0.1", "", " 1.5", "1;5", "0.000", "1234567.1234567", "99999999999999999", "4.35",
]  # fmt: skip
INT = ["1", "0", "12", "12.0", " 3", "", "999999999999999999", "9999999999999999999", "-2", "1.2 M", "3 K", "x", "007"]
PROTO = ["TCP  ", "UDP  ", "ICMP ", "6", "17", "", "GRE  ", "tcp", " 1"]
FLAGS = [".A..S.", "....S.", ".AP.SF", "......", "", "UAPRSF", "xx", "\u00c4\u00d6"]
LABELS = ["normal", "attacker", "victim", "", "---", " normal ", "\u00fcn\u00efcode"]
CIDDS_HEAD = (
    "Date first seen,Duration,Proto,Src IP Addr,Src Pt,Dst IP Addr,Dst Pt,Packets,Bytes,Flows,Flags,Tos,"
    "class,attackType,attackID,attackDescription"
)
NFDUMP_HEAD = (
    "ts,te,td,sa,da,sp,dp,pr,flg,fwd,stos,ipkt,ibyt,opkt,obyt,in,out,sas,das,smk,dmk,dtos,dir,nh,nhb,svln,dvln,"
    "ismc,odmc,idmc,osmc,mpls1,mpls2,mpls3,mpls4,mpls5,mpls6,mpls7,mpls8,mpls9,mpls10,cl,sl,al,ra,eng,exid,tr"
)
CIC_HEAD = (
    "Flow ID,Src IP,Src Port,Dst IP,Dst Port,Protocol,Timestamp,Flow Duration,Total Fwd Packets,"
    "Total Backward Packets,Total Length of Fwd Packets,Total Length of Bwd Packets,FIN Flag Count,SYN Flag Count,"
    "RST Flag Count,PSH Flag Count,ACK Flag Count,URG Flag Count,CWE Flag Count,ECE Flag Count,Label"
)


class Rows:
    """Random rows of one file: plain with probability `clean`, else with awkward values mixed in."""

    def __init__(self, rng: random.Random, clean: float, damage: bool) -> None:
        self.rng, self.clean, self.damage = rng, clean, damage

    def pick(self, values: list[str]) -> str:
        return self.rng.choice(values) if self.rng.random() < 0.3 else values[0]

    def plain(self) -> bool:
        return self.rng.random() <= self.clean

    def damaged(self, line: str) -> str:
        x = self.rng.random() if self.damage else 1.0
        return line + ",extra" if x < 0.01 else "" if x < 0.02 else '"q",' + line if x < 0.025 else line

    def cidds(self) -> str:
        r = self.rng
        if self.plain():
            row = [
                f"2017-03-15 00:00:{r.randrange(60):02d}.{r.randrange(1000):03d}", str(r.randrange(1000) / 100),
                r.choice(PROTO[:3]), f"192.168.{r.randrange(256)}.{r.randrange(256)}", str(r.randrange(65536)),
                f"10.0.0.{r.randrange(256)}", str(r.randrange(65536)), str(r.randrange(50)), str(r.randrange(10**6)),
                "1", r.choice(FLAGS[:4]), "0", r.choice(LABELS[:3]), "---", "---", "---",
            ]  # fmt: skip
        else:
            p = self.pick
            row = [
                p(TS), p(FLOAT), p(PROTO), p(IP), p(PORT), p(IP), p(PORT), p(INT), p(INT), "1", p(FLAGS), "0",
                p(LABELS), p([*LABELS, "portScan"]), "---", "---",
            ]  # fmt: skip
        return self.damaged(",".join(row))

    def nfdump(self) -> str:
        row = ["0"] * (NFDUMP_HEAD.count(",") + 1)
        at = [0, 2, 3, 4, 5, 6, 7, 8, 11, 12]
        if self.plain():
            values = ["2024-01-01 00:00:00.123", "0.5", "1.2.3.4", "5.6.7.8", "1234", "80", "TCP", "....S.", "1", "60"]
        else:
            p = self.pick
            flags = ["...A..S.", ".....S", "", "CEUAPRSF"]
            values = [p(TS), p(FLOAT), p(IP), p(IP), p(PORT), p(PORT), p(["TCP", "UDP", "ICMP", "6"]), p(flags)]
            values += [p(INT), p(INT)]
        for i, v in zip(at, values, strict=True):
            row[i] = v
        return ",".join(row)

    def cic(self) -> str:
        r, p = self.rng, self.pick
        if self.plain():
            row = ["id", "1.2.3.4", "1234", "5.6.7.8", "80", "6", "2017-07-03 08:55:58", "1000", "2", "1", "120", "60"]
            row += [r.choice("01") for _ in range(8)] + ["BENIGN"]
        else:
            times = [*TS, "15/03/2017 10:00:01", "3/7/2017 8:55"]
            row = ["id", p(IP), p(PORT), p(IP), p(PORT), p(["6", "17", "0", ""]), p(times), p(FLOAT)]
            row += [p(INT) for _ in range(4)] + [p(["0", "1", "0.0", "", "2"]) for _ in range(8)]
            row += [p(["BENIGN", "PortScan", ""])]
        return ",".join(row)


def write_file(path: Path, seed: int) -> Path:
    rng = random.Random(seed)
    kind = rng.choice(["cidds", "nfdump", "cic"])
    rows = Rows(rng, clean=rng.choice([0.0, 0.5, 0.9, 0.99, 1.0]), damage=rng.random() < 0.5)
    head = {"cidds": CIDDS_HEAD, "nfdump": NFDUMP_HEAD, "cic": CIC_HEAD}[kind]
    lines = [head] + [getattr(rows, kind)() for _ in range(rng.randrange(1, 3000))]
    if kind == "nfdump" and rng.random() < 0.3:
        lines += ["Summary", "flows,bytes", "1,2"]
    nl = "\r\n" if rng.random() < 0.2 else "\n"
    path.write_text(nl.join(lines) + (nl if rng.random() < 0.7 else ""), encoding="utf-8")
    return path


def read(path: Path, fast: bool, monkeypatch: pytest.MonkeyPatch) -> tuple:
    with monkeypatch.context() as m:
        if not fast:
            m.setattr(flows, "fast_split", lambda *a, **k: None)
        chunks = list(iter_file(path, load_settings(env={})))
    events = pa.concat_tables([c.events for c in chunks])
    d = events["duration_s"]  # NaN != NaN: compare a stand-in
    events = events.set_column(events.column_names.index("duration_s"), "duration_s", pc.if_else(pc.is_nan(d), -1.0, d))
    quarantine = [(r["location"], r["reason"], r["raw"]) for c in chunks for r in c.quarantine]
    return events, quarantine, [c.error for c in chunks], sum(c.skipped for c in chunks)


def test_fast_and_careful_paths_agree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    used = []
    real_split = flows.fast_split
    monkeypatch.setattr(flows, "fast_split", lambda *a, **k: used.append(r := real_split(*a, **k)) or r)
    for seed in range(24):
        path = write_file(tmp_path / f"{seed}.csv", seed)
        fast, careful = read(path, True, monkeypatch), read(path, False, monkeypatch)
        assert fast[0].equals(careful[0]), f"seed {seed}: events differ"
        assert fast[1:] == careful[1:], f"seed {seed}: quarantine, errors or skipped counts differ"
    assert sum(u is not None for u in used) >= 8, "the fast path took too few blocks to compare anything"
