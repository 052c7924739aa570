"""Fused CPU kernels: each optimizer step is one parallel pass over memory, compiled by numba.

Plain NumPy makes ~10 passes per Adam step; here every element is loaded once, updated in
registers and stored once, with float32 arithmetic in torch's order of operations and no
fast-math, so results track torch.optim to float32 rounding. Division follows NumPy's
error model, as the references do: x / 0 is inf or NaN, not a ZeroDivisionError (which
numba cannot raise out of a parallel loop, and whose per-element check keeps a loop from
vectorizing). Every function here says its `fastmath` and `error_model` explicitly: numba
hands a callee that leaves them unset its caller's, so a strict helper called from a
reassociating sum would be compiled (and cached) reassociating, and its bits would depend
on which caller compiled it first. Inner loops index a slice
from 0, which is what lets numba drop its negative-index wraparound and LLVM vectorize
(indexing the whole buffer from a runtime start measured 3x slower). The buffer is cut into
CHUNK-element chunks that never straddle a segment, and threads take chunks statically, so
each thread streams through contiguous memory and a segment's gradient scale is one load
per chunk.

Each step kernel takes exactly the arguments of the NumPy `reference` of the algorithms that
name it (optim/algorithms). Every kernel releases the GIL for its whole run (nogil: numba's
parallel regions run without it anyway, the serial code around them does not), so steps of
two jobs on executor threads overlap and a thread serving the event loop is not held up.
numba's default threading layer (workqueue) aborts when two Python threads launch parallel
kernels at once, which such executors do; this module asks for a thread-safe layer (OpenMP
or TBB) unless NUMBA_THREADING_LAYER says otherwise.
"""
from __future__ import annotations

import os
from typing import Callable

import numba
import numpy as np
from numba import njit, prange

from lrctl.server.backends.chunk_table import chunk_table
from lrctl.server.backends.kernels import Kernels
from lrctl.server.errors import FieldViolation, InvalidArgument
from lrctl.server.validation import is_int

if "NUMBA_THREADING_LAYER" not in os.environ:
    numba.config.THREADING_LAYER = "threadsafe"

CHUNK = 16384
"""Elements per unit of parallel work: 64 KiB of each array, a few L2-sized bites."""


@njit(fastmath=False, nogil=True, error_model="numpy", cache=True)
def _grad(x, scale, clip):
    """The gradient element the optimizer sees: clip-norm scale, then clipvalue clamp."""
    x = x * scale
    if x > clip:
        return clip
    if x < -clip:
        return -clip
    return x


@njit(parallel=True, fastmath={"reassoc"}, nogil=True, error_model="numpy", cache=True)
def segment_sumsq(g, bounds):
    # reassoc lets the float64 sum vectorize; the norm only sizes a clip factor and tests
    # finiteness, neither of which depends on summation order.
    starts, stops, segs = chunk_table(bounds, CHUNK)
    partial = np.empty(starts.size, np.float64)
    for c in prange(starts.size):
        gc = g[starts[c]:stops[c]]
        acc = 0.0
        for i in range(gc.size):
            x = np.float64(gc[i])
            acc += x * x
        partial[c] = acc
    out = np.zeros(bounds.size - 1, np.float64)
    for c in range(starts.size):
        out[segs[c]] += partial[c]
    return out


@njit(parallel=True, fastmath=False, nogil=True, error_model="numpy", cache=True)
def sgd(p, g, buf, bounds, scales, clip, lr, weight_decay, momentum, one_minus_dampening,
        nesterov, first_step):
    starts, stops, segs = chunk_table(bounds, CHUNK)
    for c in prange(starts.size):
        scale, lo, hi = scales[segs[c]], starts[c], stops[c]
        pc, gc, bc = p[lo:hi], g[lo:hi], buf[lo:hi]
        for i in range(pc.size):
            gi = _grad(gc[i], scale, clip)
            if weight_decay != 0:
                gi = gi + weight_decay * pc[i]
            if momentum != 0:
                b = gi if first_step else bc[i] * momentum + one_minus_dampening * gi
                bc[i] = b
                gi = gi + momentum * b if nesterov else b
            pc[i] = pc[i] - lr * gi


@njit(parallel=True, fastmath=False, nogil=True, error_model="numpy", cache=True)
def adagrad(p, g, state_sum, bounds, scales, clip, clr, weight_decay, eps):
    starts, stops, segs = chunk_table(bounds, CHUNK)
    for c in prange(starts.size):
        scale, lo, hi = scales[segs[c]], starts[c], stops[c]
        pc, gc, sc = p[lo:hi], g[lo:hi], state_sum[lo:hi]
        for i in range(pc.size):
            gi = _grad(gc[i], scale, clip)
            if weight_decay != 0:
                gi = gi + weight_decay * pc[i]
            s = sc[i] + gi * gi
            sc[i] = s
            pc[i] = pc[i] - clr * gi / (np.sqrt(s) + eps)


