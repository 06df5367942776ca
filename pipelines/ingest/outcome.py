"""How a contact went, judged from one record that holds both directions: events.outcome (DESIGN.md 5.2a).

`succeeded`: the contact became a conversation that was used (TCP handshake completed and payload
carried either way; a UDP service answered). `failed`: refused, never answered, or left half-open or
abandoned (a handshake with nothing carried: a connect scan). `unknown`: the record cannot say.
Records of one direction get no outcome here (null): the reverse records of the same capture decide,
in the detection SQL. The rules are pure numpy on the counters, so a format's fast and careful
paths give the same answer.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pyarrow as pa

SUCCEEDED, FAILED, UNKNOWN = "succeeded", "failed", "unknown"
OUTCOMES = (SUCCEEDED, FAILED, UNKNOWN)  # codes 0, 1, 2 of the arrays below; NO_OUTCOME (3) is null
NO_OUTCOME = 3
CODE_VALUES: list[str | None] = [*OUTCOMES, None]

# TCP flag bits in events' FSRPAUEC order.
FIN, SYN, RST, PSH, ACK, URG, ECE, CWR = (1 << i for i in range(8))

# Zeek conn_state (base/protocols/conn/main.zeek, `conn_state`). Refused, unanswered or half-open:
ZEEK_FAILED = frozenset({"S0", "REJ", "RSTOS0", "SH"})
# The handshake was seen completing (S1 open, S2/S3 one side closed, SF closed, RSTO/RSTR reset
# after it): used only when payload was carried, else a connect scan or an abandoned contact.
ZEEK_ESTABLISHED = frozenset({"S1", "S2", "S3", "SF", "RSTO", "RSTR"})
# RSTRH and SHR: the responder sent a SYN-ACK then a RST or FIN, and no SYN of the originator was
# seen. The logged originator may never have initiated (backscatter of a spoofed SYN answered by
# the responder) or the tap missed its side: the record shows an answer to a contact it cannot see,
# so it says nothing about how that contact went; unknown, as OTH (midstream traffic, no SYN seen).


def zeek(
    proto: pl.Series, state: pl.Series, resp_pkts: np.ndarray | None, orig_bytes: np.ndarray | None,
    resp_bytes: np.ndarray | None,
) -> np.ndarray:  # fmt: skip
    """Outcome codes of Zeek conn records from proto, conn_state, resp_pkts and the payload byte counts.

    `proto` and `state` are text (null where unset); the counts are float arrays with NaN where
    unset (None: column absent). Zeek leaves orig_bytes/resp_bytes unset for a zero-duration
    connection: nothing carried. ICMP (Zeek logs a ping and its echo reply as one connection) is
    unknown: an echo reply does not make a sweep benign.
    """
    n = len(proto)
    out = np.full(n, 2, np.int8)

    def mask(s: pl.Series) -> np.ndarray:
        return s.fill_null(False).to_numpy()

    tcp, udp = mask(proto == "tcp"), mask(proto == "udp")
    failed, established = mask(state.is_in(list(ZEEK_FAILED))), mask(state.is_in(list(ZEEK_ESTABLISHED)))
    no_state = state.is_null().to_numpy()
    if orig_bytes is None or resp_bytes is None:
        used = np.full(n, -1, np.int8)  # payload unknown: established contacts stay unknown
    else:
        used = ((np.nan_to_num(orig_bytes) > 0) | (np.nan_to_num(resp_bytes) > 0)).astype(np.int8)
    out[tcp & failed] = 1
    out[tcp & established & (used == 1)] = 0
    out[tcp & established & (used == 0)] = 1
    if resp_pkts is not None:
        known = ~np.isnan(resp_pkts)
        out[tcp & no_state & known & (resp_pkts == 0)] = 1  # no state written: never answered is still failed
        # UDP has no handshake: the service answered (responder packets) or it did not. SHR (only
        # the responder spoke) and OTH stay unknown.
        judged = udp & known & ~mask(state.is_in(["SHR", "OTH"]))
        out[judged & (resp_pkts > 0)] = 0
        out[judged & (resp_pkts == 0)] = 1
    else:
        out[udp & mask(state == "SF")] = 0
        out[udp & mask(state == "S0")] = 1
    return out


def biflow(
    tcp: np.ndarray, udp: np.ndarray, bits: np.ndarray | None, packets: np.ndarray, resp: np.ndarray | None,
    used: np.ndarray,
) -> np.ndarray:  # fmt: skip
    """Outcome codes of bidirectional flow records (CICFlowMeter, nfdump biflows), flags OR-ed over both sides.

    `packets` counts both directions, `resp` the backward ones (None: not in the file), `used` is 1
    where payload was carried either way, 0 where none was, -1 where the record cannot prove it.
    TCP with a SYN: the handshake completed when there is an ACK, an answer, and four packets or
    three without a reset (SYN, SYN-ACK, ACK; SYN, SYN-ACK, RST is half-open, SYN, RST-ACK refused);
    succeeded when it carried payload, failed when it did not (a connect scan) or never completed.
    TCP without a SYN (a flow split by the exporter's timeout, or a FIN/NULL/XMAS/ACK probe): an
    answered exchange that carried payload succeeded; at most two packets without payload failed
    (the probe and its reset), except a lone RST, a teardown; the rest unknown. UDP: answered or not.
    """
    n = len(packets)
    out = np.full(n, 2, np.int8)
    if resp is None:
        return out  # no backward counts: the record cannot say whether anything came back
    answered = resp > 0
    out[udp & answered] = 0
    out[udp & ~answered] = 1
    if bits is None:
        out[tcp & ~answered] = 1
        return out
    syn, ack, rst = (bits & SYN) > 0, (bits & ACK) > 0, (bits & RST) > 0
    handshake = syn & ack & answered & ((packets >= 4) | ((packets == 3) & ~rst))
    with_syn = tcp & syn
    out[with_syn & handshake & (used == 1)] = 0
    out[with_syn & handshake & (used == 0)] = 1
    out[with_syn & ~handshake] = 1
    teardown = (packets == 1) & np.isin(bits & ~(ECE | CWR), [RST, RST | ACK])
    midstream = tcp & ~syn
    out[midstream & (used == 1) & answered] = 0
    out[midstream & (used != 1) & (packets <= 2) & ~teardown] = 1
    return out


def as_text(codes: np.ndarray) -> pa.Array:
    """Outcome codes as the events' text column (NO_OUTCOME: null)."""
    return pa.array(CODE_VALUES, pa.string()).take(pa.array(codes.astype(np.int32)))


def unanswerable(events: pa.Table) -> pa.Table:
    """The events of a source that cannot see an answer (firewall drops, decoys, sensors): outcome unknown."""
    i = events.schema.get_field_index("outcome")
    return events.set_column(i, "outcome", pa.repeat(pa.scalar(UNKNOWN, pa.string()), events.num_rows))
