"""What the kernel already holds for a TCP connection the sensor closes before reading it all (issue 28).

A connection closed unread (rate, per-source cap, slots full) or cut early (evicted, shutdown) may
have sent its payload already: one non-blocking read takes it from the socket's receive queue, so
the record keeps it and `sent_data` says what is known instead of a false "nothing was sent".
"""

from __future__ import annotations

import fcntl
import os
import struct
import termios
from dataclasses import dataclass


@dataclass(frozen=True)
class Buffered:
    """The queued bytes taken (the first `keep`), how many were queued, whether the peer had closed with none."""

    kept: bytes = b""
    count: int = 0
    closed_empty: bool = False  # end of stream and nothing before it: the peer sent nothing and closed


def take_buffered(fd: int, keep: int) -> Buffered:
    """Read what is queued on the non-blocking socket `fd` without waiting; nothing known on any error."""
    want = max(keep, 1)  # one byte still tells "sent something" from "closed" when no payload is kept
    try:
        data = os.read(fd, want)
    except OSError:  # nothing queued (EAGAIN), reset, or not a socket here: nothing known
        return Buffered()
    if not data:
        return Buffered(closed_empty=True)
    count = len(data) + (queued(fd) if len(data) == want else 0)
    return Buffered(data[:keep], count)


def queued(fd: int) -> int:
    """Bytes still waiting in `fd`'s receive queue (FIONREAD, SIOCINQ for TCP); 0 if the kernel cannot say."""
    try:
        return struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0"))[0]
    except OSError:
        return 0
