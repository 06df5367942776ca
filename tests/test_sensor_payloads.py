"""Payloads under hostile load (issue 28, finding 6): a third party is read while many sources trickle on every
slot, and `sent_data` is false only when the peer sent nothing. Real sockets on 127.0.0.x; waits on counters."""

from __future__ import annotations

import asyncio
import fcntl
import json
import socket
import struct
import termios
import time
from pathlib import Path

from pipelines.sensor import Sensor, SensorConfig, SourceRateLimiter


async def _until(check, what: str, timeout: float = 60.0) -> None:
    """Wait for the sensor's state to reach `check` (the bound only guards against a hang)."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.01)


def _acked(sock) -> bool:
    """Everything this client sent, its FIN included, is acknowledged: it is in the sensor's kernel buffer."""
    unacked = struct.unpack("i", fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, b"\0\0\0\0"))[0]
    state = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)[0]
    return unacked == 0 and state != 4  # 4: FIN_WAIT1, our FIN not acknowledged yet


def _config(out: Path, **limits) -> SensorConfig:
    base = dict(out=out, tcp_ports=(0,), host="127.0.0.1", name="pay", per_source_rate=0, flush_interval_s=0.02)
    return SensorConfig(**(base | limits))


def _records(out: Path) -> list[dict]:
    return [json.loads(line) for p in sorted(out.glob("sensor-*.jsonl")) for line in p.read_text().splitlines()]


def test_a_third_partys_probes_are_read_while_many_sources_trickle_on_every_slot(tmp_path: Path) -> None:
    # 10 sources x 8 trickling connections against 48 slots: the 40 x 16 against 512, scaled down.
    # Nothing times out here and equal shares never take turns, so only fairness decides who is read.
    config = _config(
        tmp_path,
        max_connections=48,
        max_connections_per_source=8,
        read_timeout_s=600,
        max_duration_s=600,
        min_read_s=600,
    )
    hogs, third = [f"127.0.3.{1 + i}" for i in range(10)], "127.0.0.3"

    async def scenario() -> dict:
        sensor = Sensor(config)
        await sensor.start()
        port, st = sensor.ports["tcp"][0], sensor.stats
        trickle = []
        for _ in range(8):  # the hogs start together, round-robin
            for hog in hogs:
                _, w = await asyncio.open_connection("127.0.0.1", port, local_addr=(hog, 0))
                w.write(b".")  # a trickle: one byte so far, more would come before any timeout
                trickle.append(w)
        await _until(lambda: all(_acked(w.get_extra_info("socket")) for w in trickle), "hogs' bytes not delivered")
        await _until(lambda: sum(sensor.per_source.values()) + st["closed_max_connections"] == 80, "hogs' accepts")
        assert len(sensor.live) == 48 and st["closed_max_connections"] == 32  # every slot held by a hog
        for i in range(20):
            _, w = await asyncio.open_connection("127.0.0.1", port, local_addr=(third, 0))
            w.write(b"probe %d" % i)
            await w.drain()
            w.close()
            await _until(lambda n=i + 1: st["tcp"] >= 32 + st.get("evicted_fair_share", 0) + n, "probe not recorded")
            # A hog takes the freed slot back at once, so that every probe finds the slots full.
            _, w = await asyncio.open_connection("127.0.0.1", port, local_addr=(hogs[i % 10], 0))
            w.write(b".")
            trickle.append(w)
            await _until(lambda w=w: len(sensor.live) == 48 and _acked(w.get_extra_info("socket")), "hog not admitted")
        for w in trickle:
            w.close()
        return await sensor.stop()

    final = asyncio.run(scenario())
    records = _records(tmp_path)
    probes = [r for r in records if r["src_ip"] == third]
    assert sorted(bytes.fromhex(r["payload_hex"]) for r in probes) == sorted(b"probe %d" % i for i in range(20))
    assert all(r["sent_data"] is True and r["close_reason"] == "peer" for r in probes)
    assert final["evicted_fair_share"] == 20 and final["closed_max_connections"] == 32  # one hog slot per probe
    evicted = [r for r in records if r["close_reason"] == "evicted"]
    assert len(evicted) == final["evicted_fair_share"] and {r["src_ip"] for r in evicted} <= set(hogs)
    assert all(r["payload_hex"] == "2e" and r["sent_data"] is True for r in evicted)  # what they sent so far
    shed = [r for r in records if r["close_reason"] == "max_connections"]
    assert len(shed) == 32 and all(r["sent_data"] is not False for r in shed)  # "." buffered yet or unknown
    assert all(bytes.fromhex(r["payload_hex"]) == b"." * r["bytes"] for r in shed)
    assert final["records"] == len(records) == 80 + 20 + 20


