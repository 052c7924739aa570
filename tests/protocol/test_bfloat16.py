"""The compiled bfloat16 rounding (where numba is installed, as on every server) gives the
same bits as the NumPy one (what a client without numba runs), and both round like a scalar
reference: nearest, ties to even; NaN stays NaN with its top half."""
from __future__ import annotations

import numpy as np
import pytest

from lrctl.protocol import wire
from lrctl.protocol import bfloat16

EDGES = np.array([
    0x00000000, 0x80000000,              # +-0
    0x00000001, 0x80000001,              # smallest subnormals
    0x00008000, 0x00018000, 0x00017FFF,  # subnormal halfway cases: tie to even 0, tie up to odd+1, just below
    0x007FFFFF, 0x807FFFFF,              # largest subnormals: round up into the smallest normal
    0x00800000, 0x3F800000, 0xBF800000,  # smallest normal, +-1
    0x3F808000, 0x3F818000,              # 1 + 2^-8 (tie, even: down), 1 + 3 * 2^-8 (tie, odd: up)
    0x3F808001, 0x3F807FFF,              # just above and below a tie
    0x7F7F7FFF, 0x7F7F8000, 0x7F7FFFFF,  # near max finite: stays, ties up to inf, rounds to inf
    0xFF7F8000, 0xFF7FFFFF,              # the same, negative
    0x7F800000, 0xFF800000,              # +-inf
    0x7FC00000, 0xFFC00000,              # quiet NaNs
    0x7F800001, 0x7F808000, 0x7FBFFFFF,  # signalling NaNs (payload only in the low half; a carrying one)
    0x7FFFFFFF, 0xFFFFFFFF, 0xFF800001,  # NaNs that rounding would carry into the sign or infinity
], dtype=np.uint32)


def reference(bits: int) -> int:
    """One float32 bit pattern to bfloat16, by the definition, in Python integers."""
    if bits & 0x7FFFFFFF > 0x7F800000:
        return (bits >> 16) | 0x40
    high, low = bits >> 16, bits & 0xFFFF
    if low > 0x8000 or (low == 0x8000 and high & 1):
        high += 1
    return high


def halves(data: bytes) -> np.ndarray:
    return np.frombuffer(data, dtype="<u2")


def test_edge_values_match_the_reference_in_both_encoders() -> None:
    values = EDGES.view(np.float32)
    expected = np.array([reference(int(b)) for b in EDGES], dtype=np.uint16)
    np.testing.assert_array_equal(bfloat16.bits(values), expected)
    np.testing.assert_array_equal(bfloat16.numpy_bits(values), expected)
    np.testing.assert_array_equal(halves(wire.encode(values, "bfloat16")), expected)


def test_nan_stays_nan_and_everything_else_decodes_to_its_rounding() -> None:
    values = EDGES.view(np.float32)
    back = wire.decode(wire.encode(values, "bfloat16"), "bfloat16")
    nan = np.isnan(values)
    assert np.isnan(back[nan]).all()
    assert not np.isnan(back[~nan]).any()


@pytest.mark.parametrize("seed", range(3))
def test_every_bit_pattern_agrees_with_numpy(seed: int) -> None:
    rng = np.random.default_rng(seed)
    bits = np.concatenate([rng.integers(0, 2**32, 1 << 20, dtype=np.uint32),
                           (rng.integers(0, 2**16, 1 << 16, dtype=np.uint32) << 16) | 0x8000])  # every tie
    values = bits.view(np.float32)
    assert bfloat16.bits(values).tobytes() == bfloat16.numpy_bits(values).tobytes()


def test_the_compiled_rounding_is_the_one_in_use_here() -> None:
    assert bfloat16._compiled() is not None, "the server's environment has numba: wire.encode takes the compiled pass"


def test_shapes_and_strides_flatten_in_c_order() -> None:
    table = np.random.default_rng(0).standard_normal((64, 33)).astype(np.float32)
    for values in (table, table[::2], table[:, 1:], table.T, table[[5, 1, 1]]):
        assert bfloat16.bits(values).tobytes() == bfloat16.numpy_bits(values).tobytes()
        assert wire.encoded(values, "bfloat16").shape == values.shape
    assert bfloat16.bits(np.zeros(0, np.float32)).size == 0