@njit(parallel=True, fastmath=False, nogil=True, error_model="numpy", cache=True)
def rmsprop(p, g, square_avg, grad_avg, buf, bounds, scales, clip, lr, alpha,
            one_minus_alpha, eps, weight_decay, momentum, centered):
    starts, stops, segs = chunk_table(bounds, CHUNK)
    for c in prange(starts.size):
        scale, lo, hi = scales[segs[c]], starts[c], stops[c]
        pc, gc, sqc = p[lo:hi], g[lo:hi], square_avg[lo:hi]
        gac, bc = grad_avg[lo:hi], buf[lo:hi]
        for i in range(pc.size):
            gi = _grad(gc[i], scale, clip)
            if weight_decay != 0:
                gi = gi + weight_decay * pc[i]
            sq = sqc[i] * alpha + one_minus_alpha * gi * gi
            sqc[i] = sq
            if centered:
                ga = gac[i]
                ga = ga + one_minus_alpha * (gi - ga)
                gac[i] = ga
                sq = sq - ga * ga
            avg = np.sqrt(sq) + eps
            if momentum != 0:
                b = bc[i] * momentum + gi / avg
                bc[i] = b
                pc[i] = pc[i] - lr * b
            else:
                pc[i] = pc[i] - lr * gi / avg


@njit(parallel=True, fastmath=False, nogil=True, error_model="numpy", cache=True)
def adam(p, g, exp_avg, exp_avg_sq, max_exp_avg_sq, bounds, scales, clip, step_size,
         one_minus_beta1, beta2, one_minus_beta2, bias_correction2_sqrt, eps, weight_decay,
         param_decay, amsgrad):
    starts, stops, segs = chunk_table(bounds, CHUNK)
    for c in prange(starts.size):
        scale, lo, hi = scales[segs[c]], starts[c], stops[c]
        pc, gc, mc = p[lo:hi], g[lo:hi], exp_avg[lo:hi]
        vc, vmaxc = exp_avg_sq[lo:hi], max_exp_avg_sq[lo:hi]
        for i in range(pc.size):
            gi = _grad(gc[i], scale, clip)
            pi = pc[i]
            if param_decay != 1:
                pi = pi * param_decay
            if weight_decay != 0:
                gi = gi + weight_decay * pi
            m = mc[i]
            m = m + one_minus_beta1 * (gi - m)
            mc[i] = m
            v = vc[i] * beta2 + one_minus_beta2 * gi * gi
            vc[i] = v
            if amsgrad:
                if vmaxc[i] > v:
                    v = vmaxc[i]
                vmaxc[i] = v
            pc[i] = pi - step_size * m / (np.sqrt(v) / bias_correction2_sqrt + eps)


@njit(parallel=True, fastmath=False, nogil=True, error_model="numpy", cache=True)
def nadam(p, g, exp_avg, exp_avg_sq, bounds, scales, clip, one_minus_beta1, beta2, one_minus_beta2,
          bias_correction2, eps, weight_decay, param_decay, grad_step, avg_step):
    starts, stops, segs = chunk_table(bounds, CHUNK)
    for c in prange(starts.size):
        scale, lo, hi = scales[segs[c]], starts[c], stops[c]
        pc, gc, mc, vc = p[lo:hi], g[lo:hi], exp_avg[lo:hi], exp_avg_sq[lo:hi]
        for i in range(pc.size):
            gi = _grad(gc[i], scale, clip)
            pi = pc[i]
            if param_decay != 1:
                pi = pi * param_decay
            if weight_decay != 0:
                gi = gi + weight_decay * pi
            m = mc[i]
            m = m + one_minus_beta1 * (gi - m)
            mc[i] = m
            v = vc[i] * beta2 + one_minus_beta2 * gi * gi
            vc[i] = v
            denom = np.sqrt(v / bias_correction2) + eps
            pi = pi - grad_step * gi / denom
            pc[i] = pi - avg_step * m / denom


