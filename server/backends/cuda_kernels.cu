// lrctl's fused optimizer kernels for CUDA: the Kernels contract of kernels.py, one pass over memory.
//
// The host cuts the flat buffers into chunks that never straddle a segment (chunk_table.py)
// and launches one block per chunk; a block's threads stride over its chunk, so each warp
// reads and writes contiguous memory, and the segment's gradient scale is one load per thread.
//
// The arithmetic is cpu_kernels.py's, float32 operation for operation in the same order
// (torch's), which is why the module must be compiled with --fmad=false: by default nvcc and
// NVRTC contract a * b + c into one fused multiply-add, which rounds once instead of twice.
// sqrtf and '/' are IEEE round-to-nearest unless fast math is asked for, and it is not.
// CuPy appends -ftz=true to every compilation, after the caller's options, so float32
// subnormal inputs and results are flushed to zero here while the CPU keeps them; results
// differ from the CPU kernels only where a float32 input or intermediate is below 2^-126.
//
// Plain C++ and no headers, so the same file also builds with g++ (tests/backends emulate
// the CUDA built-ins) and runs on the CPU. Flags (nesterov, first_step, centered, amsgrad)
// are int. A state slot the options do not use is an empty array and is never dereferenced.

#define LRCTL_MAX_THREADS 1024

// The gradient element the optimizer sees: clip-norm scale, then the clipvalue clamp.
__device__ __forceinline__ float clipped_grad(float x, float scale, float clip) {
    x = x * scale;
    if (x > clip) return clip;
    if (x < -clip) return -clip;
    return x;
}

// The block's sum of every thread's `value`, in double: a tree in `partial` (shared, one
// entry per thread, any blockDim.x up to LRCTL_MAX_THREADS). Every thread must call it (each
// reaches every __syncthreads()) and each gets the total; `partial` is not written again.
__device__ __forceinline__ double block_sum(double* partial, double value) {
    partial[threadIdx.x] = value;
    __syncthreads();
    for (unsigned int width = blockDim.x; width > 1;) {
        const unsigned int half = (width + 1) / 2;
        if (threadIdx.x < width - half) partial[threadIdx.x] += partial[threadIdx.x + half];
        __syncthreads();
        width = half;
    }
    return partial[0];
}

// out[seg] += the chunk's sum of squares, in double: per-thread partial sums, block_sum, one
// atomic add per block. out must be zeroed by the caller.
extern "C" __global__ void segment_sumsq(const float* g, const long long* starts, const long long* stops,
                                         const long long* segs, double* out) {
    __shared__ double partial[LRCTL_MAX_THREADS];
    const long long c = blockIdx.x;
    double acc = 0.0;
    for (long long i = starts[c] + threadIdx.x; i < stops[c]; i += blockDim.x) {
        const double x = g[i];
        acc += x * x;
    }
    const double total = block_sum(partial, acc);
    if (threadIdx.x == 0) atomicAdd(&out[segs[c]], total);
}

extern "C" __global__ void sgd(float* p, const float* g, float* buf, const long long* starts,
                               const long long* stops, const long long* segs, const float* scales, float clip,
                               float lr, float weight_decay, float momentum, float one_minus_dampening,
                               int nesterov, int first_step) {
    const long long c = blockIdx.x;
    const float scale = scales[segs[c]];
    for (long long i = starts[c] + threadIdx.x; i < stops[c]; i += blockDim.x) {
        float gi = clipped_grad(g[i], scale, clip);
        if (weight_decay != 0.0f) gi = gi + weight_decay * p[i];
        if (momentum != 0.0f) {
            const float b = first_step ? gi : buf[i] * momentum + one_minus_dampening * gi;
            buf[i] = b;
            gi = nesterov ? gi + momentum * b : b;
        }
        p[i] = p[i] - lr * gi;
    }
}

