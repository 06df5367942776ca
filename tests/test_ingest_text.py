"""The compiled text columns (dotted quads, `byte:N` locations) equal Python's own formatting."""

from __future__ import annotations

import ipaddress

import numpy as np
import pytest

from pipelines.ingest.arrowtext import dotted_quads, prefixed_numbers


def test_dotted_quads_match_ipaddress() -> None:
    rng = np.random.default_rng(3)
    addr = np.concatenate(([0, 1, 255, 256, 0x0A000001, 0xC0A80064, 0xFFFFFFFF], rng.integers(0, 2**32, 5000))).astype(
        np.uint32
    )
    got = dotted_quads(addr).to_pylist()
    assert got == [str(ipaddress.IPv4Address(int(a))) for a in addr]


def test_prefixed_numbers_match_str() -> None:
    rng = np.random.default_rng(4)
    values = np.concatenate(([0, 9, 10, 99, 100, 2**31, 2**63 - 1], rng.integers(0, 2**40, 5000)))
    assert prefixed_numbers("byte:", values).to_pylist() == [f"byte:{v}" for v in values.tolist()]
    assert prefixed_numbers("line:", np.array([], np.int64)).to_pylist() == []


def test_prefixed_numbers_refuses_negatives() -> None:
    with pytest.raises(ValueError, match="non-negative"):
        prefixed_numbers("line:", np.array([3, -1]))
