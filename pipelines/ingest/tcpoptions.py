"""TCP option layout: the option kinds in header order ("2,4,8,1,3") and the MSS value.

Scanning tools write fixed option lists (nmap's SYN probe: MSS 1460 alone; masscan 1.3: MSS 1460;
older masscan and ZMap's default: none) while operating systems write their own (Linux: MSS, SACK
permitted, timestamps, NOP, window scale). The layout is what fingerprints them (p0f's `olayout`).

One rule for every input, so the compiled capture path (`headers.py`), the scapy path and
netfilter's `OPT (...)` hex agree: options are read up to the end of the TCP header or of the
captured bytes, whichever comes first; end-of-list (kind 0) ends the list and is not written; an
option whose length byte is missing, below 2 or running past the end is written and ends the list.
"""

from __future__ import annotations

MAX_PACKED = 7  # kinds packed in one 64-bit key by the compiled path (count in the top byte)


def layout(options: bytes) -> tuple[str, int | None]:
    """(kinds in order, comma-separated; the first well-formed MSS option's value or None)."""
    kinds: list[int] = []
    mss = None
    p, end = 0, len(options)
    while p < end:
        kind = options[p]
        if kind == 0:
            break
        if kind == 1:
            kinds.append(1)
            p += 1
            continue
        if p + 1 >= end or options[p + 1] < 2 or p + options[p + 1] > end:
            kinds.append(kind)
            break
        size = options[p + 1]
        if kind == 2 and size == 4 and mss is None:
            mss = options[p + 2] << 8 | options[p + 3]
        kinds.append(kind)
        p += size
    return ",".join(map(str, kinds)), mss


def key_text(key: int) -> str:
    """The layout text of a packed key: up to MAX_PACKED kinds, one per byte, their count in the top byte."""
    count = key >> 56
    return ",".join(str(key >> (8 * i) & 0xFF) for i in range(count))


def tcp_header_options(tcp: bytes) -> bytes:
    """The option bytes of a TCP header (and whatever follows it): past byte 20, up to the data offset."""
    if len(tcp) < 20:
        return b""
    return tcp[20 : (tcp[12] >> 4) * 4]