extern "C" __global__ void adagrad(float* p, const float* g, float* state_sum, const long long* starts,
                                   const long long* stops, const long long* segs, const float* scales,
                                   float clip, float clr, float weight_decay, float eps) {
    const long long c = blockIdx.x;
    const float scale = scales[segs[c]];
    for (long long i = starts[c] + threadIdx.x; i < stops[c]; i += blockDim.x) {
        float gi = clipped_grad(g[i], scale, clip);
        if (weight_decay != 0.0f) gi = gi + weight_decay * p[i];
        const float s = state_sum[i] + gi * gi;
        state_sum[i] = s;
        p[i] = p[i] - clr * gi / (sqrtf(s) + eps);
    }
}

extern "C" __global__ void rmsprop(float* p, const float* g, float* square_avg, float* grad_avg, float* buf,
                                   const long long* starts, const long long* stops, const long long* segs,
                                   const float* scales, float clip, float lr, float alpha,
                                   float one_minus_alpha, float eps, float weight_decay, float momentum,
                                   int centered) {
    const long long c = blockIdx.x;
    const float scale = scales[segs[c]];
    for (long long i = starts[c] + threadIdx.x; i < stops[c]; i += blockDim.x) {
        float gi = clipped_grad(g[i], scale, clip);
        if (weight_decay != 0.0f) gi = gi + weight_decay * p[i];
        float sq = square_avg[i] * alpha + one_minus_alpha * gi * gi;
        square_avg[i] = sq;
        if (centered) {
            float ga = grad_avg[i];
            ga = ga + one_minus_alpha * (gi - ga);
            grad_avg[i] = ga;
            sq = sq - ga * ga;
        }
        const float avg = sqrtf(sq) + eps;
        if (momentum != 0.0f) {
            const float b = buf[i] * momentum + gi / avg;
            buf[i] = b;
            p[i] = p[i] - lr * b;
        } else {
            p[i] = p[i] - lr * gi / avg;
        }
    }
}

extern "C" __global__ void adam(float* p, const float* g, float* exp_avg, float* exp_avg_sq,
                                float* max_exp_avg_sq, const long long* starts, const long long* stops,
                                const long long* segs, const float* scales, float clip, float step_size,
                                float one_minus_beta1, float beta2, float one_minus_beta2,
                                float bias_correction2_sqrt, float eps, float weight_decay, float param_decay,
                                int amsgrad) {
    const long long c = blockIdx.x;
    const float scale = scales[segs[c]];
    for (long long i = starts[c] + threadIdx.x; i < stops[c]; i += blockDim.x) {
        float gi = clipped_grad(g[i], scale, clip);
        float pi = p[i];
        if (param_decay != 1.0f) pi = pi * param_decay;
        if (weight_decay != 0.0f) gi = gi + weight_decay * pi;
        float m = exp_avg[i];
        m = m + one_minus_beta1 * (gi - m);
        exp_avg[i] = m;
        float v = exp_avg_sq[i] * beta2 + one_minus_beta2 * gi * gi;
        exp_avg_sq[i] = v;
        if (amsgrad) {
            if (max_exp_avg_sq[i] > v) v = max_exp_avg_sq[i];
            max_exp_avg_sq[i] = v;
        }
        p[i] = pi - step_size * m / (sqrtf(v) / bias_correction2_sqrt + eps);
    }
}

extern "C" __global__ void nadam(float* p, const float* g, float* exp_avg, float* exp_avg_sq,
                                 const long long* starts, const long long* stops, const long long* segs,
                                 const float* scales, float clip, float one_minus_beta1, float beta2,
                                 float one_minus_beta2, float bias_correction2, float eps, float weight_decay,
                                 float param_decay, float grad_step, float avg_step) {
    const long long c = blockIdx.x;
    const float scale = scales[segs[c]];
    for (long long i = starts[c] + threadIdx.x; i < stops[c]; i += blockDim.x) {
        float gi = clipped_grad(g[i], scale, clip);
        float pi = p[i];
        if (param_decay != 1.0f) pi = pi * param_decay;
        if (weight_decay != 0.0f) gi = gi + weight_decay * pi;
        float m = exp_avg[i];
        m = m + one_minus_beta1 * (gi - m);
        exp_avg[i] = m;
        const float v = exp_avg_sq[i] * beta2 + one_minus_beta2 * gi * gi;
        exp_avg_sq[i] = v;
        const float denom = sqrtf(v / bias_correction2) + eps;
        pi = pi - grad_step * gi / denom;
        p[i] = pi - avg_step * m / denom;
    }
}