@njit(parallel=True, fastmath=False, nogil=True, error_model="numpy", cache=True)
def radam(p, g, exp_avg, exp_avg_sq, bounds, scales, clip, one_minus_beta1, beta2, one_minus_beta2,
          bias_correction1, lr, bias_correction2_sqrt, eps, rect, weight_decay, param_decay, rectified):
    starts, stops, segs = chunk_table(bounds, CHUNK)
    one = np.float32(1.0)
    for c in prange(starts.size):
        scale, lo, hi = scales[segs[c]], starts[c], stops[c]
        pc, gc, mc, vc = p[lo:hi], g[lo:hi], exp_avg[lo:hi], exp_avg_sq[lo:hi]
        for i in range(pc.size):
            gi = _grad(gc[i], scale, clip)
            pi = pc[i]
            if param_decay != 1:
                pi = pi * param_decay
            if weight_decay != 0:
                gi = gi + weight_decay * pi
            m = mc[i]
            m = m + one_minus_beta1 * (gi - m)
            mc[i] = m
            v = vc[i] * beta2 + one_minus_beta2 * gi * gi
            vc[i] = v
            step = m / bias_correction1 * lr
            if rectified:
                step = step * (one / (np.sqrt(v) + eps) * bias_correction2_sqrt) * rect
            pc[i] = pi - step


@njit(parallel=True, fastmath=False, nogil=True, error_model="numpy", cache=True)
def adamax(p, g, exp_avg, exp_inf, bounds, scales, clip, one_minus_beta1, beta2, eps, weight_decay, clr):
    starts, stops, segs = chunk_table(bounds, CHUNK)
    for c in prange(starts.size):
        scale, lo, hi = scales[segs[c]], starts[c], stops[c]
        pc, gc, mc, uc = p[lo:hi], g[lo:hi], exp_avg[lo:hi], exp_inf[lo:hi]
        for i in range(pc.size):
            gi = _grad(gc[i], scale, clip)
            if weight_decay != 0:
                gi = gi + weight_decay * pc[i]
            m = mc[i]
            m = m + one_minus_beta1 * (gi - m)
            mc[i] = m
            u = uc[i] * beta2
            a = abs(gi) + eps
            if a > u:
                u = a
            uc[i] = u
            pc[i] = pc[i] - clr * m / u


@njit(parallel=True, fastmath=False, nogil=True, error_model="numpy", cache=True)
def adadelta(p, g, square_avg, acc_delta, bounds, scales, clip, lr, rho, one_minus_rho, eps, weight_decay):
    starts, stops, segs = chunk_table(bounds, CHUNK)
    for c in prange(starts.size):
        scale, lo, hi = scales[segs[c]], starts[c], stops[c]
        pc, gc, sqc, accc = p[lo:hi], g[lo:hi], square_avg[lo:hi], acc_delta[lo:hi]
        for i in range(pc.size):
            gi = _grad(gc[i], scale, clip)
            if weight_decay != 0:
                gi = gi + weight_decay * pc[i]
            sq = sqc[i] * rho + one_minus_rho * gi * gi
            sqc[i] = sq
            acc = accc[i]
            delta = np.sqrt(acc + eps) / np.sqrt(sq + eps) * gi
            accc[i] = acc * rho + one_minus_rho * delta * delta
            pc[i] = pc[i] - lr * delta


@njit(parallel=True, fastmath=False, nogil=True, error_model="numpy", cache=True)
def lion(p, g, exp_avg, bounds, scales, clip, lr, one_minus_b1, b1, one_minus_b2, b2, weight_decay):
    starts, stops, segs = chunk_table(bounds, CHUNK)
    for c in prange(starts.size):
        scale, lo, hi = scales[segs[c]], starts[c], stops[c]
        pc, gc, mc = p[lo:hi], g[lo:hi], exp_avg[lo:hi]
        for i in range(pc.size):
            gi = _grad(gc[i], scale, clip)
            m = mc[i]
            x = one_minus_b1 * gi + b1 * m
            update = np.sign(x)
            mc[i] = one_minus_b2 * gi + b2 * m
            pi = pc[i]
            if weight_decay != 0:
                update = update + weight_decay * pi
            pc[i] = pi - lr * update


@njit(fastmath=False, nogil=True, error_model="numpy", cache=True)
def _lamb_update(m, v, pi, bias_correction1, bias_correction2, eps, weight_decay):
    """LAMB's unscaled update of one element from its new moments (both later passes run
    this). The decayed weight is added even when weight_decay is 0, as optax adds it: a
    branch here would keep the loops that call it from vectorizing."""
    return (m / bias_correction1) / (np.sqrt(v / bias_correction2) + eps) + weight_decay * pi