def test_a_burst_closed_unread_says_sent_data_false_only_when_the_peer_sent_nothing(tmp_path: Path) -> None:
    config = _config(tmp_path, max_connections_per_source=0, read_timeout_s=0.2)
    source = "127.0.0.9"

    async def scenario() -> tuple[dict, dict]:
        sensor = Sensor(config)
        sensor.limiter = SourceRateLimiter(5.0, clock=lambda: 0.0)  # time stands still: 5 read, the rest not
        await sensor.start()
        port = sensor.ports["tcp"][0]
        # Blocking clients with no await in between: every one is connected, and has sent what it sends,
        # before the sensor accepts the first (the kernel completes handshakes on its own).
        clients: dict[int, tuple[socket.socket, str]] = {}
        for i in range(60):
            s = socket.create_connection(("127.0.0.1", port), source_address=(source, 0))
            kind = ("payload", "nothing then FIN", "nothing yet")[i % 3]
            if kind == "payload":
                s.sendall(b"GET /%d HTTP/1.0\r\n\r\n" % i)
            if kind != "nothing yet":
                s.shutdown(socket.SHUT_WR)
            clients[s.getsockname()[1]] = (s, kind)
        deadline = time.monotonic() + 60
        while not all(_acked(s) for s, _ in clients.values()):  # no await: the sensor has not accepted any yet
            assert time.monotonic() < deadline, "clients' bytes not delivered"
        await _until(lambda: sensor.stats["tcp"] == 60, "burst not recorded")
        for s, _ in clients.values():
            s.close()
        return {port: kind for port, (_, kind) in clients.items()}, await sensor.stop()

    kinds, final = asyncio.run(scenario())
    records = _records(tmp_path)
    assert len(records) == 60 and final["closed_rate_tcp"] == 55
    said = {(kinds[r["src_port"]], r["sent_data"]) for r in records}
    assert said <= {("payload", True), ("nothing then FIN", False), ("nothing yet", None), ("nothing yet", False)}
    for r in records:
        kind = kinds[r["src_port"]]
        if kind == "payload":  # read, or taken from the kernel's buffer when closed unread
            assert r["sent_data"] is True and bytes.fromhex(r["payload_hex"]).startswith(b"GET /")
            assert r["bytes"] == len(bytes.fromhex(r["payload_hex"]))
        elif kind == "nothing then FIN":  # its end of stream was there: known to have sent nothing
            assert r["sent_data"] is False and r["bytes"] == 0
        elif r["close_reason"] == "rate":  # closed before it could send: not "false", unknown
            assert r["sent_data"] is None and r["bytes"] == 0
        else:  # read and silent past the read timeout: false
            assert (r["close_reason"], r["sent_data"]) == ("read_timeout", False)
    unread = [r for r in records if r["close_reason"] == "rate"]
    assert len(unread) == 55 and sum(r["sent_data"] is True for r in unread) >= 15
    assert final["sent_data_unknown"] == sum(r["sent_data"] is None for r in records) >= 15


def test_a_probe_closed_unread_keeps_what_it_sends_right_after_its_handshake(tmp_path: Path) -> None:
    config = _config(tmp_path, unread_wait_s=600, max_unread_waiting=2)
    source = "127.0.0.11"

    async def scenario() -> dict:
        sensor = Sensor(config)
        sensor.limiter = SourceRateLimiter(1.0, burst=0.0, clock=lambda: 0.0)  # nothing of this source is read
        await sensor.start()
        port, st = sensor.ports["tcp"][0], sensor.stats
        for i in range(3):
            _, w = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
            await _until(lambda n=i + 1: st["closed_rate_tcp"] == n, "connection not accepted")
            w.write(b"late %d" % i)  # sent only once the sensor had decided not to read it
            await _until(lambda w=w: _acked(w.get_extra_info("socket")), "bytes not delivered")
        assert sensor.snapshot()["unread_waiting"] == 2  # the third pushed the first out: recorded now
        await _until(lambda: st["tcp"] == 1, "the oldest waiting connection was not recorded")
        return await sensor.stop()  # the two still waiting are recorded with what they sent

    final = asyncio.run(scenario())
    records = _records(tmp_path)
    assert sorted(bytes.fromhex(r["payload_hex"]) for r in records) == [b"late 0", b"late 1", b"late 2"]
    assert all((r["sent_data"], r["close_reason"]) == (True, "rate") for r in records)
    assert final["closed_rate_tcp"] == 3 and final["unread_waiting"] == 0 and final["sent_data_unknown"] == 0


def test_equal_shares_take_turns_so_a_newcomer_is_read_once_the_oldest_was_read_long_enough(tmp_path: Path) -> None:
    # min_read_s=0: every connection has been read long enough, so the oldest of the equal shares yields at once.
    config = _config(tmp_path, max_connections=4, read_timeout_s=600, max_duration_s=600, min_read_s=0)
    holders = [f"127.0.4.{1 + i}" for i in range(4)]

    async def scenario() -> dict:
        sensor = Sensor(config)
        await sensor.start()
        port, st = sensor.ports["tcp"][0], sensor.stats
        held = []
        for n, source in enumerate(holders, 1):  # one silent connection each: equal shares, every slot taken
            held.append(await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0)))
            await _until(lambda n=n: len(sensor.live) == n, "holder not admitted")
        _, w = await asyncio.open_connection("127.0.0.1", port, local_addr=("127.0.4.9", 0))
        w.write(b"newcomer")
        await w.drain()
        w.close()
        await _until(lambda: st["tcp"] == 2, "the newcomer and the connection it replaced not recorded")
        for _, hw in held:
            hw.close()
        return await sensor.stop()

    final = asyncio.run(scenario())
    by_src = {r["src_ip"]: r for r in _records(tmp_path)}
    assert by_src["127.0.4.9"]["payload_hex"] == b"newcomer".hex() and by_src["127.0.4.9"]["sent_data"] is True
    oldest = by_src[holders[0]]  # silent until it yielded its slot: not known to send nothing, so null
    assert (oldest["close_reason"], oldest["sent_data"]) == ("evicted", None)
    assert final["evicted_fair_share"] == 1 and final["closed_max_connections"] == 0