extern "C" __global__ void radam(float* p, const float* g, float* exp_avg, float* exp_avg_sq,
                                 const long long* starts, const long long* stops, const long long* segs,
                                 const float* scales, float clip, float one_minus_beta1, float beta2,
                                 float one_minus_beta2, float bias_correction1, float lr,
                                 float bias_correction2_sqrt, float eps, float rect, float weight_decay,
                                 float param_decay, int rectified) {
    const long long c = blockIdx.x;
    const float scale = scales[segs[c]];
    for (long long i = starts[c] + threadIdx.x; i < stops[c]; i += blockDim.x) {
        float gi = clipped_grad(g[i], scale, clip);
        float pi = p[i];
        if (param_decay != 1.0f) pi = pi * param_decay;
        if (weight_decay != 0.0f) gi = gi + weight_decay * pi;
        float m = exp_avg[i];
        m = m + one_minus_beta1 * (gi - m);
        exp_avg[i] = m;
        const float v = exp_avg_sq[i] * beta2 + one_minus_beta2 * gi * gi;
        exp_avg_sq[i] = v;
        float step = m / bias_correction1 * lr;
        if (rectified) step = step * (1.0f / (sqrtf(v) + eps) * bias_correction2_sqrt) * rect;
        p[i] = pi - step;
    }
}

extern "C" __global__ void adamax(float* p, const float* g, float* exp_avg, float* exp_inf, const long long* starts,
                                  const long long* stops, const long long* segs, const float* scales, float clip,
                                  float one_minus_beta1, float beta2, float eps, float weight_decay, float clr) {
    const long long c = blockIdx.x;
    const float scale = scales[segs[c]];
    for (long long i = starts[c] + threadIdx.x; i < stops[c]; i += blockDim.x) {
        float gi = clipped_grad(g[i], scale, clip);
        if (weight_decay != 0.0f) gi = gi + weight_decay * p[i];
        float m = exp_avg[i];
        m = m + one_minus_beta1 * (gi - m);
        exp_avg[i] = m;
        float u = exp_inf[i] * beta2;
        const float a = fabsf(gi) + eps;
        if (a > u) u = a;
        exp_inf[i] = u;
        p[i] = p[i] - clr * m / u;
    }
}

extern "C" __global__ void adadelta(float* p, const float* g, float* square_avg, float* acc_delta,
                                    const long long* starts, const long long* stops, const long long* segs,
                                    const float* scales, float clip, float lr, float rho, float one_minus_rho,
                                    float eps, float weight_decay) {
    const long long c = blockIdx.x;
    const float scale = scales[segs[c]];
    for (long long i = starts[c] + threadIdx.x; i < stops[c]; i += blockDim.x) {
        float gi = clipped_grad(g[i], scale, clip);
        if (weight_decay != 0.0f) gi = gi + weight_decay * p[i];
        const float sq = square_avg[i] * rho + one_minus_rho * gi * gi;
        square_avg[i] = sq;
        const float acc = acc_delta[i];
        const float delta = sqrtf(acc + eps) / sqrtf(sq + eps) * gi;
        acc_delta[i] = acc * rho + one_minus_rho * delta * delta;
        p[i] = p[i] - lr * delta;
    }
}