@njit(fastmath={"reassoc"}, nogil=True, error_model="numpy", cache=True)
def _lamb_squares(pc, mc, vc, bias_correction1, bias_correction2, eps, weight_decay):
    """(sum p^2, sum u^2) of one chunk in float64. Reassociable, so that the sums vectorize:
    they are rounded to float32 norms in the end, which a reordered float64 sum leaves as
    they are (the update itself is recomputed, in order, by the pass that applies it)."""
    sp, su = 0.0, 0.0
    for i in range(pc.size):
        update = _lamb_update(mc[i], vc[i], pc[i], bias_correction1, bias_correction2, eps, weight_decay)
        sp += np.float64(pc[i]) * np.float64(pc[i])
        su += np.float64(update) * np.float64(update)
    return sp, su


@njit(parallel=True, fastmath=False, nogil=True, error_model="numpy", cache=True)
def lamb(p, g, exp_avg, exp_avg_sq, bounds, scales, clip, one_minus_b1, b1, one_minus_b2, b2, bias_correction1,
         bias_correction2, eps, weight_decay, lr):
    # Three passes, each vectorized: the moments; each chunk's p^2 and u^2 summed in float64
    # (a segment's, i.e. a tensor's, norms are the sums of its chunks', rounded to float32 as
    # the reference's are); then u recomputed from the stored moments and applied times the
    # trust ratio.
    starts, stops, segs = chunk_table(bounds, CHUNK)
    param_sq = np.zeros(starts.size, np.float64)
    update_sq = np.zeros(starts.size, np.float64)
    for c in prange(starts.size):
        scale, lo, hi = scales[segs[c]], starts[c], stops[c]
        gc, mc, vc = g[lo:hi], exp_avg[lo:hi], exp_avg_sq[lo:hi]
        for i in range(gc.size):
            gi = _grad(gc[i], scale, clip)
            mc[i] = one_minus_b1 * gi + b1 * mc[i]
            vc[i] = one_minus_b2 * (gi * gi) + b2 * vc[i]
        param_sq[c], update_sq[c] = _lamb_squares(p[lo:hi], mc, vc, bias_correction1, bias_correction2, eps,
                                                  weight_decay)
    segments = bounds.size - 1
    ratios = np.ones(segments, np.float32)
    param_total, update_total = np.zeros(segments, np.float64), np.zeros(segments, np.float64)
    for c in range(starts.size):
        param_total[segs[c]] += param_sq[c]
        update_total[segs[c]] += update_sq[c]
    for s in range(segments):
        param_norm, update_norm = np.float32(np.sqrt(param_total[s])), np.float32(np.sqrt(update_total[s]))
        if param_norm != 0 and update_norm != 0:
            ratios[s] = param_norm / update_norm
    for c in prange(starts.size):
        ratio, lo, hi = ratios[segs[c]], starts[c], stops[c]
        pc, mc, vc = p[lo:hi], exp_avg[lo:hi], exp_avg_sq[lo:hi]
        for i in range(pc.size):
            update = _lamb_update(mc[i], vc[i], pc[i], bias_correction1, bias_correction2, eps, weight_decay)
            pc[i] = pc[i] - lr * (update * ratio)


COLUMNS = 256
"""Columns per unit of Adafactor's column-sum pass: a thread walks every row of one such band,
1 KiB of each row, accumulating 256 float64 sums that stay in cache."""


@njit(fastmath={"reassoc"}, nogil=True, error_model="numpy", cache=True)
def _sum_of_squares(a):
    """sum a^2 of a float32 row, in float64. Reassociable, so that it vectorizes: it is
    rounded to a float32 norm, which a reordered float64 sum leaves as it is (as
    `_lamb_squares`)."""
    acc = 0.0
    for i in range(a.size):
        acc += np.float64(a[i]) * np.float64(a[i])
    return acc


@njit(fastmath=False, nogil=True, error_model="numpy", cache=True)
def _lerp(start, end, small, coeff):
    """numpy_reference.lerp of one element: fma(coeff, end - start, start or end), the product
    exact in float64 and the sum rounded once to float64, then to float32."""
    base = start if small else end
    return np.float32(np.float64(end - start) * np.float64(coeff) + np.float64(base))


@njit(fastmath=False, nogil=True, error_model="numpy", cache=True)
def _adafactor_update(row, col, divisor, eps1_sq, gi):
    """One element of Adafactor's unclipped update: g / sqrt(max(r c / divisor, eps1^2))."""
    estimate = (row * col) / divisor
    return (np.float32(1) / np.sqrt(estimate if not estimate < eps1_sq else eps1_sq)) * gi


