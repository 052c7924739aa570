"""How a fused kernel's work is cut up: chunks of a flat buffer that never straddle a segment.

Both fused backends share this table. The CPU kernels hand chunks to threads; the CUDA
kernels launch one block per chunk. Because no chunk crosses a segment boundary, a chunk
needs one gradient scale (its segment's clip-norm factor), loaded once, and a segment's sum
of squares is a sum over whole chunks. Empty segments get no chunk.
"""
from __future__ import annotations

import numpy as np
from numba import njit


@njit(fastmath=False, nogil=True, error_model="numpy", cache=True)
def chunk_table(bounds, chunk):
    """(starts, stops, segment index) of the chunks of at most `chunk` elements covering every
    segment [bounds[s], bounds[s + 1]), in buffer order; int64 arrays of one length."""
    n = 0
    for s in range(bounds.size - 1):
        n += (bounds[s + 1] - bounds[s] + chunk - 1) // chunk
    starts = np.empty(n, np.int64)
    stops = np.empty(n, np.int64)
    segs = np.empty(n, np.int64)
    c = 0
    for s in range(bounds.size - 1):
        lo = bounds[s]
        while lo < bounds[s + 1]:
            starts[c] = lo
            stops[c] = min(lo + chunk, bounds[s + 1])
            segs[c] = s
            lo += chunk
            c += 1
    return starts, stops, segs