// sign() as NumPy's: +-1, and zero (or NaN) passed through.
extern "C" __global__ void lion(float* p, const float* g, float* exp_avg, const long long* starts,
                                const long long* stops, const long long* segs, const float* scales, float clip,
                                float lr, float one_minus_b1, float b1, float one_minus_b2, float b2,
                                float weight_decay) {
    const long long c = blockIdx.x;
    const float scale = scales[segs[c]];
    for (long long i = starts[c] + threadIdx.x; i < stops[c]; i += blockDim.x) {
        const float gi = clipped_grad(g[i], scale, clip);
        const float m = exp_avg[i];
        const float x = one_minus_b1 * gi + b1 * m;
        float update = x > 0.0f ? 1.0f : (x < 0.0f ? -1.0f : x);
        exp_avg[i] = one_minus_b2 * gi + b2 * m;
        const float pi = p[i];
        if (weight_decay != 0.0f) update = update + weight_decay * pi;
        p[i] = pi - lr * update;
    }
}

// LAMB's unscaled update of one element from its new moments (both passes compute it). The
// decayed weight is added at weight_decay 0 too, as optax and the CPU kernel add it.
__device__ __forceinline__ float lamb_update(float m, float v, float pi, float bias_correction1,
                                             float bias_correction2, float eps, float weight_decay) {
    return (m / bias_correction1) / (sqrtf(v / bias_correction2) + eps) + weight_decay * pi;
}

// LAMB, pass 1 of 2: the moments, and each segment's (each tensor's: its steps cut runs per
// tensor) sums of p^2 and u^2 in double, added to sums[2 seg] and sums[2 seg + 1] as
// segment_sumsq adds (sums zeroed by the caller). The trust ratio needs both whole sums
// before any element moves, so the step is a second launch.
extern "C" __global__ void lamb(float* p, const float* g, float* exp_avg, float* exp_avg_sq, const long long* starts,
                                const long long* stops, const long long* segs, const float* scales, float clip,
                                float one_minus_b1, float b1, float one_minus_b2, float b2, float bias_correction1,
                                float bias_correction2, float eps, float weight_decay, double* sums) {
    __shared__ double partial_p[LRCTL_MAX_THREADS];
    __shared__ double partial_u[LRCTL_MAX_THREADS];
    const long long c = blockIdx.x;
    const float scale = scales[segs[c]];
    double sp = 0.0, su = 0.0;
    for (long long i = starts[c] + threadIdx.x; i < stops[c]; i += blockDim.x) {
        const float gi = clipped_grad(g[i], scale, clip);
        const float m = one_minus_b1 * gi + b1 * exp_avg[i];
        const float v = one_minus_b2 * (gi * gi) + b2 * exp_avg_sq[i];
        exp_avg[i] = m;
        exp_avg_sq[i] = v;
        const double pi = p[i];
        const double u = lamb_update(m, v, p[i], bias_correction1, bias_correction2, eps, weight_decay);
        sp += pi * pi;
        su += u * u;
    }
    const double param_sq = block_sum(partial_p, sp), update_sq = block_sum(partial_u, su);
    if (threadIdx.x == 0) {
        atomicAdd(&sums[2 * segs[c]], param_sq);
        atomicAdd(&sums[2 * segs[c] + 1], update_sq);
    }
}

// LAMB, pass 2 of 2: u recomputed from the stored moments, times the segment's trust ratio
// ||p|| / ||u|| (each norm rounded to float32; 1 where either is zero). `scales` is unused:
// the gradient was read in pass 1.
extern "C" __global__ void lamb_apply(float* p, const float* exp_avg, const float* exp_avg_sq,
                                      const long long* starts, const long long* stops, const long long* segs,
                                      const float* scales, float bias_correction1, float bias_correction2, float eps,
                                      float weight_decay, float lr, const double* sums) {
    (void)scales;
    const long long c = blockIdx.x, seg = segs[c];
    const float param_norm = (float)sqrt(sums[2 * seg]), update_norm = (float)sqrt(sums[2 * seg + 1]);
    const float ratio = param_norm != 0.0f && update_norm != 0.0f ? param_norm / update_norm : 1.0f;
    for (long long i = starts[c] + threadIdx.x; i < stops[c]; i += blockDim.x) {
        const float pi = p[i];
        const float u = lamb_update(exp_avg[i], exp_avg_sq[i], pi, bias_correction1, bias_correction2, eps,
                                    weight_decay);
        p[i] = pi - lr * (u * ratio);
    }
}
