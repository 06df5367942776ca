"""`scansense eval slow` and `scansense eval sources` on small hand-written labelled inputs."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pipelines.cli import main
from pipelines.detect.evaluate import eval_slow, eval_sources
from pipelines.settings import Settings

T0 = datetime(2025, 11, 26, 9, tzinfo=UTC)
HEADER = "Date first seen,Duration,Proto,Src IP Addr,Src Pt,Dst IP Addr,Dst Pt,Packets,Bytes,Flows,Flags,Tos,class,attackType,attackID,attackDescription"
SCANNER, VICTIM = "192.168.220.15", "192.168.220.7"


def _flow(t: datetime, src: str, sport: int, dst: str, dport: int, flags: str, label: str, attack: str = "---") -> str:
    ts = t.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    return f"{ts},0.000,TCP  ,{src},{sport},{dst},{dport},1,60,1,{flags},0,{label},{attack},{'1' if attack != '---' else '---'},---"


def _cidds_day(path: Path) -> Path:
    """A -T1 vertical scan (one probe every 15 s for 25 minutes, closed ports answer RST-ACK) among
    office clients whose sessions complete and whose few failures, to a service they never reach (a
    mapped drive of a retired file server, NetBIOS), alternate between two dead servers."""
    lines = [HEADER]
    for i in range(100):
        t = T0 + timedelta(seconds=15 * i)
        lines.append(_flow(t, SCANNER, 50000, VICTIM, 1 + i, "....S.", "attacker", "portScan"))
        lines.append(
            _flow(t + timedelta(milliseconds=1), VICTIM, 1 + i, SCANNER, 50000, ".A.R..", "victim", "portScan")
        )
    for c in range(20):
        client = f"192.168.100.{c + 2}"
        for i in range(60):
            t = T0 + timedelta(seconds=30 * i + c)
            server = f"192.168.220.{20 + (c + i) % 4}"
            lines.append(_flow(t, client, 40000 + i, server, 445, ".AP.SF", "normal"))
            lines.append(_flow(t + timedelta(milliseconds=2), server, 445, client, 40000 + i, ".AP.SF", "normal"))
            if i % 6 == 0:
                lines.append(_flow(t, client, 45000 + i, f"192.168.220.{45 + i // 6 % 2}", 139, "....S.", "normal"))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_eval_slow_reproduces_table_2_shape(tmp_path: Path) -> None:
    result = eval_slow(_cidds_day(tmp_path / "flows.csv"), Settings(), [0.65, 0.75, 0.85])
    assert [r["threshold"] for r in result["persistent"]] == [0.65, 0.75, 0.85]
    for method in ("persistent", "port_ratio"):
        for row in result[method]:
            assert row["attack_flows"] == 100 and row["benign_flows"] == 2400 + 200
            assert row["other_alarms"] == 0  # the victim's RST-ACK replies are not probes
    best = result["persistent"][1]
    assert best["detection_rate"] == 1.0 and best["paper_fpr"] == 0.0 and best["fpr"] == 0.0


def test_eval_slow_paper_fpr_is_false_alarms_over_alarms(tmp_path: Path) -> None:
    # Lowering persistence lets the clients' alternating failures form two-window growth periods;
    # at threshold 0 every period is a scan, so those failures become false alarms.
    settings = Settings().replace("slow", min_windows=1, min_period=2)
    row = eval_slow(_cidds_day(tmp_path / "flows.csv"), settings, [0.0])["persistent"][0]
    assert row["alarms"] > 100
    false_alarms = row["alarms"] - 100 * row["detection_rate"]
    assert row["paper_fpr"] == pytest.approx(false_alarms / row["alarms"])
    assert row["fpr"] == pytest.approx(false_alarms / row["benign_flows"])


def test_eval_slow_cli_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    flows = _cidds_day(tmp_path / "flows.csv")
    assert main(["eval", "slow", "--flows", str(flows), "--thresholds", "0.70,0.80", "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(result) == {"persistent", "port_ratio"}
    for method in result.values():
        assert [r["threshold"] for r in method] == [0.70, 0.80]
        assert {"threshold", "detection_rate", "paper_fpr", "fpr"} <= set(method[0])


def _ufw(t: datetime, src: str, dst: str, dport: int) -> str:
    return (
        f"{t.strftime('%b %d %H:%M:%S')} gw kernel: [1.0] [UFW BLOCK] IN=eth0 OUT= MAC=00 SRC={src} DST={dst} "
        f"LEN=40 TOS=0x00 PREC=0x00 TTL=240 ID=1 PROTO=TCP SPT=40000 DPT={dport} WINDOW=1024 RES=0x00 SYN URGP=0"
    )


def test_eval_sources_per_detector_and_kind(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    day = tmp_path / "landing" / "2025-11-26"
    day.mkdir(parents=True)
    lines = []
    lines += [
        _ufw(T0 + timedelta(seconds=i * 0.05), "5.5.5.5", "203.0.113.9", 1 + i) for i in range(600)
    ]  # fast vertical
    lines += [
        _ufw(T0 + timedelta(seconds=15 * i), "8.8.4.4", "203.0.113.7", 100 + i) for i in range(300)
    ]  # slow vertical
    lines += [
        _ufw(T0 + timedelta(seconds=15 * i), "8.8.8.8", f"203.0.113.{i % 200 + 1}", 445) for i in range(300)
    ]  # slow horizontal
    for b in range(30):  # background knocks: a few popular ports, now and then
        lines += [
            _ufw(T0 + timedelta(minutes=7 * i + b), f"9.9.{b}.1", "203.0.113.9", (22, 23)[i % 2]) for i in range(10)
        ]
    lines.sort()  # syslog order
    (day / "firewall.log").write_text("\n".join(lines) + "\n", encoding="utf-8")
    truth = tmp_path / "truth.csv"
    rows = ["src_ip,label,kind,org,start,end", "5.5.5.5,scan,fast_vertical,,,", "8.8.4.4,scan,slow_vertical,,,"]
    rows += ["8.8.8.8,scan,slow_horizontal,,,", "7.7.7.7,scan,udp,,,"]  # 7.7.7.7 never appears
    rows += [f"9.9.{b}.1,benign,benign,,," for b in range(30)]
    truth.write_text("\n".join(rows) + "\n", encoding="utf-8")

    settings = Settings().replace("paths", warehouse=str(tmp_path / "wh"))
    result = eval_sources(tmp_path / "landing", truth, settings)
    assert result["scanners"] == 3 and result["sources"] == 33
    assert result["detectors"]["combined"] | {} == {
        "precision": 1.0, "recall": 1.0, "f1": 1.0, "flagged": 3, "true_positives": 3,
    }  # fmt: skip
    assert result["kinds"]["fast"]["recall_fast"] == 1.0
    assert result["kinds"]["slow"]["recall_slow"] == 1.0 and result["kinds"]["slow"]["recall_fast"] == 0.0
    assert result["kinds"]["horizontal"]["sources"] == 1 and result["kinds"]["udp"]["sources"] == 0
    assert set(result["fast_modes"]) == {"mean", "robust"}

    assert main(["eval", "sources", "--landing", str(tmp_path / "landing"), "--truth", str(truth), "--json"]) == 0
    cli = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert cli["detectors"] == result["detectors"]


def _conn(t: datetime, src: str, dst: str, dport: int, state: str) -> str:
    return json.dumps({
        "ts": t.timestamp(), "uid": "C1", "id.orig_h": src, "id.orig_p": 40000, "id.resp_h": dst, "id.resp_p": dport,
        "proto": "tcp", "conn_state": state, "history": "S" if state == "S0" else "ShADadFf",
        # a used session carries payload both ways (an SF without any is how a connect scan closes)
        "orig_bytes": 0 if state == "S0" else 517, "resp_bytes": 0 if state == "S0" else 4096,
    })  # fmt: skip


def test_eval_sources_reports_trw_with_its_steps_and_precision_per_kind(tmp_path: Path) -> None:
    """Zeek conn records: a sweep of dead hosts (S0), a client whose first contacts succeed, and a client
    whose contacts mostly fail (the false alarm TRW makes), against truth."""
    day = tmp_path / "landing" / "2025-11-26"
    day.mkdir(parents=True)
    lines = [_conn(T0 + timedelta(seconds=i), "6.6.6.6", f"10.0.0.{i + 1}", 23, "S0") for i in range(12)]
    lines += [_conn(T0 + timedelta(seconds=i), "192.168.1.5", f"10.0.1.{i + 1}", 443, "SF") for i in range(6)]
    lines += [_conn(T0 + timedelta(seconds=i), "192.168.1.6", f"10.0.2.{i + 1}", 443, "S0") for i in range(5)]
    (day / "conn.log").write_text("\n".join(lines) + "\n", encoding="utf-8")
    truth = tmp_path / "truth.csv"
    rows = ["src_ip,label,kind,org,start,end", "6.6.6.6,scan,fast_horizontal,,,"]
    rows += ["192.168.1.5,benign,benign,,,", "192.168.1.6,benign,benign,,,"]
    truth.write_text("\n".join(rows) + "\n", encoding="utf-8")
    result = eval_sources(tmp_path / "landing", truth, Settings().replace("paths", warehouse=str(tmp_path / "wh")))
    assert result["detectors"]["trw"] | {} == {
        "precision": 0.5, "recall": 1.0, "f1": pytest.approx(2 / 3), "flagged": 2, "true_positives": 1,
    }  # fmt: skip
    assert result["trw"]["judged_sources"] == 3 and result["trw"]["pending"] == 0
    assert result["trw"]["steps_to_scanner"] == {"decided": 1, "median": 4, "mean": 4.0, "min": 4, "max": 4}
    horizontal = result["kinds"]["horizontal"]
    assert horizontal["trw_judged"] == 1 and horizontal["recall_trw"] == 1.0 and horizontal["precision_trw"] == 0.5
    # no vertical scanner: recall undefined; its one false alarm still makes the precision 0
    assert result["kinds"]["vertical"]["recall_trw"] is None and result["kinds"]["vertical"]["precision_trw"] == 0.0
    assert "trw" in result["combined_of"] and "port_ratio" not in result["combined_of"]