@njit(parallel=True, fastmath=False, nogil=True, error_model="numpy", cache=True)
def adafactor(p, g, row_var, col_var, one_minus_beta2, eps1, eps2, rho, d, decay):
    # A batch of matrices p, g (B, R, C) with factors row_var (B, R) and col_var (B, C), in
    # four parallel passes: per-row sums of p^2 and g^2; per-column sums of g^2 (bands of
    # COLUMNS, each column summed down its rows in order); u, written over g (the caller's
    # temporary: apply_tensor's contract), and its per-row sums of squares; the step. The
    # factors, their means and the two norms are O(R + C), between passes. u's two divisions
    # and square root are most of the time, so they are made once.
    batches, rows, cols = p.shape
    small = abs(one_minus_beta2) < 0.5
    coeff = np.float32(one_minus_beta2) if small else np.float32(one_minus_beta2) - np.float32(1)
    eps1_32, eps1_sq = np.float32(eps1), np.float32(eps1 * eps1)
    param_sq, row_sq = np.empty(batches * rows, np.float64), np.empty(batches * rows, np.float64)
    for k in prange(batches * rows):
        param_sq[k], row_sq[k] = _sum_of_squares(p[k // rows, k % rows]), _sum_of_squares(g[k // rows, k % rows])
    bands = (cols + COLUMNS - 1) // COLUMNS
    col_sq = np.zeros((batches, cols), np.float64)
    for k in prange(batches * bands):
        b, lo = k // bands, (k % bands) * COLUMNS
        hi = min(lo + COLUMNS, cols)
        acc = col_sq[b, lo:hi]
        for r in range(rows):
            gr = g[b, r, lo:hi]
            for j in range(hi - lo):
                x = np.float64(gr[j])
                acc[j] += x * x
    root = np.sqrt(np.float64(p.size))
    alpha = max(eps2, np.float64(np.float32(np.sqrt(param_sq.sum()))) / root) * rho
    divisors = np.empty(batches, np.float32)
    for b in range(batches):
        mean = 0.0
        for r in range(rows):
            norm = np.float32(np.sqrt(row_sq[b * rows + r]))
            row_var[b, r] = _lerp(row_var[b, r], norm * norm / np.float32(cols), small, coeff)
            mean += np.float64(row_var[b, r])
        for j in range(cols):
            norm = np.float32(np.sqrt(col_sq[b, j]))
            col_var[b, j] = _lerp(col_var[b, j], norm * norm / np.float32(rows), small, coeff)
        mean32 = np.float32(mean / rows)
        divisors[b] = mean32 if not mean32 < eps1_32 else eps1_32
    update_sq = np.empty(batches * rows, np.float64)
    for k in prange(batches * rows):
        b, r = k // rows, k % rows
        gr, cr, row, divisor = g[b, r], col_var[b], row_var[b, r], divisors[b]
        for j in range(gr.size):
            gr[j] = _adafactor_update(row, cr[j], divisor, eps1_sq, gr[j])
        update_sq[k] = _sum_of_squares(gr)
    clip = max(1.0, np.float64(np.float32(np.sqrt(update_sq.sum()))) / (root * d))
    scale = np.float32(-alpha / clip)
    for k in prange(batches * rows):
        b, r = k // rows, k % rows
        pr, ur = p[b, r], g[b, r]
        for j in range(pr.size):
            pr[j] = pr[j] * decay + scale * ur[j]


FUSED = {"sgd": sgd, "adagrad": adagrad, "rmsprop": rmsprop, "adam": adam, "nadam": nadam, "radam": radam,
         "adamax": adamax, "adadelta": adadelta, "lion": lion,
         "lamb": lamb, "adafactor": adafactor}
"""The step kernels by the name algorithms give as their `kernel`."""


def threaded(n: int) -> Kernels:
    """The kernels, launched on `n` threads from whichever thread calls them.

    numba's thread count is per calling thread, so setting it once at start would not reach
    a server's worker threads; each launch sets it (a thread-local store, ~100 ns).
    """
    if not (is_int(n) and 1 <= n <= numba.config.NUMBA_NUM_THREADS):
        raise InvalidArgument(FieldViolation(
            "threads", f"Invalid threads value: {n!r} (must be in [1, {numba.config.NUMBA_NUM_THREADS}])"))

    def bind(kernel: Callable) -> Callable:
        def launch(*args):
            numba.set_num_threads(n)
            return kernel(*args)
        return launch

    return Kernels(f"numba-fused[{n} threads]", bind(segment_sumsq),
                   {name: bind(kernel) for name, kernel in FUSED.items()})
